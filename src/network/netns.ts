// Named network namespaces: a new netns kept alive by a bind mount on a file under berth's
// run dir (<runRoot>/netns/<id>), as `ip netns add` does under /run/netns. util-linux's
// `unshare --net=FILE` makes and pins it in one short process (a few ms).
import { execFile } from 'node:child_process';
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BerthError, alreadyExists, fromSystemError, invalidArgument } from '../errors/index.js';
import { MNT_DETACH, MS_BIND, MS_PRIVATE, isMountPoint, mount, unmount } from '../sys/index.js';

const execFileP = promisify(execFile);
const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function nsPath(dir: string, id: string): string {
  if (!ID_RE.test(id)) throw invalidArgument(`invalid network namespace name: ${id}`);
  return join(dir, id);
}

/** Creates the netns `id` under dir and returns its path. */
export async function createNetns(dir: string, id: string): Promise<string> {
  const path = nsPath(dir, id);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  try {
    const fh = await open(path, 'wx', 0o444);
    await fh.close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`network namespace ${path} already exists`);
    throw fromSystemError(e, path);
  }
  try {
    await pin(path);
  } catch (e) {
    if (!/propagation/.test((e as Error).message)) {
      await rm(path, { force: true });
      throw e;
    }
    // The mount holding dir is shared: a bind there would propagate to peers and keep the
    // namespace alive elsewhere. Make dir a private mount of its own, as iproute2 does.
    try {
      await privatize(dir);
      await pin(path);
    } catch (e2) {
      await rm(path, { force: true });
      throw e2;
    }
  }
  return path;
}

async function pin(path: string): Promise<void> {
  try {
    await execFileP('unshare', [`--net=${path}`, 'true']);
  } catch (e) {
    const msg = ((e as { stderr?: string }).stderr ?? (e as Error).message).trim();
    throw new BerthError('Internal', `cannot create network namespace ${path}: ${msg}`);
  }
}

async function privatize(dir: string): Promise<void> {
  if (!(await isMountPoint(dir))) mount(dir, dir, null, MS_BIND);
  mount(null, dir, null, MS_PRIVATE);
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
    return (await readdir(dir)).filter((n) => ID_RE.test(n) && !n.includes('.tmp-')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromSystemError(e, dir);
  }
}

export function netnsPath(dir: string, id: string): string {
  return nsPath(dir, id);
}
