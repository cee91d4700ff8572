// Content-addressed blob store: <dir>/blobs/sha256/<hex>. A blob gets its name only after
// its bytes were hashed, checked against what the caller expected, fsynced and renamed
// into place, so a name always means complete, verified content. Writers stage into
// <dir>/ingest/ first; two writers of the same digest both succeed (the rename is atomic
// and the bytes are identical).
import { createReadStream, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, dataLoss, fromSystemError, invalidArgument, notFound, unavailable } from '../errors/index.js';
import { isProcessToken, nodeCrypto, processToken, tokenAlive } from '../sys/index.js';

export interface Descriptor {
  digest: string; // 'sha256:<hex>'
  size: number;
}

const DIGEST_RE = /^sha256:([a-f0-9]{64})$/;

/** 'sha256:<64 hex digits>', the only digest berth accepts. */
export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** Validates a 'sha256:<hex>' digest and returns its hex part. */
function digestHex(digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw invalidArgument(`invalid digest "${digest}": expected sha256:<64 hex digits>`);
  return m[1];
}

export function sha256Digest(data: Buffer | string): string {
  return 'sha256:' + nodeCrypto().createHash('sha256').update(data).digest('hex');
}

/** A blob written to the ingest dir and hashed, not yet named. commit() or discard() it. */
export class StagedBlob {
  private done = false;
  constructor(
    private readonly store: ContentStore,
    readonly tempPath: string,
    readonly digest: string,
    readonly size: number,
  ) {}

  /** Reads the staged bytes (before or instead of committing). */
  open(): Readable {
    return createReadStream(this.tempPath);
  }

  /** Verifies against expected (if given) and renames the blob into place. */
  async commit(expected?: Partial<Descriptor>): Promise<Descriptor> {
    this.claim(expected);
    await this.store.adopt(this.tempPath, this.digest);
    return { digest: this.digest, size: this.size };
  }

  /** Checks the blob against expected (discarding it on a mismatch) and marks it taken. */
  private claim(expected?: Partial<Descriptor>): void {
    if (this.done) throw new BerthError('Internal', 'staged blob already committed or discarded');
    try {
      checkExpected(this.digest, this.size, expected);
    } catch (e) {
      this.discard();
      throw e;
    }
    this.done = true;
  }

  discard(): void {
    this.done = true;
    rmSync(this.tempPath, { force: true });
  }
}

function checkExpected(digest: string, size: number, expected?: Partial<Descriptor>): void {
  if (expected?.digest !== undefined && expected.digest !== digest)
    throw dataLoss(`digest mismatch: expected ${expected.digest} got ${digest}`);
  if (expected?.size !== undefined && expected.size >= 0 && expected.size !== size)
    throw dataLoss(`size mismatch for ${digest}: expected ${expected.size} bytes got ${size}`);
}

/** Ingest files of no known owner (older berth versions) count as abandoned after this long. */
export const INGEST_GRACE_MS = 60_000;

/**
 * The one rule for leftovers in the ingest dir: its process is gone, or it has no known
 * owner and was last written before cutoffMs. A living writer's file never is.
 */
export function abandonedIngest(e: Pick<IngestEntry, 'live' | 'mtimeMs'>, cutoffMs: number): boolean {
  return e.live === false || (e.live === undefined && e.mtimeMs < cutoffMs);
}

/** A file in the ingest dir, and whether the process that made it still lives (undefined: unknown). */
export interface IngestEntry {
  name: string;
  size: number;
  mtimeMs: number;
  live: boolean | undefined;
}

/** Staging files are named '<processToken>-<uuid>': a sweep tells a writer that died. */
const OWNED_RE = /^(\d+)-(\d+)-[0-9a-f-]{36}$/;
/** A download claim: '<hex>.pulling', holding its process's processToken (from older versions: its pid). */
const CLAIM_RE = /^[0-9a-f]{64}\.pulling$/;

/** How often a waiter looks whether another process's download finished. */
const CLAIM_POLL_MS = 50;
/** A waiter gives up once the holder's download has not grown for this long. */
const CLAIM_STALL_MS = 60_000;

export interface ClaimOptions {
  signal?: AbortSignal;
  /** Called once when another living process holds the claim and this one starts waiting. */
  onWait?: (holderPid: number) => void;
  /** How long the holder's ingest files may stay the same size before the waiter gives up. */
  stallMs?: number;
}

/** The holder's token a claim file holds: null when the file is gone, undefined when it names none. */
function readClaim(lock: string): string | undefined | null {
  try {
    const token = readFileSync(lock, 'utf8').trim();
    return isProcessToken(token) ? token : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromSystemError(e, `reading ${lock}`);
  }
}

export class ContentStore {
  private readonly blobDir: string;
  private readonly ingestDir: string;
  /** Blobs taken out of the store, their bytes not yet freed (see discard). */
  private readonly trashDir: string;

