// A directory tree seen the way a process chrooted into it sees it: paths are resolved
// component by component, symlinks (absolute or relative) are followed inside the root, `..`
// never climbs above it, and a path under a mount point (a volume or bind of a stopped
// container) lands in the mount's source. The host itself is the view rooted at /.
import { closeSync, constants, lstatSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { invalidArgument } from '../errors/index.js';

const MAX_LINKS = 40; // the kernel's MAXSYMLINKS
const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;

/**
 * An open directory. Paths under it go through /proc/self/fd/N, which leads to the directory
 * itself: nothing on the way to it can be swapped for a symlink after it was opened.
 */
export class PinnedDir {
  constructor(readonly fd: number) {}

  path(name?: string): string {
    return name === undefined ? `/proc/self/fd/${this.fd}` : `/proc/self/fd/${this.fd}/${name}`;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export interface ViewMount {
  /** Absolute path inside the view. */
  destination: string;
  /** Host directory (or file) mounted there. */
  source: string;
}

/** Clean components of a path: no '', '.'; '..' kept for the resolver. */
export function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

export class RootView {
  private readonly mounts: { parts: string[]; source: string }[];

  constructor(
    readonly root: string,
    mounts: ViewMount[] = [],
  ) {
    // Longest destination first: the innermost mount wins.
    this.mounts = mounts
      .map((m) => ({ parts: splitPath(posix.normalize(m.destination)).filter((s) => s !== '..'), source: m.source }))
      .sort((a, b) => b.parts.length - a.parts.length);
  }

  /** The host path of resolved components (no symlink in them is followed again). */
  hostPath(parts: string[]): string {
    for (const m of this.mounts) {
      if (m.parts.length <= parts.length && m.parts.every((p, i) => parts[i] === p)) return join(m.source, ...parts.slice(m.parts.length));
    }
    return join(this.root, ...parts);
  }

  /**
   * The resolved components of `path` (absolute in the view). Symlinks on the way are
   * followed inside the root; the last one only with followLast. Components that do not
   * exist are kept as written (the caller lstat()s the result).
   */
  resolve(path: string, followLast: boolean): string[] {
    const todo = splitPath(path).reverse(); // a stack: the next component at the end
    let resolved: string[] = [];
    let links = 0;
    while (todo.length) {
      const c = todo.pop()!;
      if (c === '..') {
        resolved.pop();
        continue;
      }
      const next = [...resolved, c];
      if (todo.length === 0 && !followLast) return next;
      let target: string | undefined;
      try {
        if (lstatSync(this.hostPath(next)).isSymbolicLink()) target = readlinkSync(this.hostPath(next));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      }
      if (target === undefined) {
        resolved = next;
        continue;
      }
      if (++links > MAX_LINKS) throw invalidArgument(`${path}: too many levels of symbolic links`);
      if (target.startsWith('/')) resolved = [];
      for (const t of splitPath(target).reverse()) todo.push(t);
    }
    return resolved;
  }

  /**
   * Opens resolved components as a directory, one component at a time and never through a
   * symlink: a path changed since resolve() (a container swapping a directory for a link)
   * fails here instead of leading out of the root.
   */
  openDir(parts: string[]): PinnedDir {
    let start = this.root;
    let rest = parts;
    for (const m of this.mounts) {
      if (m.parts.length <= parts.length && m.parts.every((p, i) => parts[i] === p)) {
        start = m.source;
        rest = parts.slice(m.parts.length);
        break;
      }
    }
    let fd = openSync(start, O_RDONLY | O_DIRECTORY);
    let at = '';
    try {
      for (const p of rest) {
        at = `/proc/self/fd/${fd}/${p}`;
        const next = openSync(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        closeSync(fd);
        fd = next;
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // O_DIRECTORY meets a link first: ENOTDIR (ELOOP without it).
      const isLink = code === 'ELOOP' || (code === 'ENOTDIR' && (() => {
        try {
          return lstatSync(at).isSymbolicLink();
        } catch {
          return false;
        }
      })());
      closeSync(fd);
      if (isLink) throw invalidArgument(`"/${parts.join('/')}" changed while being copied: a symbolic link appeared on the way`);
      throw e;
    }
    return new PinnedDir(fd);
  }

  /** lstat of the resolved components, null when nothing is there. */
  lstat(parts: string[]): Stats | null {
    try {
      return lstatSync(this.hostPath(parts));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw e;
    }
  }
}
