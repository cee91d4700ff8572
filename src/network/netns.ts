// Named network namespaces: a new netns kept alive by a bind mount on a file under berth's
// run dir (<runRoot>/netns/<id>), as `ip netns add` does under /run/netns. The sys addon
// makes it (with lo up) on a short-lived thread: no process to start, no loopback plugin.
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isValidName } from '../config/index.js';
import { alreadyExists, fromSystemError, invalidArgument, BerthError } from '../errors/index.js';
import { MNT_DETACH, MS_BIND, MS_PRIVATE, createPinnedNetns, isMountPoint, mount, onSharedMount, unmount } from '../sys/index.js';

function nsPath(dir: string, id: string): string {
  if (!isValidName(id)) throw invalidArgument(`invalid network namespace name: ${id}`);
  return join(dir, id);
}

/** Creates the netns `id` (lo up) under dir and returns its path. */
export async function createNetns(dir: string, id: string): Promise<string> {
  const path = nsPath(dir, id);
  // A bind mount in a shared mount would propagate to its peers and keep the namespace
  // alive there: then dir becomes a private mount of its own, as iproute2 does with
  // /run/netns, by whoever creates it (mkdir is atomic: concurrent callers do not stack).
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  try {
    await mkdir(dir, { mode: 0o755 });
    if ((await onSharedMount(dir)) && !(await isMountPoint(dir))) {
      mount(dir, dir, null, MS_BIND);
      mount(null, dir, null, MS_PRIVATE);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(e, dir);
  }
  try {
    const fh = await open(path, 'wx', 0o444);
    await fh.close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`network namespace ${path} already exists`);
    throw fromSystemError(e, path);
  }
  try {
    await createPinnedNetns(path);
  } catch (e) {
    await rm(path, { force: true });
    throw new BerthError('Internal', `cannot create network namespace ${path}: ${(e as Error).message}`);
  }
  return path;
}

/** Unmounts and removes the netns file; a missing one is not an error. */
export async function removeNetns(path: string): Promise<void> {
  try {
    unmount(path, MNT_DETACH);
  } catch (e) {
    throw fromSystemError(e, `unmount ${path}`);
  }
  await rm(path, { force: true });
}

/** Names of the namespaces under dir. */
export async function listNetns(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter(isValidName).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromSystemError(e, dir);
  }
}

export function netnsPath(dir: string, id: string): string {
  return nsPath(dir, id);
}
