// /containers/{id}/archive: docker cp's half on the daemon side. GET packs a path of the
// container as a tar, HEAD only stats it (X-Docker-Container-Path-Stat), PUT extracts a tar
// into a directory of it. The client rebases the archive's names itself; paths resolve
// inside the container's root (cp's RootView).
import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import type { Writable } from 'node:stream';
import type { RootView } from '../snapshot/index.js';
import { invalidArgument, isBerthError, notFound } from '../errors/index.js';
import { lookup } from './containers.js';
import { boolParam, type Reply, type Request, type Router } from './server.js';

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

/** Go's os.FileMode bits for a stat's type and permissions. */
function goFileMode(st: Stats): number {
  const GO = { dir: 2 ** 31, symlink: 2 ** 27, device: 2 ** 26, pipe: 2 ** 25, socket: 2 ** 24, setuid: 2 ** 23, setgid: 2 ** 22, char: 2 ** 21, sticky: 2 ** 20 };
  let m = st.mode & 0o777;
  if (st.isDirectory()) m += GO.dir;
  else if (st.isSymbolicLink()) m += GO.symlink;
  else if (st.isFIFO()) m += GO.pipe;
  else if (st.isSocket()) m += GO.socket;
  else if (st.isCharacterDevice()) m += GO.device + GO.char;
  else if (st.isBlockDevice()) m += GO.device;
  if (st.mode & 0o4000) m += GO.setuid;
  if (st.mode & 0o2000) m += GO.setgid;
  if (st.mode & 0o1000) m += GO.sticky;
  return m;
}

async function open(req: Request) {
  const { mgr, c } = await lookup(req.engine, req.params[0]);
  const path = req.query.get('path');
  if (!path) throw invalidArgument('path is required');
  const files = await mgr.openFiles(c.id);
  // Relative paths are from the root, as docker takes them.
  const abs = path.startsWith('/') ? path : `/${path}`;
  const end = { view: files.view, path: abs, where: `container ${req.params[0]}` };
  return { files, end, missing: () => notFound(`Could not find the file ${path} in container ${req.params[0]}`) };
}

/** docker's path stat: the last component is not followed unless the path ends in / or /. . */
function pathStat(end: { view: RootView; path: string }): { header: string; isDir: boolean } | undefined {
  const follow = end.path.endsWith('/') || /\/\.$/.test(end.path);
  const parts = end.view.resolve(end.path, follow);
  const st = end.view.lstat(parts);
  if (!st) return undefined;
  const linkTarget = st.isSymbolicLink() ? '/' + end.view.resolve(end.path, true).join('/') : '';
  const clean = posix.normalize(end.path);
  const name = clean === '/' ? '/' : /\/\.$/.test(end.path) ? '.' : posix.basename(clean);
  const stat = { name, size: st.size, mode: goFileMode(st), mtime: st.mtime.toISOString(), linkTarget };
  return { header: Buffer.from(JSON.stringify(stat)).toString('base64'), isDir: st.isDirectory() };
}

async function getArchive(req: Request, reply: Reply): Promise<void> {
  const { files, end, missing } = await open(req);
  try {
    const stat = pathStat(end);
    if (!stat) throw missing();
    const { copyToStream } = await import('../snapshot/index.js');
    const out = reply.stream(200, { 'Content-Type': 'application/x-tar', [STAT_HEADER]: stat.header });
    // docker's entry names: a directory's content (PATH/.) as ./…, the root as / and /…
    // (the client rebases entries by the source's base name: '.' and '/').
    await copyToStream(end, out as Writable, { contentsName: /\/\.$/.test(end.path) ? '.' : '/' });
    out.end();
  } finally {
    files.close();
  }
}

async function headArchive(req: Request, reply: Reply): Promise<void> {
  const { files, end, missing } = await open(req);
  try {
    const stat = pathStat(end);
    if (!stat) throw missing();
    reply.stream(200, { 'Content-Type': 'application/json', [STAT_HEADER]: stat.header, 'Content-Length': 0 }).end();
  } finally {
    files.close();
  }
}

/** PUT: the tar (maybe compressed) extracted into the existing directory path. */
async function putArchive(req: Request, reply: Reply): Promise<void> {
  const { files, end, missing } = await open(req);
  try {
    const stat = pathStat({ ...end, path: end.path.replace(/\/*$/, '/') });
    if (!stat) throw missing();
    if (!stat.isDir) throw invalidArgument('extraction point is not a directory');
    const { copyFromStream } = await import('../snapshot/index.js');
    // copyUIDGID: what lands is the container user's, looked up in its /etc/passwd and
    // /etc/group (when it has one: docker's rule); otherwise the archive's owners stay.
    const owner = boolParam(req.query, 'copyUIDGID') ? await files.userOwner() : undefined;
    await copyFromStream(req.body, { ...end, owner }, { archive: !owner, overwrite: !boolParam(req.query, 'noOverwriteDirNonDir') });
    reply.empty(200);
  } catch (e) {
    if (isBerthError(e, 'NotFound')) throw missing();
    throw e;
  } finally {
    files.close();
  }
}

export function archiveRoutes(router: Router): void {
  router
    .add('HEAD', '/containers/{id}/archive', headArchive)
    .add('GET', '/containers/{id}/archive', getArchive)
    .add('PUT', '/containers/{id}/archive', putArchive);
}
