// Tar reading and writing: ustar, PAX (x/g) and GNU long names (L/K), base-256 numbers.
// Bodies are handed out as slices of the input's own chunks (no copy) and the input is
// only read when the consumer asks for more, so backpressure reaches the source.
import { once } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { invalidArgument } from '../errors/index.js';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  /** Path as in the archive, after PAX `path` / GNU 'L' long names. */
  name: string;
  type: TarEntryType;
  /** Permission bits incl. setuid/setgid/sticky (no file-type bits). */
  mode: number;
  uid: number;
  gid: number;
  /** Body size (0 for non-files). */
  size: number;
  /** Seconds since the epoch (fractional allowed from PAX). */
  mtime: number;
  /** Symlink target / hard link target. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** From PAX SCHILY.xattr.NAME. */
  xattrs: Record<string, Buffer>;
}

const BLOCK = 512;
/** Cap on PAX records and GNU long names: real ones are tiny, hostile ones are not. */
const MAX_META_SIZE = 1024 * 1024;

const typeByFlag: Record<string, TarEntryType> = {
  '0': 'file', '\0': 'file', '7': 'file',
  '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};
const flagByType: Record<TarEntryType, string> = {
  file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6',
};

const corrupt = (what: string) => invalidArgument(`tar: ${what}`);

// ---------------------------------------------------------------------------------------
// Reading

/** Pulls bytes from a stream's chunks on demand; slices instead of copying when it can. */
class ChunkSource {
  private readonly it: AsyncIterator<Buffer | string>;
  private chunk: Buffer = Buffer.alloc(0);
  private off = 0;
  private done = false;

  constructor(input: Readable) {
    this.it = input[Symbol.asyncIterator]();
  }

  /** Makes at least one byte available; false at end of input. */
  private async fill(): Promise<boolean> {
    while (this.off >= this.chunk.length) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) { this.done = true; return false; }
      this.chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      this.off = 0;
    }
    return true;
  }

  /** Exactly n bytes; null when the input ends before the first byte; throws if it ends midway. */
  async readExact(n: number, what: string): Promise<Buffer | null> {
    if (!(await this.fill())) return null;
    if (this.chunk.length - this.off >= n) {
      const b = this.chunk.subarray(this.off, this.off + n);
      this.off += n;
      return b;
    }
    const out = Buffer.allocUnsafe(n);
    let have = 0;
    while (have < n) {
      if (!(await this.fill())) throw corrupt(`truncated archive (in ${what})`);
      const take = Math.min(n - have, this.chunk.length - this.off);
      this.chunk.copy(out, have, this.off, this.off + take);
      this.off += take;
      have += take;
    }
    return out;
  }

  /** Up to max (> 0) bytes as a slice of the current chunk; null at end of input. */
  async readSome(max: number): Promise<Buffer | null> {
    if (!(await this.fill())) return null;
    const take = Math.min(max, this.chunk.length - this.off);
    const b = this.chunk.subarray(this.off, this.off + take);
    this.off += take;
    return b;
  }

  async skip(n: number, what: string): Promise<void> {
    while (n > 0) {
      if (!(await this.fill())) throw corrupt(`truncated archive (in ${what})`);
      const take = Math.min(n, this.chunk.length - this.off);
      this.off += take;
      n -= take;
    }
  }

  /** Reads and drops the rest of the input (trailing padding), so a hashing or
   *  decompressing stage in front of us sees its whole input. */
  async drain(): Promise<void> {
    this.off = this.chunk.length;
    while (await this.fill()) this.off = this.chunk.length;
  }
}

function parseString(b: Buffer, start: number, len: number): string {
  let end = start;
  const limit = start + len;
  while (end < limit && b[end] !== 0) end++;
  return b.toString('utf8', start, end);
}

