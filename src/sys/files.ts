// Crash-safe file replacement: write a temp file beside the target, fsync, rename. A
// reader (or a crash) sees the old content or the new, never a part. The temp name is
// unique per call, so concurrent writers of one file never share a temp file.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
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
