// `system df -v` with real images, containers and volumes: two images where one is the
// other plus a layer (made by umoci), so the shared and unique sizes are known; the numbers
// agree with `images` and `ps -s`, and the tables are podman's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** oci-archives of localhost/df:base (busybox) and localhost/df:more (base + a 200 kB layer). */
function layeredArchives(dir: string): { base: string; more: string } {
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const layout = join(dir, 'layout');
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:base`]);
  run('umoci', ['unpack', '--image', `${layout}:base`, join(dir, 'b1')]);
  mkdirSync(join(dir, 'b1', 'rootfs', 'bin'));
  copyFileSync('/bin/busybox', join(dir, 'b1', 'rootfs', 'bin', 'busybox'));
  run('umoci', ['repack', '--image', `${layout}:base`, join(dir, 'b1')]);
  run('umoci', ['unpack', '--image', `${layout}:base`, join(dir, 'b2')]);
  writeFileSync(join(dir, 'b2', 'rootfs', 'extra'), Buffer.alloc(200_000, 7));
  run('umoci', ['repack', '--image', `${layout}:more`, join(dir, 'b2')]);
  const base = join(dir, 'base.tar');
  const more = join(dir, 'more.tar');
  run('skopeo', ['copy', '-q', `oci:${layout}:base`, `oci-archive:${base}:localhost/df:base`]);
  run('skopeo', ['copy', '-q', `oci:${layout}:more`, `oci-archive:${more}:localhost/df:more`]);
  return { base, more };
}

interface Detail {
  Images: { Repository: string; Tag: string; ImageID: string; Size: number; SharedSize: number; UniqueSize: number; Containers: number }[];
  Containers: { ContainerID: string; Image: string; Command: string; LocalVolumes: number; Size: number; Status: string; Names: string }[];
  Volumes: { VolumeName: string; Links: number; Size: number }[];
}

test('system df -v: per image shared and unique sizes, per container and per volume, as images and ps -s count them', async (t) => {
  const inst = await newInstance(t);
  const dir = join(inst.base, 'images');
  mkdirSync(dir);
  const archives = layeredArchives(dir);
  await ok(inst, ['load', '-i', archives.base]);
  await ok(inst, ['load', '-i', archives.more]);
  await ok(inst, ['volume', 'create', 'data']);
  await ok(inst, ['run', '-d', '--network', 'none', '--name', 'writer', '-v', 'data:/data', 'localhost/df:more', '/bin/busybox', 'sh', '-c',
    '/bin/busybox dd if=/dev/zero of=/written bs=1k count=300 2>/dev/null; /bin/busybox dd if=/dev/zero of=/data/v bs=1k count=50 2>/dev/null; touch /ready; exec /bin/busybox sleep 600']);
  await ok(inst, ['create', '--network', 'none', '--name', 'idle', 'localhost/df:base', '/bin/busybox', 'true']);
  for (const deadline = Date.now() + 10_000; (await inst.run(['exec', 'writer', '/bin/busybox', 'test', '-e', '/ready'])).code !== 0; ) {
    assert.ok(Date.now() < deadline, 'the writer never finished');
    await new Promise((r) => setTimeout(r, 100));
  }

  const d = JSON.parse(await ok(inst, ['system', 'df', '-v', '--format', 'json'])) as Detail;
  const listed = JSON.parse(await ok(inst, ['images', '--format', 'json'])) as { Id: string; Names: string[]; Size: number }[];
  const sizeOf = (name: string) => listed.find((i) => i.Names.includes(name))!.Size;
  const row = (tag: string) => d.Images.find((i) => i.Repository === 'localhost/df' && i.Tag === tag)!;
  const [base, more] = [row('base'), row('more')];
  assert.equal(base.Size, sizeOf('localhost/df:base'));
  assert.equal(more.Size, sizeOf('localhost/df:more'));
  // base is all shared (more has its layer too); more adds its own 200 kB layer.
  assert.deepEqual([base.SharedSize, base.UniqueSize], [base.Size, 0]);
  assert.equal(more.SharedSize, base.Size);
  assert.equal(more.UniqueSize, more.Size - base.Size);
  assert.ok(more.UniqueSize >= 200_000 && more.UniqueSize < 210_000, `unique ${more.UniqueSize}`);
  assert.deepEqual([base.Containers, more.Containers], [1, 1]);

  const writer = d.Containers.find((c) => c.Names === 'writer')!;
  assert.ok(writer.Size >= 300 * 1024 && writer.Size < 320 * 1024, `writer ${writer.Size}`);
  assert.deepEqual([writer.LocalVolumes, writer.Status, writer.Image], [1, 'running', more.ImageID]);
  assert.match(writer.Command, /^\/bin\/busybox sh -c /);
  assert.deepEqual([d.Containers.find((c) => c.Names === 'idle')!.Status, d.Containers.find((c) => c.Names === 'idle')!.Size], ['created', 0]);
  assert.equal(d.Volumes.length, 1);
  const vol = d.Volumes[0]!;
  assert.deepEqual([vol.VolumeName, vol.Links], ['data', 1]);
  assert.ok(vol.Size >= 50 * 1024 && vol.Size < 60 * 1024, `volume ${vol.Size}`);

  // ps -s counts the same bytes: the writable layer, and with the image the virtual size.
  const human = (n: number) => {
    const units = ['B', 'kB', 'MB', 'GB'];
    let i = 0;
    for (; n >= 1000 && i < units.length - 1; i++) n /= 1000;
    return `${i === 0 ? n : Number(n.toPrecision(3))}${units[i]}`;
  };
  const ps = await ok(inst, ['ps', '-a', '-s', '--format', '{{.Names}} {{.Size}}']);
  assert.match(ps, new RegExp(`^writer ${human(writer.Size)} \\(virtual ${human(writer.Size + more.Size)}\\)$`, 'm'));
  assert.match(ps, new RegExp(`^idle 0B \\(virtual ${human(base.Size)}\\)$`, 'm'));
  assert.match(await ok(inst, ['ps', '-s']), /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES +SIZE\n/);

  // The tables, as podman lays them out.
  const text = await ok(inst, ['system', 'df', '-v']);
  const sections = text.split(/\n(?=Containers space usage:|Local Volumes space usage:)/);
  assert.equal(sections.length, 3, text);
  assert.match(sections[0]!, /^Images space usage:\n\nREPOSITORY +TAG +IMAGE ID +CREATED +SIZE +SHARED SIZE +UNIQUE SIZE +CONTAINERS\n/);
  assert.match(sections[0]!, new RegExp(`^localhost/df +more +${more.ImageID} +\\S.* +${human(more.Size)} +${human(more.SharedSize)} +${human(more.UniqueSize)} +1$`, 'm'));
  assert.match(sections[1]!, /^Containers space usage:\n\nCONTAINER ID +IMAGE +COMMAND +LOCAL VOLUMES +SIZE +CREATED +STATUS +NAMES\n/);
  assert.match(sections[1]!, new RegExp(`^${writer.ContainerID} +${more.ImageID} +/bin/busybox sh -c .* +1 +${human(writer.Size)} +\\S.* +running +writer$`, 'm'));
  assert.match(sections[2]!, new RegExp(`^Local Volumes space usage:\n\nVOLUME NAME +LINKS +SIZE\ndata +1 +${human(vol.Size)}\n$`));
  assert.equal(await ok(inst, ['system', 'df', '-v', '--format', '{{range .Volumes}}{{.VolumeName}}={{.Links}}{{end}}']), 'data=1\n');

  await ok(inst, ['rm', '-f', 'writer', 'idle']);
});
