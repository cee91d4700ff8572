// Small file helpers shared by the network modules.
import { open, rename, rm } from 'node:fs/promises';

/**
 * Writes a file so that a crash of berth leaves either the old or the new content (temp,
 * rename). Not fsynced, like libcni's cache: what these files describe (netns, veths,
 * per-container resolv.conf) does not outlive a reboot either, and an fsync per record
 * was the largest part of a container's network setup time.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
