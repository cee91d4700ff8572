// A container's files from the host: its filesystem as a RootView for cp, its flattened
// rootfs for export, its upper dir as a new image layer for commit. A running container is
// seen through its process (/proc/PID/root: every mount it has); any other one through its
// overlay rootfs, mounted for the duration when it is not, with its volumes and binds mapped
// onto their sources.
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { applyChanges, type CommitFormat, type ContainerDefaults, type Image } from '../image/index.js';
import { resolveUser } from '../oci/index.js';
import { failedPrecondition } from '../errors/index.js';
import { packTree, RootView, TarWriter, type ViewMount } from '../snapshot/index.js';
import { isMountPoint } from '../sys/index.js';
import { containerPaths, type Parts } from './parts.js';
import type { Container } from './types.js';

export interface ContainerFiles {
  view: RootView;
  /**
   * The container's user (its own, else its image's) as uid and primary gid, looked up in
   * its /etc/passwd and /etc/group: who owns what is copied in without --archive.
   * Undefined when it has none (root).
   */
  userOwner(): Promise<{ uid: number; gid: number } | undefined>;
  /** Unmounts what opening mounted. */
  close(): void;
}

async function userOwner(parts: Parts, c: Container, root: string): Promise<{ uid: number; gid: number } | undefined> {
  let user = c.config.security?.user;
  if (user === undefined) {
    try {
      user = (await parts.images()).resolve(c.imageId ?? c.config.image).config.config?.User;
    } catch {
      // The image is gone: only the container's own user is known.
    }
  }
  if (!user) return undefined;
  const { uid, gid } = await resolveUser(root, user);
  return { uid, gid };
}

/** The container's rootfs mounted (mounting it when it is not); close() unmounts only what this mounted. */
async function mountedRootfs(parts: Parts, c: Container): Promise<{ rootfs: string; close(): void }> {
  if (c.state === 'creating' || c.state === 'removing') throw failedPrecondition(`container ${c.name} is ${c.state}`);
  const { dir, rootfs } = containerPaths(parts, c);
  if (existsSync(rootfs) && (await isMountPoint(realpathSync(rootfs)))) return { rootfs, close() {} };
  const images = await parts.images();
  const snapshots = await parts.snapshots();
  await snapshots.mountRootfs(images.topChainId(images.resolve(c.imageId ?? c.config.image)), dir);
  return { rootfs, close: () => snapshots.unmountRootfs(dir) };
}

export async function openContainerFiles(parts: Parts, c: Container): Promise<ContainerFiles> {
  if (c.state === 'running' && c.pid && existsSync(`/proc/${c.pid}/root`)) {
    // The trailing slash: the view's root is the directory the magic link leads to, not the link.
    const root = `/proc/${c.pid}/root/`;
    return { view: new RootView(root), userOwner: () => userOwner(parts, c, root), close() {} };
  }
  const { rootfs, close } = await mountedRootfs(parts, c);
  const mounts: ViewMount[] = [];
  for (const m of c.config.mounts ?? []) {
    if (m.type === 'bind') mounts.push({ destination: m.destination, source: m.source });
    else if (m.type === 'volume' && m.name) mounts.push({ destination: m.destination, source: (await parts.volumes()).mountpoint(m.name) });
  }
  return { view: new RootView(rootfs, mounts), userOwner: () => userOwner(parts, c, rootfs), close };
}

/** Writes the container's flattened filesystem (its rootfs, without volumes) as a tar. */
export async function exportRootfs(parts: Parts, c: Container, out: Writable): Promise<void> {
  const { rootfs, close } = await mountedRootfs(parts, c);
  try {
    const tar = new TarWriter(out);
    await packTree(rootfs, '', tar);
    await tar.finish();
  } finally {
    close();
  }
}

/** The container's upper dir as an OCI layer tar (deletions as whiteouts). */
export function upperLayer(parts: Parts, c: Container): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const tar = new TarWriter(out);
  packTree(join(containerPaths(parts, c).dir, 'upper'), '', tar, { layer: true })
    .then(() => tar.finish({ end: true }))
    .catch((e: Error) => out.destroy(e));
  return out;
}

/** The runtime defaults the container runs with: its image's, with what it was created with on top. */
export function runDefaults(c: Container, image: Image): ContainerDefaults {
  const img = image.config.config ?? {};
  const cfg = c.config;
  const env = [...(img.Env ?? [])];
  for (const e of cfg.env ?? []) {
    const key = e.split('=')[0];
    const i = env.findIndex((x) => x.split('=')[0] === key);
    if (i >= 0) env[i] = e;
    else env.push(e);
  }
  const noEntrypoint = cfg.entrypoint !== undefined && cfg.entrypoint.every((a) => a === '');
  const ports = { ...(img.ExposedPorts ?? {}) };
  for (const p of cfg.network?.ports ?? []) ports[`${p.containerPort}/${p.protocol}`] = {};
  const out: ContainerDefaults = {
    ...img,
    Env: env,
    Cmd: cfg.command ?? (cfg.entrypoint !== undefined ? null : img.Cmd ?? null),
    Entrypoint: noEntrypoint ? null : cfg.entrypoint ?? img.Entrypoint ?? null,
  };
  const workdir = cfg.workdir ?? img.WorkingDir;
  const user = cfg.security?.user ?? img.User;
  const stopSignal = cfg.stopSignal ?? img.StopSignal;
  if (workdir) out.WorkingDir = workdir;
  if (user) out.User = user;
  if (stopSignal) out.StopSignal = stopSignal;
  if (Object.keys(ports).length) out.ExposedPorts = ports;
  const labels = { ...(img.Labels ?? {}), ...(cfg.labels ?? {}) };
  if (Object.keys(labels).length) out.Labels = labels;
  return out;
}

/** commit: the container's image plus its upper dir as one more layer, its defaults with changes on top. */
export async function commitContainer(parts: Parts, c: Container, opts: { name?: string; changes?: string[]; message?: string; author?: string; format?: CommitFormat }): Promise<Image> {
  const images = await parts.images();
  const base = images.resolve(c.imageId ?? c.config.image);
  // ONBUILD means something only to a build, which berth does not do (podman ignores it too).
  const changes = (opts.changes ?? []).filter((ch) => !/^\s*onbuild\b/i.test(ch));
  const defaults = applyChanges(runDefaults(c, base), changes);
  const createdBy = `/bin/sh -c #(nop) berth commit ${c.id.slice(0, 12)}`;
  return images.commit(base, upperLayer(parts, c), opts.name, { defaults, format: opts.format, message: opts.message, author: opts.author, createdBy });
}
