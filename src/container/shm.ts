// The /dev/shm of a container whose IPC namespace others may join (--ipc shareable): a tmpfs
// mounted on the host in the container's dir and bound into it, so a container joining it
// (--ipc container:NAME) binds the same one. A mount inside another container's mount
// namespace cannot be bound (the kernel refuses mounts across namespaces).
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_SHM_SIZE } from '../oci/index.js';
import { MNT_DETACH, mount, unmount } from '../sys/index.js';

const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;

/** Where a container's shareable /dev/shm is mounted on the host. */
export function shareableShmPath(containerDir: string): string {
  return join(containerDir, 'shm');
}

/** Mounts the container's shareable /dev/shm (once: a restart finds it mounted); returns its path. */
export function mountShareableShm(containerDir: string, size = DEFAULT_SHM_SIZE): string {
  const path = shareableShmPath(containerDir);
  mkdirSync(path, { recursive: true, mode: 0o1777 });
  // Mounted already when its device differs from its parent's.
  if (statSync(path).dev === statSync(dirname(path)).dev) mount('shm', path, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, `mode=1777,size=${size}`);
  return path;
}

/** Unmounts it (detached: a container that joined it keeps its own reference); none mounted is fine. */
export function unmountShareableShm(containerDir: string): void {
  unmount(shareableShmPath(containerDir), MNT_DETACH);
}
