// Trees to tar streams and back, for cp, export and commit. Packing walks a host directory
// without following symlinks; an overlay upper dir packs as an OCI layer (whiteouts become
// .wh. entries, opaque directories a .wh..wh..opq marker). Extracting goes into a RootView:
// every entry's parent is resolved inside the view's root, its last component is never
// followed, so a hostile archive or a hostile symlink in the target cannot write outside.
import { makeSpecialFile } from './special.js';
import { closeSync, constants, createReadStream, fchmodSync, fchownSync, fstatSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, readlinkSync, rmSync, statSync, statfsSync, symlinkSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import type { Readable } from 'node:stream';
import { BerthError, fromSystemError, invalidArgument } from '../errors/index.js';
import { lgetxattr, llistxattr, lsetxattr } from '../sys/index.js';
import { PinnedDir, RootView, splitPath } from './rootview.js';
import { TarParser, type TarEntry, type TarEntryType, type TarWriter } from './tar.js';

const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];
const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK } = constants;

export interface PackOptions {
  /** Pack an overlay upper dir as an image layer (whiteouts and opaque dirs). */
  layer?: boolean;
}

function typeOf(st: Stats): TarEntryType | null {
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
 * The kernel's pseudo filesystems (statfs magic numbers: proc, sysfs, cgroup v1 and v2,
 * devpts, mqueue, debugfs, tracefs, securityfs, bpf, pstore, configfs, binfmt_misc,
 * fusectl): a running container's root shows them mounted, and their files are no data to
 * copy (some block when read). Their mount points are packed as empty directories.
 */
const PSEUDO_FS = new Set([0x9fa0, 0x62656572, 0x27e0eb, 0x63677270, 0x1cd1, 0x19800202, 0x64626720, 0x74726163, 0x73636673, 0xcafe4a11, 0x6165676c, 0x62656570, 0x42494e4d, 0x65735543]);

function isPseudoFs(dir: string): boolean {
  try {
    return PSEUDO_FS.has(Number(statfsSync(dir).type));
  } catch {
    return false;
  }
}

/** A /proc/self/fd/N path: a directory this process holds open (the link is its way in). */
const PINNED = /^\/proc\/self\/fd\/\d+$/;

/**
 * Writes the tree at hostPath into tar, its top entry named `name` ('' : the tree's content
 * only, named relative to it). Hard links inside the tree stay hard links. Directories are
 * opened without following links and their entries reached through the open directory, so a
 * tree changing meanwhile cannot lead the walk elsewhere.
 */
