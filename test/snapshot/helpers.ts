// Shared helpers for the snapshot tests: building archives in memory, temp dirs, tree digests.
import { mkdtempSync, rmSync, readdirSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { TarWriter, type TarEntry, type TarEntryType } from '../../src/snapshot/index.js';
import { llistxattr, lgetxattr } from '../../src/sys/index.js';

export type Spec = Partial<TarEntry> & { name: string; type: TarEntryType; body?: Buffer | string };

export async function makeTar(specs: Spec[]): Promise<Buffer> {
  const pt = new PassThrough();
  const parts: Buffer[] = [];
  pt.on('data', (c: Buffer) => parts.push(c));
  const w = new TarWriter(pt);
  for (const { body, ...e } of specs) await w.add(e, typeof body === 'string' ? Buffer.from(body) : body);
  await w.finish({ end: true });
  return Buffer.concat(parts);
}

export const streamOf = (b: Buffer) => Readable.from([b]);

/** A temp dir removed (with anything mounted below it unmounted first by the caller) at the end. */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'berth-snap-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A description of every path below dir (type, mode, owner, size, mtime, content, link, xattrs). */
export function treeDigest(dir: string, skip: (path: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string, rel: string) => {
    if (skip(p)) return;
    const st = lstatSync(p);
    const xattrs = llistxattr(p).sort().map((n) => `${n}=${lgetxattr(p, n)?.toString('hex')}`).join(',');
    let extra = '';
    if (st.isFile()) extra = readFileSync(p).toString('hex');
    else if (st.isSymbolicLink()) extra = readlinkSync(p);
    out.set(rel || '.', `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${st.ino} ${st.nlink} ${xattrs} ${extra}`);
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(join(p, n), rel ? `${rel}/${n}` : n);
  };
  walk(dir, '');
  return out;
}