function parseNumber(b: Buffer, start: number, len: number, field: string): number {
  const first = b[start];
  if (first & 0x80) {
    // GNU base-256: big-endian two's complement, marker bit 0x80 (0xff for negatives).
    const negative = first === 0xff;
    let v = negative ? ~first & 0x7f : first & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + (negative ? ~b[i] & 0xff : b[i]);
    if (!Number.isSafeInteger(v)) throw corrupt(`header field ${field} out of range`);
    return negative ? -(v + 1) : v;
  }
  let v = 0;
  let i = start;
  const end = start + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++; // leading spaces (and empty fields)
  for (; i < end; i++) {
    const c = b[i];
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw corrupt(`header field ${field} is not an octal number`);
    v = v * 8 + (c - 0x30);
  }
  return v;
}

function checksumOk(h: Buffer): boolean {
  const stored = parseNumber(h, 148, 8, 'chksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c; // some old tars summed signed chars
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(h: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (h[i] !== 0) return false;
  return true;
}

/** PAX records: "<len> <key>=<value>\n"; values are kept as bytes (xattrs are binary). */
function parsePax(b: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < b.length) {
    if (b[pos] === 0) break; // NUL padding after the last record
    const space = b.indexOf(0x20, pos);
    if (space < 0) throw corrupt('malformed PAX record');
    const lenStr = b.toString('latin1', pos, space);
    const len = Number(lenStr);
    if (!/^[0-9]+$/.test(lenStr) || len <= space - pos + 1 || pos + len > b.length || b[pos + len - 1] !== 0x0a) {
      throw corrupt('malformed PAX record');
    }
    const eq = b.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= pos + len - 1) throw corrupt('malformed PAX record');
    out.set(b.toString('utf8', space + 1, eq), b.subarray(eq + 1, pos + len - 1));
    pos += len;
  }
  return out;
}

/** Parses PAX numbers; mtime may be fractional and negative. */
function paxNumber(v: Buffer, key: string): number {
  const s = v.toString('latin1');
  const ok = key === 'mtime' ? /^-?[0-9]+(\.[0-9]*)?$/.test(s) : /^[0-9]+$/.test(s);
  const n = Number(s);
  if (!ok || !Number.isFinite(n) || Math.abs(n) > Number.MAX_SAFE_INTEGER) throw corrupt(`bad PAX ${key} "${s}"`);
  return n;
}

function applyPax(entry: TarEntry, pax: Map<string, Buffer>): void {
  for (const [key, v] of pax) {
    switch (key) {
      case 'path': entry.name = v.toString('utf8'); break;
      case 'linkpath': entry.linkname = v.toString('utf8'); break;
      case 'size': entry.size = paxNumber(v, key); break;
      case 'uid': entry.uid = paxNumber(v, key); break;
      case 'gid': entry.gid = paxNumber(v, key); break;
      case 'mtime': entry.mtime = paxNumber(v, key); break;
      default:
        if (key.startsWith('SCHILY.xattr.')) entry.xattrs[key.slice('SCHILY.xattr.'.length)] = Buffer.from(v);
        else if (key.startsWith('GNU.sparse.')) throw corrupt(`sparse files are not supported ("${entry.name}")`);
        // uname, gname, atime, ctime, comment, charset …: not needed.
    }
  }
}

/** Low-level reader: next() parses headers, readBody()/skipBody() consume the current body. */
export class TarParser {
  private readonly src: ChunkSource;
  private remaining = 0; // body bytes of the current entry not yet read
  private padding = 0;   // bytes after the body up to the next block
  private globalPax = new Map<string, Buffer>();
  private ended = false;

  constructor(input: Readable) {
    this.src = new ChunkSource(input);
  }

  get bodyRemaining(): number {
    return this.remaining;
  }