export async function packTree(hostPath: string, name: string, tar: TarWriter, opts: PackOptions = {}): Promise<void> {
  const links = new Map<string, string>();
  const walk = async (path: string, entryName: string, top: boolean, parentDev?: number): Promise<void> => {
    const nofollow = top && PINNED.test(path) ? 0 : O_NOFOLLOW;
    const st = nofollow ? lstatSync(path) : statSync(path);
    const type = typeOf(st);
    if (!type) return;
    const meta = {
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    // A top entry named '/' (docker's archive of a root) puts its children at /NAME.
    const child = (n: string) => (entryName ? `${entryName.replace(/\/$/, '')}/${n}` : n);
    if (opts.layer && type === 'char' && st.rdev === 0) {
      const slash = entryName.lastIndexOf('/');
      await tar.add({ name: `${entryName.slice(0, slash + 1)}.wh.${entryName.slice(slash + 1)}`, type: 'file', ...meta, mode: 0 });
      return;
    }
    if (entryName && type !== 'dir') {
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
      if (type === 'file') {
        const fd = openSync(path, O_RDONLY | nofollow | O_NONBLOCK);
        const fst = fstatSync(fd);
        if (!fst.isFile()) {
          closeSync(fd);
          return; // replaced meanwhile
        }
        const body = fst.size > 0 ? createReadStream('', { fd, start: 0, end: fst.size - 1 }) : (closeSync(fd), Buffer.alloc(0));
        await tar.add({ ...base, size: fst.size }, body);
      } else if (type === 'symlink') await tar.add({ ...base, linkname: readlinkSync(path) });
      else if (type === 'char' || type === 'block') await tar.add({ ...base, devmajor: major(st.rdev), devminor: minor(st.rdev) });
      else await tar.add(base);
      return;
    }
    if (type !== 'dir') return;
    const dfd = openSync(path, O_RDONLY | O_DIRECTORY | nofollow);
    try {
      const dir = `/proc/self/fd/${dfd}`;
      // "/." : the directory itself, not the /proc link to it (the l- calls do not follow a last link).
      if (entryName) await tar.add({ name: entryName, type, ...meta, xattrs: xattrsOf(`${dir}/.`) });
      if (opts.layer && entryName && OPAQUE_XATTRS.some((x) => lgetxattr(`${dir}/.`, x)?.toString() === 'y')) {
        await tar.add({ name: child('.wh..wh..opq'), type: 'file', ...meta, mode: 0 });
      }
      // The top or another filesystem starting here: a pseudo one's content is not packed.
      if (st.dev !== parentDev && isPseudoFs(dir)) return;
      for (const n of readdirSync(dir).sort()) await walk(`${dir}/${n}`, child(n), false, st.dev);
    } finally {
      closeSync(dfd);
    }
  };
  await walk(hostPath, name, true);
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
  const state: ExtractState = { dirTimes: [], resolved: new Map(), pinned: null };
  // Modes exactly as archived: mknod() and mkdir() take them through the umask.
  const umask = process.umask(0);
  try {
    for (;;) {
      const entry = await parser.next();
      if (!entry) break;
      try {
        await extractEntry(entry, parser, view, dir, state, opts);
      } catch (e) {
        if (e instanceof BerthError) throw e;
        throw fromSystemError(e, `extracting "${entry.name}"`);
      }
    }
    unpin(state);
    // Directory times last (their content changed them), each through its pinned parent.
    for (let i = state.dirTimes.length - 1; i >= 0; i--) {
      const { parts, mtime } = state.dirTimes[i];
      const parent = view.openDir(parts.slice(0, -1));
      try {
        lutimesSync(parent.path(parts.at(-1)), mtime, mtime);
      } finally {
        parent.close();
      }
    }
  } finally {
    unpin(state);
    process.umask(umask);
  }
}

interface ExtractState {
  dirTimes: { parts: string[]; mtime: number }[];
  /** Archive dir → resolved components, until the archive replaces something a path may pass through. */
  resolved: Map<string, string[]>;
  /** The last entry's parent, held open: archives list a directory's entries together. */
  pinned: { key: string; dir: PinnedDir } | null;
}

function unpin(state: ExtractState): void {
  state.pinned?.dir.close();
  state.pinned = null;
}

/** Forgets resolutions and the open parent: the archive replaced a path (a link, a directory). */
function forget(state: ExtractState): void {
  state.resolved.clear();
  unpin(state);
}

/** Opens the resolved dir (pinned), with cp's messages for what is missing or no directory. */
function openParent(view: RootView, parts: string[], entryName: string): PinnedDir {
  try {
    return view.openDir(parts);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw invalidArgument(`extracting "${entryName}": "/${parts.join('/')}": no such file or directory`);
    if (code === 'ENOTDIR') throw invalidArgument(`extracting "${entryName}": "/${parts.join('/')}": not a directory`);
    throw e;
  }
}

async function extractEntry(entry: TarEntry, parser: TarParser, view: RootView, dir: string[], state: ExtractState, o: ExtractOptions): Promise<void> {
  let parts = entryParts(entry.name);
  if (o.rename && parts[0] === o.rename.from) parts = [o.rename.to, ...parts.slice(1)];
  if (parts.length === 0) return; // the archive's "./": the destination stays as it is
  const key = parts.slice(0, -1).join('/');
  const parentParts = state.resolved.get(key) ?? view.resolve('/' + [...dir, ...parts.slice(0, -1)].join('/'), true);
  state.resolved.set(key, parentParts);
  if (state.pinned?.key !== key) {
    unpin(state);
    state.pinned = { key, dir: openParent(view, parentParts, entry.name) };
  }
  const base = parts[parts.length - 1];
  const path = state.pinned.dir.path(base);
  const shown = `/${[...parentParts, base].join('/')}`;
  const owner = o.owner ?? { uid: entry.uid, gid: entry.gid };

  if (entry.type === 'hardlink') {
    let lp = entryParts(entry.linkname);
    if (o.rename && lp[0] === o.rename.from) lp = [o.rename.to, ...lp.slice(1)];
    const target = view.resolve('/' + [...dir, ...lp].join('/'), false);
    const tparent = openParent(view, target.slice(0, -1), entry.name);
    try {
      const st = lstatOrNull(tparent.path(target.at(-1)));
      if (!st || st.isDirectory()) throw invalidArgument(`tar: hard link "${entry.name}" points to a missing file "${entry.linkname}"`);
      const existing = lstatOrNull(path);
      if (existing && existing.ino === st.ino && existing.dev === st.dev) return;
      if (existing?.isDirectory()) throw invalidArgument(`cannot overwrite directory "${shown}" with non-directory (use --overwrite)`);
      if (existing) unlinkSync(path);
      linkSync(tparent.path(target.at(-1)), path); // link(2) does not follow a last symlink
    } finally {
      tparent.close();
    }
    return;
  }

  const existing = lstatOrNull(path);
  if (existing && !(entry.type === 'dir' && existing.isDirectory())) {
    if (existing.isDirectory() !== (entry.type === 'dir') && !o.overwrite) {
      throw invalidArgument(
        existing.isDirectory()
          ? `cannot overwrite directory "${shown}" with non-directory (use --overwrite)`
          : `cannot overwrite non-directory "${shown}" with directory (use --overwrite)`,
      );
    }
    if (existing.isDirectory()) rmSync(path, { recursive: true, force: true });
    else unlinkSync(path);
    forget(state);
    state.pinned = { key, dir: openParent(view, parentParts, entry.name) };
  }
  const pinnedPath = state.pinned!.dir.path(base);
  // Files and directories get owner and mode through a descriptor (nothing to follow);
  // links and device nodes through calls that do not follow a last link.
  let fd: number | undefined;
  switch (entry.type) {
    case 'dir':
      if (!existing?.isDirectory()) mkdirSync(pinnedPath, 0o700);
      fd = openSync(pinnedPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      state.dirTimes.push({ parts: [...parentParts, base], mtime: entry.mtime });
      break;
    case 'file':
      fd = openSync(pinnedPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      try {
        for (let chunk = await parser.readBody(); chunk; chunk = await parser.readBody()) {
          for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
        }
      } catch (e) {
        closeSync(fd);
        throw e;
      }
      break;
    case 'symlink':
      symlinkSync(entry.linkname, pinnedPath);
      forget(state);
      break;
    case 'char':
    case 'block':
    case 'fifo':
      makeSpecialFile(pinnedPath, entry);
      break;
  }
  // The parent may have been let go (a symlink entry): reach the entry again through it.
  const entryPath = state.pinned?.key === key ? state.pinned.dir.path(base) : null;
  const parent = entryPath ? null : openParent(view, parentParts, entry.name);
  const at = entryPath ?? parent!.path(base);
  try {
    if (fd !== undefined) {
      // chown first: it clears setuid/setgid bits.
      fchownSync(fd, owner.uid, owner.gid);
      fchmodSync(fd, entry.mode & 0o7777);
    } else {
      lchownSync(at, owner.uid, owner.gid);
    }
    // A directory through its descriptor ("/." : the directory, not the /proc link); the
    // rest by path with the l- call, which does not follow a last link.
    const xattrPath = entry.type === 'dir' ? `/proc/self/fd/${fd}/.` : at;
    for (const [name, value] of Object.entries(entry.xattrs)) {
      if (name.startsWith('trusted.overlay.')) continue;
      try {
        lsetxattr(xattrPath, name, value);
      } catch {
        // a filesystem without xattrs (or this one) keeps the file without it
      }
    }
    if (entry.type === 'file' && fd !== undefined) futimesSync(fd, entry.mtime, entry.mtime);
    else if (entry.type !== 'dir') lutimesSync(at, entry.mtime, entry.mtime);
  } finally {
    if (fd !== undefined) closeSync(fd);
    parent?.close();
  }
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
