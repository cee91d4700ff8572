// /proc/self/mountinfo (proc(5)): one line per mount,
//   id parent major:minor root mount-point options [optional fields…] - fstype source super-options
// with space, tab, newline and backslash in paths written as octal escapes (\040 …).
import { readFile } from 'node:fs/promises';

export interface MountInfo {
  id: number;
  parentId: number;
  /** The mounted directory inside its filesystem (not the same as mountPoint for binds). */
  root: string;
  mountPoint: string;
  options: string[];
  /** Tagged fields such as "shared:1", "master:2", "unbindable". */
  optional: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

/** Undoes the kernel's octal escapes (\ooo). */
export function unescapeMountInfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses mountinfo text; malformed lines are skipped. */
export function parseMountInfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 3) continue;
    mounts.push({
      id: Number(f[0]),
      parentId: Number(f[1]),
      root: unescapeMountInfo(f[3]),
      mountPoint: unescapeMountInfo(f[4]),
      options: f[5].split(','),
      optional: f.slice(6, sep),
      fsType: f[sep + 1],
      source: unescapeMountInfo(f[sep + 2]),
      superOptions: (f[sep + 3] ?? '').split(','),
    });
  }
  return mounts;
}

/** This process's mounts, in mount order. */
export async function readMountInfo(): Promise<MountInfo[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** True when path (absolute, symlinks resolved) is a mount point. */
export async function isMountPoint(path: string): Promise<boolean> {
  return (await readMountInfo()).some((m) => m.mountPoint === path);
}

/** The mount that holds path: the last-mounted one with the longest matching mount point. */
function mountHolding(mounts: MountInfo[], path: string): MountInfo | undefined {
  let best: MountInfo | undefined;
  for (const m of mounts) {
    const p = m.mountPoint;
    if (!(path === p || path.startsWith(p === '/' ? '/' : p + '/'))) continue;
    if (!best || p.length >= best.mountPoint.length) best = m;
  }
  return best;
}

/** Whether the mount holding path propagates mounts to peers (mountinfo's "shared:N"). */
export async function onSharedMount(path: string): Promise<boolean> {
  return mountHolding(await readMountInfo(), path)?.optional.some((o) => o.startsWith('shared:')) ?? false;
}

/** The propagation of the mount holding path: 'shared' (also when a slave too), 'slave' or 'private'. */
export async function mountPropagation(path: string): Promise<'shared' | 'slave' | 'private'> {
  const opt = mountHolding(await readMountInfo(), path)?.optional ?? [];
  return opt.some((o) => o.startsWith('shared:')) ? 'shared' : opt.some((o) => o.startsWith('master:')) ? 'slave' : 'private';
}
