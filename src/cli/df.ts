// `system df -v`: podman's verbose layout, one table per kind, with each image's size split
// into what it shares with other images (layers more than one image has) and its own.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../engine/index.js';
import type { Container } from '../container/index.js';
import { splitName } from '../image/reference.js';
import { created } from './image-views.js';
import { humanDuration, humanSize, renderAll, shortId, table } from './format.js';
import { writeOut } from './stdout.js';

/** Bytes of the files under dir (not following links; directories themselves count 0). */
export function treeSize(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    const p = join(dir, n);
    try {
      const st = lstatSync(p);
      total += st.isDirectory() ? treeSize(p) : st.size;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** What `df -v` reports, in bytes (the JSON and templates see this; the tables print it). */
export interface DiskUsageDetail {
  Images: { Repository: string; Tag: string; ImageID: string; Created: number; Size: number; SharedSize: number; UniqueSize: number; Containers: number }[];
  Containers: { ContainerID: string; Image: string; Command: string; LocalVolumes: number; Size: number; Created: number; Status: string; Names: string }[];
  Volumes: { VolumeName: string; Links: number; Size: number }[];
}

export async function diskUsageDetail(ctx: Engine, status: (c: Container) => string): Promise<DiskUsageDetail> {
  const [images, snapshots, manager, volumes] = await Promise.all([ctx.images(), ctx.snapshots(), ctx.containers(), ctx.volumes()]);
  const containers = await manager.list({ all: true });
  const all = images.list();
  const layerSize = new Map(snapshots.list().map((s) => [s.chainId, s.size]));
  // A layer is shared when more than one image has it.
  const holders = new Map<string, number>();
  for (const img of all) for (const chainId of new Set(img.layers.map((l) => l.chainId))) holders.set(chainId, (holders.get(chainId) ?? 0) + 1);
  const Images = all.flatMap((img) => {
    const shared = [...new Set(img.layers.map((l) => l.chainId))].filter((c) => (holders.get(c) ?? 0) > 1).reduce((n, c) => n + (layerSize.get(c) ?? 0), 0);
    const row = {
      ImageID: shortId(img.id),
      Created: created(img),
      Size: img.size,
      SharedSize: Math.min(shared, img.size),
      UniqueSize: Math.max(0, img.size - shared),
      Containers: containers.filter((c) => c.imageId === img.id).length,
    };
    const names = img.names.length ? img.names.map(splitName) : [{ repository: '<none>', tag: '<none>' }];
    return names.map((n) => ({ Repository: n.repository, Tag: n.tag, ...row }));
  });
  const Containers = containers.map((c) => ({
    ContainerID: shortId(c.id),
    Image: c.imageId ? shortId(c.imageId) : c.config.image,
    Command: (c.config.args ?? []).join(' '),
    LocalVolumes: (c.config.mounts ?? []).filter((m) => m.type === 'volume').length,
    Size: treeSize(join(manager.paths(c).dir, 'upper')),
    Created: c.createdAt,
    Status: status(c),
    Names: c.name,
  }));
  const Volumes = await Promise.all(
    (await volumes.list()).map(async (v) => ({ VolumeName: v.name, Links: (await volumes.usersOf(v.name)).length, Size: treeSize(volumes.mountpoint(v.name)) })),
  );
  return { Images, Containers, Volumes };
}

export async function printDiskUsageDetail(d: DiskUsageDetail, format: string | undefined): Promise<void> {
  if (format === 'json') return void writeOut(JSON.stringify(d, null, 4) + '\n');
  if (format) return void writeOut(await renderAll(format, [d], 'disk usage'));
  const since = (ms: number) => humanDuration(Math.max(0, Date.now() - ms));
  writeOut(
    [
      'Images space usage:\n',
      table(
        ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'],
        d.Images.map((i) => [i.Repository, i.Tag, i.ImageID, since(i.Created), humanSize(i.Size), humanSize(i.SharedSize), humanSize(i.UniqueSize), String(i.Containers)]),
      ),
      'Containers space usage:\n',
      table(
        ['CONTAINER ID', 'IMAGE', 'COMMAND', 'LOCAL VOLUMES', 'SIZE', 'CREATED', 'STATUS', 'NAMES'],
        d.Containers.map((c) => [c.ContainerID, c.Image, c.Command, String(c.LocalVolumes), humanSize(c.Size), since(c.Created), c.Status, c.Names]),
      ),
      'Local Volumes space usage:\n',
      table(['VOLUME NAME', 'LINKS', 'SIZE'], d.Volumes.map((v) => [v.VolumeName, String(v.Links), humanSize(v.Size)])),
    ].join('\n'),
  );
}
