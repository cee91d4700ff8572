// Crash-safe file replacement: write a temp file beside the target, fsync, rename. A
// reader (or a crash) sees the old content or the new, never a part. The temp name is
// unique per call, so concurrent writers of one file never share a temp file.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644). */
  mode?: number;
  /**
   * fsync before the rename (default true). Off for files that do not outlive a reboot
   * anyway (netns, veths, per-container resolv.conf): the rename alone keeps them whole
   * against a crash of berth, and an fsync per file is slow on some disks.
   */
  fsync?: boolean;
}

let counter = 0;

/** A fresh name beside path, hidden and recognisable as a temp file: .NAME.tmp-PID-N-RAND. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`);
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, o: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    const fh = await open(tmp, 'wx', o.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      if (o.fsync !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export function writeFileAtomicSync(path: string, data: string | Uint8Array, o: AtomicWriteOptions = {}): void {
  const tmp = tempPathFor(path);
  try {
    const fd = openSync(tmp, 'wx', o.mode ?? 0o644);
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
      if (o.fsync !== false) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * mkdir -p, bounded: node's recursive mkdir loops forever where mkdir says ENOENT under a
 * parent that exists (/proc/foo). Here that is an error naming the path.
 */
export function makeDirsSync(path: string, mode = 0o755): void {
  const missing: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    try {
      if (!statSync(p).isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR', path: p });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw e;
      missing.push(p);
    }
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}