  /** The next entry, or null at the end of the archive (after draining the input). */
  async next(): Promise<TarEntry | null> {
    if (this.ended) return null;
    await this.skipBody();
    let pax: Map<string, Buffer> | null = null;
    let longName: string | null = null;
    let longLink: string | null = null;
    for (;;) {
      const h = await this.src.readExact(BLOCK, 'header');
      if (h === null || isZeroBlock(h)) {
        // End of archive: two zero blocks (one, or plain end of input, is tolerated).
        this.ended = true;
        if (pax || longName !== null || longLink !== null) throw corrupt('truncated archive (extended header without entry)');
        await this.src.drain();
        return null;
      }
      if (!checksumOk(h)) throw corrupt('bad header checksum (corrupt or not a tar archive)');
      const flag = String.fromCharCode(h[156]);
      const size = parseNumber(h, 124, 12, 'size');
      if (size < 0) throw corrupt('negative entry size');

      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > MAX_META_SIZE) throw corrupt(`extended header of ${size} bytes is too large (limit 1 MiB)`);
        const data = (await this.src.readExact(size, 'extended header')) ?? Buffer.alloc(0);
        if (data.length < size) throw corrupt('truncated archive (in extended header)');
        await this.src.skip(pad(size), 'extended header');
        if (flag === 'x') pax = mergePax(pax, parsePax(data));
        else if (flag === 'g') this.globalPax = mergePax(this.globalPax, parsePax(data));
        else if (flag === 'L') longName = parseString(data, 0, data.length);
        else longLink = parseString(data, 0, data.length);
        continue;
      }

      let type = typeByFlag[flag];
      const entry: TarEntry = {
        name: parseString(h, 0, 100),
        type: type ?? 'file',
        mode: parseNumber(h, 100, 8, 'mode') & 0o7777,
        uid: parseNumber(h, 108, 8, 'uid'),
        gid: parseNumber(h, 116, 8, 'gid'),
        size,
        mtime: parseNumber(h, 136, 12, 'mtime'),
        linkname: parseString(h, 157, 100),
        devmajor: 0,
        devminor: 0,
        xattrs: {},
      };
      const magic = h.toString('latin1', 257, 263);
      if (magic === 'ustar\0' || magic === 'ustar ') {
        entry.devmajor = parseNumber(h, 329, 8, 'devmajor');
        entry.devminor = parseNumber(h, 337, 8, 'devminor');
      }
      if (magic === 'ustar\0') {
        // POSIX ustar: the prefix field (GNU uses those bytes for atime/ctime instead).
        const prefix = parseString(h, 345, 155);
        if (prefix) entry.name = prefix + '/' + entry.name;
      }
      if (longName !== null) entry.name = longName;
      if (longLink !== null) entry.linkname = longLink;
      if (this.globalPax.size) applyPax(entry, this.globalPax);
      if (pax) applyPax(entry, pax);

      if (type === undefined) {
        if (flag === 'V') { // GNU volume label: not a file
          this.setBody(size);
          await this.skipBody();
          pax = null; longName = null; longLink = null;
          continue;
        }
        throw corrupt(`unsupported entry type '${printable(flag)}' for "${entry.name}"`);
      }
      // Old tars mark directories only with a trailing slash.
      if (type === 'file' && flag !== '7' && entry.name.endsWith('/')) type = entry.type = 'dir';
      if (type === 'file') {
        this.setBody(entry.size);
      } else {
        // Header-only types carry no data whatever their size field says.
        entry.size = 0;
        this.setBody(0);
      }
      return entry;
    }
  }

  private setBody(size: number): void {
    this.remaining = size;
    this.padding = pad(size);
  }

  /** Up to max bytes of the current body (a slice of the input's chunk); null once done. */
  async readBody(max = Infinity): Promise<Buffer | null> {
    if (this.remaining === 0) {
      await this.finishPadding();
      return null;
    }
    const b = await this.src.readSome(Math.min(max, this.remaining));
    if (b === null) throw corrupt('truncated archive (in file body)');
    this.remaining -= b.length;
    if (this.remaining === 0) await this.finishPadding();
    return b;
  }

  /** Skips what is left of the current body. */
  async skipBody(): Promise<void> {
    if (this.remaining > 0) {
      await this.src.skip(this.remaining, 'file body');
      this.remaining = 0;
    }
    await this.finishPadding();
  }

  private async finishPadding(): Promise<void> {
    if (this.padding > 0) {
      const p = this.padding;
      this.padding = 0;
      await this.src.skip(p, 'file body');
    }
  }
}

function mergePax(a: Map<string, Buffer> | null, b: Map<string, Buffer>): Map<string, Buffer> {
  if (!a) return b;
  for (const [k, v] of b) a.set(k, v);
  return a;
}

