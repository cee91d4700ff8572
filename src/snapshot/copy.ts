// docker cp's archive semantics between two RootViews (a container's, the host's):
//   file → missing DEST: a file named DEST (its parent must exist; DEST/ must be a dir)
//   file → existing file: overwritten; file → existing dir: DEST/<name>
//   dir  → missing DEST: DEST made with the dir's content; dir → existing file: refused
//   dir  → existing dir: DEST/<name>, or DEST gets the content with SRC/.
// The bytes go as a tar stream from a packer to an extractor, so `-` (a tar on stdin or
// stdout) is the same path cut in half.
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { invalidArgument, isBerthError, notFound } from '../errors/index.js';
import { extractInto, packTree } from './archive.js';
import { decompressed } from './compression.js';
import { RootView, splitPath } from './rootview.js';
import { TarWriter } from './tar.js';

export interface CopyEnd {
  view: RootView;
  path: string;
  /** How messages name it: 'the host', 'container NAME'. */
  where: string;
  /** Who owns what lands here without --archive (a container's user, the caller on the host). */
  owner?: { uid: number; gid: number };
}

export interface CopyOptions {
  /** Keep the source's uid/gid (default true); else files get the destination's owner. */
  archive?: boolean;
  overwrite?: boolean;
}

interface Source {
  /** The source reached through its open parent directory (or itself, for a root). */
  hostPath: string;
  close(): void;
  /** The top entry's name; '' for the content of a directory. */
  name: string;
  isDir: boolean;
  contents: boolean;
}

const missing = (end: CopyEnd) => notFound(`"${end.path}" could not be found on ${end.where}: no such file or directory`);

function source(src: CopyEnd): Source {
  const contents = /(^|\/)\.$/.test(src.path);
  const follow = contents || src.path.endsWith('/');
  const parts = src.view.resolve(src.path, follow);
  const st = src.view.lstat(parts);
  if (!st) throw missing(src);
  if (follow && !st.isDirectory()) throw invalidArgument(`"${src.path}" on ${src.where}: not a directory`);
  const written = splitPath(src.path).filter((p) => p !== '..').at(-1);
  const name = written ?? parts.at(-1) ?? '';
  const pinned = src.view.openDir(parts.length ? parts.slice(0, -1) : parts);
  const hostPath = parts.length ? pinned.path(parts.at(-1)) : pinned.path();
  // The root itself: its content (there is no name to give it).
  return { hostPath, close: () => pinned.close(), name, isDir: st.isDirectory(), contents: contents || name === '' };
}

interface Target {
  dir: string[];
  rename?: { from: string; to: string };
  packName: string;
}

function target(src: Source, dst: CopyEnd): Target {
  const parts = dst.view.resolve(dst.path, true);
  const st = dst.view.lstat(parts);
  if (st?.isDirectory()) return { dir: parts, packName: src.contents ? '' : src.name };
  if (st) {
    if (src.isDir) throw invalidArgument('destination must be a directory when copying a directory');
    if (dst.path.endsWith('/')) throw invalidArgument(`"${dst.path}" on ${dst.where}: not a directory`);
  } else if (dst.path.endsWith('/') && !src.isDir) {
    throw notFound(`"${dst.path}" could not be found on ${dst.where}: the destination directory must exist`);
  }
  const parent = parts.slice(0, -1);
  const pst = dst.view.lstat(parent);
  if (!pst) throw missing(dst);
  if (!pst.isDirectory()) throw invalidArgument(`"${dst.path}" on ${dst.where}: not a directory`);
  const name = src.name || 'root';
  return { dir: parent, packName: name, rename: { from: name, to: parts.at(-1)! } };
}

/** Packs a copy's source into out, its top entry named `name`; ends out when asked. */
async function pack(s: Source, name: string, out: Writable, end: boolean): Promise<void> {
  const tar = new TarWriter(out);
  await packTree(s.hostPath, name, tar);
  await tar.finish({ end });
}

/** Copies src to dst as `cp SRC DEST` does. */
export async function copyPath(src: CopyEnd, dst: CopyEnd, o: CopyOptions = {}): Promise<void> {
  const s = source(src);
  try {
    await copyOpen(s, dst, o);
  } finally {
    s.close();
  }
}

async function copyOpen(s: Source, dst: CopyEnd, o: CopyOptions): Promise<void> {
  const t = target(s, dst);
  const pipe = new PassThrough({ highWaterMark: 1 << 20 });
  const packing = pack(s, t.packName, pipe, true).catch((e: unknown) => {
    pipe.destroy(e as Error);
    throw e;
  });
  const extracting = extractInto(pipe, dst.view, t.dir, { rename: t.rename, owner: o.archive === false ? dst.owner ?? { uid: 0, gid: 0 } : undefined, overwrite: o.overwrite }).catch(
    (e: unknown) => {
      pipe.destroy(e as Error);
      throw e;
    },
  );
  const [p, x] = await Promise.allSettled([packing, extracting]);
  if (x.status === 'rejected') throw x.reason;
  if (p.status === 'rejected') throw p.reason;
}

/** `cp SRC -`: a tar of the source on out; o.contentsName names a directory's content ('.': docker's archive). */
export async function copyToStream(src: CopyEnd, out: Writable, o: { contentsName?: string } = {}): Promise<void> {
  const s = source(src);
  try {
    await pack(s, s.contents ? o.contentsName ?? '' : s.name, out, false);
  } finally {
    s.close();
  }
}

/** `cp - DEST`: the (possibly compressed) tar on input extracted into the directory DEST. */
export async function copyFromStream(input: Readable, dst: CopyEnd, o: CopyOptions = {}): Promise<void> {
  const parts = dst.view.resolve(dst.path, true);
  const st = dst.view.lstat(parts);
  if (!st) throw missing(dst);
  if (!st.isDirectory()) throw invalidArgument('destination must be a directory when copying from stdin');
  const { stream } = await decompressed(input);
  try {
    await extractInto(stream, dst.view, parts, { owner: o.archive === false ? dst.owner ?? { uid: 0, gid: 0 } : undefined, overwrite: o.overwrite });
  } catch (e) {
    if (isBerthError(e, 'InvalidArgument') && /^tar: (bad header checksum|header field|truncated)/.test(e.message)) {
      throw invalidArgument('source must be a (compressed) tar archive when copying from stdin');
    }
    throw e;
  }
}
