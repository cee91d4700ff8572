// Device nodes and fifos from tar entries, for layer extraction and `cp` into a container.
import { mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../sys/index.js';
import type { TarEntry } from './tar.js';

const FILE_TYPE = { char: S_IFCHR, block: S_IFBLK, fifo: S_IFIFO } as const;

/** Makes the char/block device or fifo entry at path (a fifo has no device numbers). */
export function makeSpecialFile(path: string, entry: Pick<TarEntry, 'type' | 'mode' | 'devmajor' | 'devminor'>): void {
  const type = entry.type as keyof typeof FILE_TYPE;
  const fifo = type === 'fifo';
  mknod(path, FILE_TYPE[type] | (entry.mode & 0o7777), fifo ? 0 : entry.devmajor, fifo ? 0 : entry.devminor);
}