const pad = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;
const printable = (c: string) => (c >= ' ' && c <= '~' ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** Streams entries; each body must be fully consumed (or it is skipped automatically when the
 *  iteration advances). Throws BerthError InvalidArgument on corrupt/truncated archives. */
export async function* readTar(input: Readable): AsyncIterable<{ entry: TarEntry; body: Readable }> {
  const parser = new TarParser(input);
  let complete = false;
  try {
    yield* entries(parser);
    complete = true;
  } finally {
    // The consumer stopped early (it threw or broke off): release the input and whatever
    // feeds it (a decompressor, a file), rather than leave them paused.
    if (!complete) input.destroy();
  }
}

async function* entries(parser: TarParser): AsyncIterable<{ entry: TarEntry; body: Readable }> {
  for (;;) {
    const entry = await parser.next();
    if (!entry) return;
    let pending: Promise<void> | null = null;
    let finished = false;
    const body = new Readable({
      read() {
        if (pending || finished) return;
        pending = parser.readBody(256 * 1024).then(
          (chunk) => {
            pending = null;
            if (finished) return;
            if (chunk === null) { finished = true; this.push(null); } else this.push(chunk);
          },
          (err: unknown) => {
            pending = null;
            finished = true;
            this.destroy(err as Error);
          },
        );
      },
    });
    yield { entry, body };
    // The consumer moved on: wait for an in-flight read, then drop the rest of the body.
    if (pending) await pending;
    if (!finished) {
      finished = true;
      if (parser.bodyRemaining > 0 || !body.readableEnded) body.destroy();
    }
    await parser.skipBody();
  }
}

// ---------------------------------------------------------------------------------------
// Writing

const OCTAL_MAX: Record<number, number> = { 8: 0o7777777, 12: 0o77777777777 };

function writeString(h: Buffer, s: string, start: number, len: number): void {
  h.write(s, start, len, 'utf8');
}

function writeOctal(h: Buffer, v: number, start: number, len: number): void {
  h.write(Math.trunc(v).toString(8).padStart(len - 1, '0') + '\0', start, len, 'latin1');
}

function fitsOctal(v: number, len: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= OCTAL_MAX[len];
}

function paxRecord(key: string, value: Buffer | string): Buffer {
  const kv = Buffer.concat([Buffer.from(` ${key}=`), Buffer.isBuffer(value) ? value : Buffer.from(value), Buffer.from('\n')]);
  let len = kv.length + 1;
  while (String(len).length + kv.length !== len) len = String(len).length + kv.length;
  return Buffer.concat([Buffer.from(String(len)), kv]);
}

/** Splits a long name into ustar prefix + name when possible. */
function splitUstarName(name: string): { prefix: string; name: string } | null {
  const bytes = Buffer.byteLength(name);
  if (bytes <= 100) return { prefix: '', name };
  if (bytes > 256) return null;
  for (let i = name.indexOf('/'); i > 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) > 155) return null;
    if (rest && Buffer.byteLength(rest) <= 100) return { prefix, name: rest };
  }
  return null;
}

