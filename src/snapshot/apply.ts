// Applies an OCI layer tar onto a directory, as a chroot would: every name is cleaned and
// resolved inside the target, symlinks met on the way are resolved relative to the target
// (absolute targets included), and the last component of an entry is never followed.
// Hostile archives must not create, modify or follow anything outside the target.
import { makeSpecialFile } from './special.js';
import { chmodSync, closeSync, constants, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readlinkSync, realpathSync, rmSync, symlinkSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, fromSystemError, invalidArgument } from '../errors/index.js';
import { lsetxattr, mknod, S_IFCHR } from '../sys/index.js';
import { TarParser, type TarEntry } from './tar.js';
import { applyLayerFileOffThread, applyLayerOffThread, LayerFile } from './worker.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
/** Symlinks followed while resolving one path (Linux's own limit is 40). */
const MAX_SYMLINKS = 40;

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

/** Splits an archive name into clean components: no leading `/` or `./`, `..` applied
 *  lexically; a `..` that would climb above the root is rejected. */
function cleanName(name: string): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw invalidArgument(`layer tar: entry "${name}" escapes the target`);
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out;
}

/** An overlay whiteout: a character device 0/0. */
const isWhiteout = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Resolves directories inside one root the way a chroot would. */
class RootResolver {
  /** Clean relative dir path → resolved absolute path, for dirs seen in this run. */
  private cache = new Map<string, string>();

  constructor(readonly root: string) {}

  /** Forget cached resolutions: a directory or symlink that paths may go through changed. */
  invalidate(): void {
    this.cache.clear();
  }

  /** The real directory for components `parts` (every one a directory after resolution);
   *  missing ones are created (0755) when `create` is set, else the answer is null. */
  dir(parts: string[], entryName: string, create: true): string;
  dir(parts: string[], entryName: string, create: false): string | null;
  dir(parts: string[], entryName: string, create: boolean): string | null {
    if (parts.length === 0) return this.root;
    const key = parts.join('/');
    const cached = this.cache.get(key);
    if (cached) return cached;

    let resolved: string[] = [];
    const todo = parts.slice().reverse(); // a stack: next component at the end
    let links = 0;
    while (todo.length) {
      const c = todo.pop()!;
      if (c === '' || c === '.') continue;
      if (c === '..') { resolved.pop(); continue; } // never above the root, as in a chroot
      const path = join(this.root, ...resolved, c);
      const st = lstatOrNull(path);
      if (!st) {
        if (!create) return null;
        mkdirSync(path, 0o755);
        resolved.push(c);
      } else if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw invalidArgument(`layer tar: entry "${entryName}": too many levels of symbolic links`);
        const target = readlinkSync(path);
        if (target.startsWith('/')) resolved = [];
        for (const t of target.split('/').reverse()) todo.push(t);
      } else if (st.isDirectory()) {
        resolved.push(c);
      } else if (create && isWhiteout(st)) {
        // This layer deletes the lower `c` and creates content under a new `c`.
        unlinkSync(path);
        mkdirSync(path, 0o755);
        lsetxattr(path, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
        resolved.push(c);
      } else {
        throw invalidArgument(`layer tar: entry "${entryName}": "${resolved.concat(c).join('/')}" is not a directory`);
      }
    }
    const out = join(this.root, ...resolved);
    this.cache.set(key, out);
    return out;
  }
}

/** Applies an OCI layer (a tar, plain or gzip/zstd-compressed; a stream, or a file the
 *  worker reads) onto `dir` (which exists); returns bytes of file content written.
 *  Whiteouts become overlay whiteouts (char 0/0), opaque markers the
 *  trusted.overlay.opaque xattr. With diffId, the uncompressed tar must hash to it (else
 *  DataLoss). Decompression, hashing and extraction run on a worker thread (worker.ts). */
export function applyLayer(layer: Readable | LayerFile, dir: string, opts: { signal?: AbortSignal; diffId?: string } = {}): Promise<{ size: number }> {
  return layer instanceof LayerFile ? applyLayerFileOffThread(layer, dir, opts) : applyLayerOffThread(layer, dir, opts);
}

/** applyLayer() on this thread: what the worker runs. */
export async function applyLayerHere(tar: Readable, dir: string, opts: { signal?: AbortSignal } = {}): Promise<{ size: number }> {
  const root = realpathSync(dir);
  const resolver = new RootResolver(root);
  const parser = new TarParser(tar);
  // Directory mtimes are set last: creating their content changes them.
  const dirTimes: { path: string; mtime: number }[] = [];
  let size = 0;

  for (;;) {
    opts.signal?.throwIfAborted();
    const entry = await parser.next();
    if (!entry) break;
    try {
      size += await applyEntry(entry, parser, resolver, dirTimes, opts.signal);
    } catch (e) {
      if (e instanceof BerthError || (e as Error).name === 'AbortError') throw e;
      throw fromSystemError(e, `layer tar: entry "${entry.name}"`);
    }
  }
  for (let i = dirTimes.length - 1; i >= 0; i--) {
    const { path, mtime } = dirTimes[i];
    lutimesSync(path, mtime, mtime);
  }
  return { size };
}

