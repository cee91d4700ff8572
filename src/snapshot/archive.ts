// Trees to tar streams and back, for cp, export and commit. Packing walks a host directory
// without following symlinks; an overlay upper dir packs as an OCI layer (whiteouts become
// .wh. entries, opaque directories a .wh..wh..opq marker). Extracting goes into a RootView:
// every entry's parent is resolved inside the view's root, its last component is never
// followed, so a hostile archive or a hostile symlink in the target cannot write outside.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, fromSystemError, invalidArgument } from '../errors/index.js';
import { lgetxattr, llistxattr, lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../sys/index.js';
import { RootView, splitPath } from './rootview.js';
import { TarParser, type TarEntry, type TarEntryType, type TarWriter } from './tar.js';

const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;

export interface PackOptions {
  /** Pack an overlay upper dir as an image layer (whiteouts and opaque dirs). */
  layer?: boolean;
  /** Owner of every entry instead of the files' own. */
  owner?: { uid: number; gid: number };
}

function typeOf(st: fs.Stats): TarEntryType | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return null; // sockets are not archived
}

function xattrsOf(path: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  let names: string[];
  try {
    names = llistxattr(path);
  } catch {
    return out;
  }
  for (const n of names) {
    if (n.startsWith('trusted.overlay.') || n.startsWith('user.overlay.')) continue;
    const v = lgetxattr(path, n);
    if (v) out[n] = v;
  }
  return out;
}

/**
 * Writes the tree at hostPath into tar, its top entry named `name` ('' : the tree's content
 * only, named relative to it). Hard links inside the tree stay hard links.
 */
export async function packTree(hostPath: string, name: string, tar: TarWriter, opts: PackOptions = {}): Promise<void> {
  const links = new Map<string, string>();
  const walk = async (path: string, entryName: string): Promise<void> => {
    const st = fs.lstatSync(path);
    const type = typeOf(st);
    if (!type) return;
    const meta = {
      mode: st.mode & 0o7777,
      uid: opts.owner?.uid ?? st.uid,
      gid: opts.owner?.gid ?? st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    const child = (n: string) => (entryName ? `${entryName}/${n}` : n);
    if (opts.layer && type === 'char' && st.rdev === 0) {
      const slash = entryName.lastIndexOf('/');
      await tar.add({ name: `${entryName.slice(0, slash + 1)}.wh.${entryName.slice(slash + 1)}`, type: 'file', ...meta, mode: 0 });
      return;
    }
    if (entryName) {
      if (type === 'file' && st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          await tar.add({ name: entryName, type: 'hardlink', linkname: first, ...meta });
          return;
        }
        links.set(key, entryName);
      }
      const base = { name: entryName, type, ...meta, xattrs: xattrsOf(path) };
      if (type === 'file') await tar.add({ ...base, size: st.size }, fs.createReadStream(path));
      else if (type === 'symlink') await tar.add({ ...base, linkname: fs.readlinkSync(path) });
      else if (type === 'char' || type === 'block') await tar.add({ ...base, devmajor: major(st.rdev), devminor: minor(st.rdev) });
      else await tar.add(base);
    }
    if (type !== 'dir') return;
    if (opts.layer && entryName && OPAQUE_XATTRS.some((x) => lgetxattr(path, x)?.toString() === 'y')) {
      await tar.add({ name: child('.wh..wh..opq'), type: 'file', ...meta, mode: 0 });
    }
    for (const n of fs.readdirSync(path).sort()) await walk(join(path, n), child(n));
  };
  await walk(hostPath, name);
}

const major = (dev: number) => ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff);
const minor = (dev: number) => (dev & 0xff) | ((dev >> 12) & ~0xff);

export interface ExtractOptions {
  /** The archive's top-level name `from` lands as `to` (cp SRC DEST with DEST a new name). */
  rename?: { from: string; to: string };
  /** Owner of everything extracted instead of the archive's. */
  owner?: { uid: number; gid: number };
  /** A directory may replace a non-directory and the other way round. */
  overwrite?: boolean;
}

/** Cleans an archive name into components; refuses one that climbs above its start. */
function entryParts(name: string): string[] {
  const out: string[] = [];
  for (const p of splitPath(name)) {
    if (p === '..') {
      if (out.length === 0) throw invalidArgument(`tar: entry "${name}" points outside the destination`);
      out.pop();
    } else out.push(p);
  }
  return out;
}