  constructor(readonly dir: string) {
    this.blobDir = join(dir, 'blobs', 'sha256');
    this.ingestDir = join(dir, 'ingest');
    this.trashDir = join(dir, 'trash');
  }

  path(digest: string): string {
    return join(this.blobDir, digestHex(digest));
  }

  has(digest: string): boolean {
    return existsSync(this.path(digest));
  }

  size(digest: string): number {
    try {
      return statSync(this.path(digest)).size;
    } catch (e) {
      throw this.missing(e, digest);
    }
  }

  /** Hashes and writes stream to the ingest dir without naming it yet. */
  async stage(stream: AsyncIterable<Buffer | string> | Readable, opts: { maxSize?: number } = {}): Promise<StagedBlob> {
    const temp = this.tempPath();
    const hash = nodeCrypto().createHash('sha256');
    let size = 0;
    const fh = await open(temp, 'wx', 0o600);
    try {
      for await (const chunk of stream as AsyncIterable<Buffer | string>) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        size += buf.length;
        if (opts.maxSize !== undefined && size > opts.maxSize) throw dataLoss(`blob larger than the expected ${opts.maxSize} bytes`);
        hash.update(buf);
        let off = 0;
        while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
      }
      await fh.sync();
      await fh.close();
    } catch (e) {
      await fh.close().catch(() => {});
      rmSync(temp, { force: true });
      throw e instanceof BerthError ? e : fromSystemError(e, 'writing blob');
    }
    return new StagedBlob(this, temp, 'sha256:' + hash.digest('hex'), size);
  }

  /** Stores a stream, verifying digest and size when expected is given. */
  async ingest(stream: AsyncIterable<Buffer | string> | Readable, opts: { expected?: Partial<Descriptor> } = {}): Promise<Descriptor> {
    const staged = await this.stage(stream, { maxSize: opts.expected?.size });
    return staged.commit(opts.expected);
  }

  /** Stores bytes already in memory (manifests, configs). */
  async putBytes(buf: Buffer, expectedDigest?: string): Promise<Descriptor> {
    const digest = sha256Digest(buf);
    checkExpected(digest, buf.length, { digest: expectedDigest });
    if (this.has(digest)) return { digest, size: buf.length };
    const temp = this.tempPath();
    const fh = await open(temp, 'wx', 0o600);
    try {
      await fh.writeFile(buf);
      await fh.sync();
      await fh.close();
    } catch (e) {
      await fh.close().catch(() => {});
      rmSync(temp, { force: true });
      throw fromSystemError(e, 'writing blob');
    }
    await this.adopt(temp, digest);
    return { digest, size: buf.length };
  }

  read(digest: string): Readable {
    const p = this.path(digest);
    if (!existsSync(p)) throw notFound(`blob not found: ${digest}`);
    return createReadStream(p);
  }

  readBytes(digest: string): Buffer {
    try {
      return readFileSync(this.path(digest));
    } catch (e) {
      throw this.missing(e, digest);
    }
  }

  /** Removes a blob; the unlink of a large file takes a while, so not inside a transaction. */
  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /**
   * Takes a blob out of the store at once with a rename, cheap enough inside a write
   * transaction; emptyTrash() frees its bytes after the commit. A crash in between
   * leaves the trash to the next emptyTrash().
   */
  discard(digest: string): void {
    const to = join(this.trashDir, `${digestHex(digest)}-${process.pid}-${Date.now()}`);
    try {
      renameSync(this.path(digest), to);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fromSystemError(e, `discarding blob ${digest}`);
      if (!this.has(digest)) return; // gone already
      mkdirSync(this.trashDir, { recursive: true, mode: 0o700 });
      renameSync(this.path(digest), to);
    }
  }

  /** Frees the bytes of discarded blobs. */
  async emptyTrash(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.trashDir);
    } catch {
      return;
    }
    await Promise.all(names.map((n) => rm(join(this.trashDir, n), { force: true })));
  }

  list(): Descriptor[] {
    let names: string[];
    try {
      names = readdirSync(this.blobDir);
    } catch {
      return [];
    }
    const out: Descriptor[] = [];
    for (const hex of names) {
      if (!/^[a-f0-9]{64}$/.test(hex)) continue;
      try {
        out.push({ digest: `sha256:${hex}`, size: statSync(join(this.blobDir, hex)).size });
      } catch {
        // deleted meanwhile
      }
    }
    return out;
  }

  /** The ingest dir's files: staging files and download claims, with their owners' liveness. */
  ingestEntries(): IngestEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.ingestDir);
    } catch {
      return [];
    }
    const alive = new Map<string, boolean>();
    const out: IngestEntry[] = [];
    for (const name of names) {
      const p = join(this.ingestDir, name);
      try {
        const st = statSync(p);
        let live: boolean | undefined;
        const owned = OWNED_RE.exec(name);
        if (owned) {
          const key = `${owned[1]}-${owned[2]}`;
          if (!alive.has(key)) alive.set(key, tokenAlive(key));
          live = alive.get(key);
        } else if (CLAIM_RE.test(name)) {
          const holder = readClaim(p);
          live = holder ? tokenAlive(holder) : undefined;
        }
        out.push({ name, size: st.size, mtimeMs: st.mtimeMs, live });
      } catch {
        // gone meanwhile
      }
    }
    return out;
  }

  /** Whether a process that died left files here (or files of no known owner are older than graceMs). */
  hasAbandonedIngest(graceMs = INGEST_GRACE_MS): boolean {
    const cutoff = Date.now() - graceMs;
    return this.ingestEntries().some((e) => abandonedIngest(e, cutoff));
  }

  /**
   * Removes ingest files whose process is gone, and those of no known owner older than
   * maxAgeMs; a living writer's are never touched. Returns what it removed.
   */
  async sweepIngest(maxAgeMs = 24 * 3600_000): Promise<{ files: number; bytes: number }> {
    const cutoff = Date.now() - maxAgeMs;
    const swept = { files: 0, bytes: 0 };
    for (const e of this.ingestEntries()) {
      if (!abandonedIngest(e, cutoff)) continue;
      await rm(join(this.ingestDir, e.name), { recursive: true, force: true });
      swept.files++;
      swept.bytes += e.size;
    }
    return swept;
  }

  /** Renames a fully written, fsynced and verified temp file to its digest's name (the
   *  directory's fsync on the thread pool). */
  async adopt(tempPath: string, digest: string): Promise<void> {
    this.rename(tempPath, digest);
    await syncDir(this.blobDir);
  }

  private rename(tempPath: string, digest: string): void {
    mkdirSync(this.blobDir, { recursive: true });
    try {
      renameSync(tempPath, this.path(digest));
    } catch (e) {
      rmSync(tempPath, { force: true });
      throw fromSystemError(e, `storing blob ${digest}`);
    }
  }

  /** A fresh path in the ingest dir, for staging files; its name says which process writes it. */
  tempPath(): string {
    mkdirSync(this.ingestDir, { recursive: true });
    return join(this.ingestDir, `${processToken()}-${nodeCrypto().randomUUID()}`);
  }

  /**
   * Claims the download of a blob across processes, so that concurrent pulls fetch each
   * blob once: resolves with a release function for the caller to download, or with
   * undefined once the blob is in the store (another process fetched it). A claim names
   * its process by pid and start time: one whose process is gone (or a zombie, or whose
   * pid now names another process), or that is released without the blob, passes on to
   * a waiter. A waiter gives up (Unavailable) when the holder's download stops growing.
   */
  async claimDownload(digest: string, o: ClaimOptions = {}): Promise<(() => void) | undefined> {
    const lock = join(this.ingestDir, `${digestHex(digest)}.pulling`);
    const stallMs = o.stallMs ?? CLAIM_STALL_MS;
    let watched: { holder: string; bytes: number; since: number } | undefined;
    for (;;) {
      if (this.has(digest)) return undefined;
      if (!existsSync(lock) && this.lock(lock)) return () => rmSync(lock, { force: true });
      const holder = readClaim(lock);
      if (holder === null) continue; // released meanwhile
      if (!holder || !tokenAlive(holder)) {
        // Two waiters may both take over; then both download, which the store allows.
        rmSync(lock, { force: true });
        continue;
      }
      const pid = Number.parseInt(holder, 10);
      const bytes = this.ingestBytesOf(holder);
      const now = Date.now();
      if (watched?.holder !== holder) {
        if (!watched) o.onWait?.(pid);
        watched = { holder, bytes, since: now };
      } else if (bytes !== watched.bytes) {
        watched = { holder, bytes, since: now };
      } else if (now - watched.since >= stallMs) {
        throw unavailable(`gave up waiting for another pull of ${digest} (pid ${pid}): its download made no progress for ${Math.round(stallMs / 1000)} s`);
      }
      o.signal?.throwIfAborted();
      await new Promise((r) => setTimeout(r, CLAIM_POLL_MS));
    }
  }

  /** Creates the claim file with this process's tag in it, whole (a link of a written file): false when it exists. */
  private lock(lock: string): boolean {
    const temp = this.tempPath();
    writeFileSync(temp, processToken(), { flag: 'wx', mode: 0o600 });
    try {
      linkSync(temp, lock);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(e, lock);
      return false;
    } finally {
      rmSync(temp, { force: true });
    }
  }

  /** The bytes in the staging files of the process with this token (a bare pid: any of its). */
  private ingestBytesOf(token: string): number {
    let bytes = 0;
    for (const name of readdirSync(this.ingestDir)) {
      if (!name.startsWith(`${token}-`)) continue;
      try {
        bytes += statSync(join(this.ingestDir, name)).size;
      } catch {
        // gone meanwhile
      }
    }
    return bytes;
  }

  private missing(e: unknown, digest: string): BerthError {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return notFound(`blob not found: ${digest}`);
    return fromSystemError(e, `reading blob ${digest}`);
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // best effort: the data itself was fsynced before the rename
  }
}