async function applyEntry(
  entry: TarEntry,
  parser: TarParser,
  resolver: RootResolver,
  dirTimes: { path: string; mtime: number }[],
  signal?: AbortSignal,
): Promise<number> {
  const parts = cleanName(entry.name);
  if (parts.length === 0) {
    // The layer's root ("./"): only its metadata applies.
    if (entry.type !== 'dir') throw invalidArgument(`layer tar: entry "${entry.name}" replaces the root with a non-directory`);
    setMetadata(resolver.root, entry);
    dirTimes.push({ path: resolver.root, mtime: entry.mtime });
    return 0;
  }
  const base = parts[parts.length - 1];
  const parent = resolver.dir(parts.slice(0, -1), entry.name, true);

  if (base === OPAQUE_MARKER) {
    lsetxattr(parent, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
    return 0;
  }
  if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return 0; // other AUFS metadata: not content
  if (base.startsWith(WHITEOUT_PREFIX)) {
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') throw invalidArgument(`layer tar: bad whiteout "${entry.name}"`);
    const path = join(parent, name);
    const existing = lstatOrNull(path);
    // A whiteout hides lower layers only; what this layer made itself stays, and a
    // directory of this layer must then not show the lower one's content.
    if (existing?.isDirectory()) lsetxattr(path, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
    else if (!existing) mknod(path, S_IFCHR | 0o000, 0, 0);
    return 0;
  }

  const path = join(parent, base);
  // A hard link's target is resolved before anything at `path` is removed.
  const linkTarget = entry.type === 'hardlink' ? resolveHardlinkTarget(entry, resolver) : '';
  if (linkTarget === path) return 0;

  const existing = lstatOrNull(path);
  if (existing && !(entry.type === 'dir' && existing.isDirectory())) removeExisting(path, resolver, existing);

  let written = 0;
  switch (entry.type) {
    case 'dir':
      if (!existing?.isDirectory()) {
        mkdirSync(path, 0o700);
        // Replacing this layer's own whiteout: the lower directory stays hidden.
        if (existing && isWhiteout(existing)) lsetxattr(path, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
      }
      break;
    case 'file':
      written = await writeFile(path, parser, signal);
      break;
    case 'symlink':
      symlinkSync(entry.linkname, path);
      break;
    case 'hardlink':
      linkSync(linkTarget, path);
      return 0; // the inode already carries its metadata
    case 'char':
    case 'block':
    case 'fifo':
      makeSpecialFile(path, entry);
      break;
  }
  setMetadata(path, entry);
  if (entry.type === 'dir') dirTimes.push({ path, mtime: entry.mtime });
  else lutimesSync(path, entry.mtime, entry.mtime);
  return written;
}

function resolveHardlinkTarget(entry: TarEntry, resolver: RootResolver): string {
  const parts = cleanName(entry.linkname);
  if (parts.length === 0) throw invalidArgument(`layer tar: hard link "${entry.name}" points to the root`);
  const parent = resolver.dir(parts.slice(0, -1), entry.name, false);
  const target = parent === null ? '' : join(parent, parts[parts.length - 1]);
  const st = parent === null ? null : lstatOrNull(target);
  if (!st) throw invalidArgument(`layer tar: hard link "${entry.name}" points to missing "${entry.linkname}"`);
  if (st.isDirectory()) throw invalidArgument(`layer tar: hard link "${entry.name}" points to a directory`);
  return target; // link(2) does not follow a symlink here: it links the symlink itself
}

/** Removes whatever is at `path` (never following it); a directory goes with its content. */
function removeExisting(path: string, resolver: RootResolver, st: Stats | null = lstatOrNull(path)): void {
  if (!st) return;
  if (st.isDirectory()) {
    rmSync(path, { recursive: true, force: true });
    resolver.invalidate();
  } else {
    unlinkSync(path);
    if (st.isSymbolicLink()) resolver.invalidate();
  }
}

async function writeFile(path: string, parser: TarParser, signal?: AbortSignal): Promise<number> {
  // O_EXCL|O_NOFOLLOW: whatever was here is gone, and nothing may be followed.
  const fd = openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  let written = 0;
  try {
    for (;;) {
      const chunk = await parser.readBody();
      if (!chunk) break;
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
      written += chunk.length;
      if (signal?.aborted) signal.throwIfAborted();
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** Owner, then mode (chown clears setuid/setgid), then xattrs (chown also clears
 *  security.capability). Symlinks get only an owner: Linux has no symlink modes. */
function setMetadata(path: string, entry: TarEntry): void {
  lchownSync(path, entry.uid, entry.gid);
  if (entry.type !== 'symlink') chmodSync(path, entry.mode & 0o7777);
  for (const [name, value] of Object.entries(entry.xattrs)) {
    // Overlay's own attributes (redirect, metacopy, opaque …) only come from whiteout markers.
    if (name.startsWith('trusted.overlay.')) continue;
    try {
      lsetxattr(path, name, value);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    }
  }
}