/** Extracts a tar stream into directory `dir` (resolved components) of view. */
export async function extractInto(input: Readable, view: RootView, dir: string[], opts: ExtractOptions = {}): Promise<void> {
  const parser = new TarParser(input);
  const dirTimes: { path: string; mtime: number }[] = [];
  const parents = new Map<string, string[]>();
  for (;;) {
    const entry = await parser.next();
    if (!entry) break;
    try {
      await extractEntry(entry, parser, view, dir, dirTimes, parents, opts);
    } catch (e) {
      if (e instanceof BerthError) throw e;
      throw fromSystemError(e, `extracting "${entry.name}"`);
    }
  }
  for (let i = dirTimes.length - 1; i >= 0; i--) fs.lutimesSync(dirTimes[i].path, dirTimes[i].mtime, dirTimes[i].mtime);
}

async function extractEntry(
  entry: TarEntry,
  parser: TarParser,
  view: RootView,
  dir: string[],
  dirTimes: { path: string; mtime: number }[],
  parents: Map<string, string[]>,
  o: ExtractOptions,
): Promise<void> {
  let parts = entryParts(entry.name);
  if (o.rename && parts[0] === o.rename.from) parts = [o.rename.to, ...parts.slice(1)];
  if (parts.length === 0) return; // the archive's "./": the destination stays as it is
  // Resolved parents are remembered until this archive replaces something a path may pass through.
  const parentKey = parts.slice(0, -1).join('/');
  const parentParts = parents.get(parentKey) ?? view.resolve('/' + [...dir, ...parts.slice(0, -1)].join('/'), true);
  parents.set(parentKey, parentParts);
  const parentSt = view.lstat(parentParts);
  if (!parentSt) throw invalidArgument(`extracting "${entry.name}": "/${parentParts.join('/')}": no such file or directory`);
  if (!parentSt.isDirectory()) throw invalidArgument(`extracting "${entry.name}": "/${parentParts.join('/')}": not a directory`);
  const path = join(view.hostPath(parentParts), parts[parts.length - 1]);
  const owner = o.owner ?? { uid: entry.uid, gid: entry.gid };

  let linkTarget = '';
  if (entry.type === 'hardlink') {
    let lp = entryParts(entry.linkname);
    if (o.rename && lp[0] === o.rename.from) lp = [o.rename.to, ...lp.slice(1)];
    const resolvedLink = view.resolve('/' + [...dir, ...lp].join('/'), false);
    const st = view.lstat(resolvedLink);
    if (!st || st.isDirectory()) throw invalidArgument(`tar: hard link "${entry.name}" points to a missing file "${entry.linkname}"`);
    linkTarget = view.hostPath(resolvedLink);
    if (linkTarget === path) return;
  }

  const existing = lstatOrNull(path);
  if (existing && !(entry.type === 'dir' && existing.isDirectory())) {
    if (existing.isDirectory() !== (entry.type === 'dir') && !o.overwrite) {
      throw invalidArgument(
        existing.isDirectory()
          ? `cannot overwrite directory "/${[...parentParts, parts[parts.length - 1]].join('/')}" with non-directory (use --overwrite)`
          : `cannot overwrite non-directory "/${[...parentParts, parts[parts.length - 1]].join('/')}" with directory (use --overwrite)`,
      );
    }
    if (existing.isDirectory()) fs.rmSync(path, { recursive: true, force: true });
    else fs.unlinkSync(path);
    parents.clear();
  }
  switch (entry.type) {
    case 'dir':
      if (!existing?.isDirectory()) fs.mkdirSync(path, 0o700);
      break;
    case 'file': {
      const fd = fs.openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      try {
        for (let chunk = await parser.readBody(); chunk; chunk = await parser.readBody()) {
          for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off, chunk.length - off);
        }
      } finally {
        fs.closeSync(fd);
      }
      break;
    }
    case 'symlink':
      fs.symlinkSync(entry.linkname, path);
      parents.clear();
      break;
    case 'hardlink':
      fs.linkSync(linkTarget, path);
      return;
    case 'char':
      mknod(path, S_IFCHR | (entry.mode & 0o7777), entry.devmajor, entry.devminor);
      break;
    case 'block':
      mknod(path, S_IFBLK | (entry.mode & 0o7777), entry.devmajor, entry.devminor);
      break;
    case 'fifo':
      mknod(path, S_IFIFO | (entry.mode & 0o7777), 0, 0);
      break;
  }
  fs.lchownSync(path, owner.uid, owner.gid);
  if (entry.type !== 'symlink') fs.chmodSync(path, entry.mode & 0o7777);
  for (const [name, value] of Object.entries(entry.xattrs)) {
    if (name.startsWith('trusted.overlay.')) continue;
    try {
      lsetxattr(path, name, value);
    } catch {
      // a filesystem without xattrs (or this one) keeps the file without it
    }
  }
  if (entry.type === 'dir') dirTimes.push({ path, mtime: entry.mtime });
  else fs.lutimesSync(path, entry.mtime, entry.mtime);
}

function lstatOrNull(path: string): fs.Stats | null {
  try {
    return fs.lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
