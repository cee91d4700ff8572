// Resolves a path inside a container rootfs the way the container would see it: symlinks
// (absolute or relative) are followed relative to the rootfs, and `..` never climbs above
// it. Reading an image's /etc/passwd must not follow a link out onto the host's files.
import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument } from '../errors/index.js';

const MAX_LINKS = 40; // the kernel's own limit (MAXSYMLINKS)

/** Host path for `path` inside `rootfs`; components that do not exist are kept as they are. */
export async function resolveInRootfs(rootfs: string, path: string): Promise<string> {
  let pending = splitPath(path);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(rootfs, ...resolved, part);
    let target: string | undefined;
    try {
      target = await readlink(candidate);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
    }
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw invalidArgument(`${path}: too many levels of symbolic links in the image`);
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...splitPath(target), ...pending];
  }
  return join(rootfs, ...resolved);
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}
