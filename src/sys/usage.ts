// What a directory tree holds on disk, the way du counts it: allocated blocks, and each
// inode once (hard links inside the tree are not counted twice).
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeUsage {
  bytes: number;
  inodes: number;
}

/** Usage of the trees under dirs (absent dirs count nothing). Stops with the signal's reason. */
export async function treeUsage(dirs: string[], signal?: AbortSignal): Promise<TreeUsage> {
  const seen = new Set<string>();
  const usage: TreeUsage = { bytes: 0, inodes: 0 };
  const visit = async (path: string): Promise<void> => {
    signal?.throwIfAborted();
    let st;
    try {
      st = await lstat(path, { bigint: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // removed while walking
      throw e;
    }
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      usage.inodes++;
      usage.bytes += Number(st.blocks) * 512;
    }
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = await readdir(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const n of names) await visit(join(path, n));
  };
  for (const d of dirs) await visit(d);
  return usage;
}