function header(e: TarEntry, flag: string, name: string, prefix: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  writeString(h, name, 0, 100);
  writeOctal(h, e.mode & 0o7777, 100, 8);
  writeOctal(h, fitsOctal(e.uid, 8) ? e.uid : 0, 108, 8);
  writeOctal(h, fitsOctal(e.gid, 8) ? e.gid : 0, 116, 8);
  writeOctal(h, fitsOctal(e.size, 12) ? e.size : 0, 124, 12);
  writeOctal(h, fitsOctal(e.mtime, 12) ? e.mtime : 0, 136, 12);
  h.write(flag, 156, 1, 'latin1');
  writeString(h, e.linkname, 157, 100);
  h.write('ustar\x0000', 257, 8, 'latin1');
  writeOctal(h, e.devmajor, 329, 8);
  writeOctal(h, e.devminor, 337, 8);
  writeString(h, prefix, 345, 155);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

/** Writes a POSIX archive: ustar, plus a PAX header when names, ids, sizes or xattrs need it. */
export class TarWriter {
  private readonly out: Writable;
  private queue: Promise<void> = Promise.resolve();

  constructor(out: Writable) {
    this.out = out;
  }

  add(entry: Partial<TarEntry> & { name: string; type: TarEntryType }, body?: Buffer | Readable): Promise<void> {
    const run = this.queue.then(() => this.addNow(entry, body));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Writes the two zero blocks that end an archive; ends `out` when asked. */
  finish(opts: { end?: boolean } = {}): Promise<void> {
    const run = this.queue.then(async () => {
      await this.write(Buffer.alloc(BLOCK * 2));
      if (opts.end) {
        const done = once(this.out, 'finish');
        this.out.end();
        await done;
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private async addNow(partial: Partial<TarEntry> & { name: string; type: TarEntryType }, body?: Buffer | Readable): Promise<void> {
    const isFile = partial.type === 'file';
    const size = isFile ? (partial.size ?? (Buffer.isBuffer(body) ? body.length : 0)) : 0;
    if (isFile && Buffer.isBuffer(body) && body.length !== size) {
      throw invalidArgument(`tar: body of "${partial.name}" is ${body.length} bytes, entry says ${size}`);
    }
    if (!isFile && body !== undefined && !(Buffer.isBuffer(body) && body.length === 0)) {
      throw invalidArgument(`tar: entry "${partial.name}" of type ${partial.type} cannot have a body`);
    }
    const e: TarEntry = {
      mode: partial.type === 'dir' ? 0o755 : partial.type === 'symlink' ? 0o777 : 0o644,
      uid: 0, gid: 0, mtime: 0, linkname: '', devmajor: 0, devminor: 0, xattrs: {},
      ...partial,
      size,
    };
    let name = e.name;
    if (e.type === 'dir' && !name.endsWith('/')) name += '/';

    const records: Buffer[] = [];
    let split = splitUstarName(name);
    if (!split) {
      records.push(paxRecord('path', name));
      split = { prefix: '', name: truncateBytes(name, 100) };
    }
    if (Buffer.byteLength(e.linkname) > 100) records.push(paxRecord('linkpath', e.linkname));
    if (!fitsOctal(e.uid, 8)) records.push(paxRecord('uid', String(e.uid)));
    if (!fitsOctal(e.gid, 8)) records.push(paxRecord('gid', String(e.gid)));
    if (!fitsOctal(e.size, 12)) records.push(paxRecord('size', String(e.size)));
    if (!fitsOctal(e.mtime, 12)) records.push(paxRecord('mtime', String(e.mtime)));
    for (const [k, v] of Object.entries(e.xattrs)) records.push(paxRecord(`SCHILY.xattr.${k}`, v));

    if (records.length) {
      const data = Buffer.concat(records);
      const base = name.replace(/\/+$/, '').split('/').pop() || 'entry';
      const paxEntry: TarEntry = { ...e, size: data.length, linkname: '', uid: 0, gid: 0, mtime: 0, xattrs: {} };
      await this.write(header(paxEntry, 'x', truncateBytes(`PaxHeaders.0/${base}`, 100), ''));
      await this.write(data);
      await this.write(Buffer.alloc(pad(data.length)));
    }
    await this.write(header(e, flagByType[e.type], split.name, split.prefix));
    if (!isFile) return;

    if (body === undefined || Buffer.isBuffer(body)) {
      if (size) await this.write(body ?? Buffer.alloc(0));
    } else {
      let written = 0;
      for await (const chunk of body) {
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        written += b.length;
        if (written > size) throw invalidArgument(`tar: body of "${e.name}" is longer than its size ${size}`);
        await this.write(b);
      }
      if (written !== size) throw invalidArgument(`tar: body of "${e.name}" is ${written} bytes, entry says ${size}`);
    }
    await this.write(Buffer.alloc(pad(size)));
  }

  private async write(b: Buffer): Promise<void> {
    if (b.length === 0) return;
    if (!this.out.write(b)) await once(this.out, 'drain');
  }
}

function truncateBytes(s: string, max: number): string {
  const b = Buffer.from(s);
  if (b.length <= max) return s;
  return b.subarray(0, max).toString('utf8').replace(/\uFFFD+$/, '');
}
