// `berth pull`: reference → registry (mirrors first, per registries.conf) → manifest (the
// platform's, from an index) → config → layers. Layers download in parallel, each one
// through a digest/size check into its staging file in the ingest dir; one unpacking at a
// time, in layer order, has a snapshot worker read a layer's file, following it while it
// is still being written, decompress it, check the diffID and unpack it. Unpacking thus
// overlaps the downloads, its per-byte work stays off this thread, and the memory a pull
// holds does not grow with the layers it downloads at once.
// A blob gets its name only when its digest matched; the image rows are written in one
// transaction at the end; on any failure whatever this pull created is removed again.
import { createHash } from 'node:crypto';
import { closeSync, fsync, openSync, rmSync, write } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isDigest, StagedBlob, type ContentStore } from '../content/index.js';
import { BerthError, dataLoss, fromSystemError, invalidArgument, isBerthError, notFound } from '../errors/index.js';
import { pullSources, type RegistriesConf, type RegistryClient, type Repository } from '../registry/index.js';
import { LayerFile } from '../snapshot/index.js';
import { bufferChurn } from '../sys/index.js';
import type { ImageRecords, NewImage } from './records.js';
import { DEFAULT_DOMAIN, formatReference, normalizeReference, parseReference, repositoryOf, type Reference } from './reference.js';
import { formatPlatform, parsePlatform, selectPlatform } from './platform.js';
import { isIndexMediaType, type ImageConfigFile, type Index, type Manifest, type OciDescriptor } from './types.js';
import { chainIds, chainSize, Leftovers, storedLayer, type LayerSnapshots } from './unpack.js';

export interface PullOptions {
  /** 'os/arch[/variant]'; default this machine's. */
  platform?: string;
  /** Layers downloaded at once (default 3). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (e: PullProgress) => void;
  /** Told what the pull is about to rely on, before it looks whether they exist (see gc.ts). */
  lease?: { add(resources: { blobs?: string[]; chainIds?: string[] }): void };
}

export type PullProgress =
  | { type: 'trying'; reference: string; source: string }
  | { type: 'manifest'; digest: string }
  /** Another process downloads (or unpacks) this layer; this pull waits for it (bounded: it gives up when that process stalls). */
  | { type: 'waiting'; digest: string; pid: number; work: 'download' | 'unpack' }
  | { type: 'blob'; kind: 'config' | 'layer'; digest: string; size: number; bytes: number; status: 'exists' | 'downloading' | 'done' };

/** What a pull needs from the registry side. */
export interface RegistryAccess {
  client: RegistryClient;
  conf: RegistriesConf;
}

const MAX_CONFIG = 16 << 20;
const MAX_INDEX_DEPTH = 4;

export async function pullImage(
  content: ContentStore,
  snapshots: LayerSnapshots,
  records: ImageRecords,
  registry: RegistryAccess,
  refText: string,
  opts: PullOptions = {},
): Promise<{ image: NewImage; name?: string }> {
  const platform = parsePlatform(opts.platform);
  const progress = opts.onProgress ?? (() => {});
  const { ref, repo, manifest: top } = await findManifest(registry, refText, progress, opts.signal);

  // Index → the platform's manifest.
  let manifest = top;
  for (let depth = 0; isIndexMediaType(manifest.mediaType); depth++) {
    if (depth >= MAX_INDEX_DEPTH) throw invalidArgument(`${refText}: image indexes nested too deeply`);
    const index = manifest.json as Index;
    const pick = selectPlatform(index.manifests, platform);
    if (!pick) {
      const have = (index.manifests ?? []).map((m) => m.platform && formatPlatform(m.platform)).filter(Boolean).join(', ');
      throw notFound(`${refText}: no image for platform ${formatPlatform(platform)} (the index has ${have || 'no platforms'})`);
    }
    const fetched = await repo.getManifest(pick.digest, opts.signal);
    manifest = { ...fetched, json: parseJson(fetched.bytes, `manifest ${pick.digest}`) };
  }
  progress({ type: 'manifest', digest: manifest.digest });
  const m = manifest.json as Manifest;
  if (!m?.config?.digest || !Array.isArray(m.layers)) throw invalidArgument(`${refText}: manifest ${manifest.digest} lacks config or layers`);
  for (const d of [m.config, ...m.layers]) {
    if (!isDigest(d?.digest) || typeof d.size !== 'number' || d.size < 0)
      throw invalidArgument(`${refText}: manifest ${manifest.digest} has an invalid or unsupported descriptor ${d?.digest}`);
  }
  const configType = m.config.mediaType;
  if (configType && configType !== 'application/vnd.oci.image.config.v1+json' && configType !== 'application/vnd.docker.container.image.v1+json')
    throw invalidArgument(`${refText} is not a container image (its config is ${configType})`);

  await opts.lease?.add({ blobs: [manifest.digest, m.config.digest, ...m.layers.map((l) => l.digest)] });
  const leftovers = new Leftovers(content, snapshots, records);
  try {
    const configText = await fetchConfig(content, repo, m.config, leftovers, progress, opts.signal);
    let config: ImageConfigFile;
    try {
      config = JSON.parse(configText) as ImageConfigFile;
    } catch {
      throw invalidArgument(`${refText}: the image config is not valid JSON`);
    }
    const diffIds = config?.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || !diffIds.every(isDigest))
      throw invalidArgument(`${refText}: the image config has no valid rootfs.diff_ids`);
    if (diffIds.length !== m.layers.length) throw invalidArgument(`${refText}: ${m.layers.length} layers but the config lists ${diffIds.length} diff IDs`);

    const chains = chainIds(diffIds);
    await opts.lease?.add({ chainIds: chains });
    // Each layer's fetch tells its unpacking what there is to unpack before it downloads.
    const found = m.layers.map(() => deferred<ToUnpack | null>());
    const ctx = (signal: AbortSignal): LayerContext => ({ content, snapshots, repo, leftovers, progress, signal });
    await runPools(m.layers.length, opts.signal, [
      { limit: opts.concurrency ?? 3, task: (i, signal) => fetchLayer(ctx(signal), m.layers[i], chains[i], found[i]) },
      { limit: 1, task: (i, signal) => unpackLayer(ctx(signal), chains[i], i === 0 ? null : chains[i - 1], diffIds[i], found[i].promise) },
    ]);

    const manifestDesc = await leftovers.putBytes(manifest.bytes);
    const name = ref.tag ? formatReference({ ...ref, digest: undefined }) : undefined;
    // What the registry served (an index's digest, when the reference named one) beside the
    // manifest's. Pulled by digest, the image has no name: the repository (as the user names
    // it, not a mirror's) stands for one, as podman keeps 'repo@digest' among its names.
    const repository = name ? '' : repositoryOf(ref);
    const servedDigests = [...new Set([top.digest, manifestDesc.digest])].map((digest) => ({ repository, digest }));
    const image: NewImage = {
      id: m.config.digest.slice('sha256:'.length),
      manifestDigest: manifestDesc.digest,
      manifestMediaType: manifest.mediaType,
      configText,
      layers: m.layers.map((l, i) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, diffId: diffIds[i], chainId: chains[i] })),
      size: chainSize(snapshots, chains),
      names: name ? [name] : [],
      servedDigests,
    };
    await records.insert([image]);
    return { image, name };
  } catch (e) {
    await leftovers.cleanup();
    throw opts.signal?.aborted ? opts.signal.reason : e;
  }
}

interface Fetched {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  json: unknown;
}

/**
 * Tries each candidate name (unqualified names: each search registry) and each source
 * (mirrors, then the origin) until one has the manifest.
 */
async function findManifest(
  registry: RegistryAccess,
  refText: string,
  progress: (e: PullProgress) => void,
  signal?: AbortSignal,
): Promise<{ ref: Reference; repo: Repository; manifest: Fetched }> {
  const parsed = parseReference(refText);
  const domains = parsed.domain ? [parsed.domain] : registry.conf.unqualifiedSearch.length ? registry.conf.unqualifiedSearch : [DEFAULT_DOMAIN];
  const errors: { where: string; error: unknown }[] = [];
  for (const domain of domains) {
    const ref = normalizeReference(parsed.domain ? refText : `${domain}/${refText}`);
    const sources = pullSources(registry.conf, repositoryOf(ref), ref.digest !== undefined);
    for (const source of sources) {
      const repo = registry.client.repository(source);
      const reference = ref.digest ?? ref.tag!;
      progress({ type: 'trying', reference: formatReference(ref), source: `${source.host}/${source.path}` });
      try {
        const fetched = await repo.getManifest(reference, signal);
        return { ref, repo, manifest: { ...fetched, json: parseJson(fetched.bytes, `manifest ${reference}`) } };
      } catch (e) {
        signal?.throwIfAborted();
        // Wrong data or a refused format is final; a mirror or search registry that fails is skipped.
        if (isBerthError(e, 'InvalidArgument') || isBerthError(e, 'DataLoss')) throw e;
        errors.push({ where: source.mirror ? `mirror ${source.host}` : source.host, error: e });
      }
    }
  }
  if (errors.length === 1) throw errors[0].error;
  const last = errors.at(-1)!.error as BerthError;
  throw new BerthError(last.code ?? 'NotFound', `pulling ${refText}: ${errors.map((e) => `${e.where}: ${(e.error as Error).message}`).join('; ')}`);
}

async function fetchConfig(
  content: ContentStore,
  repo: Repository,
  desc: OciDescriptor,
  leftovers: Leftovers,
  progress: (e: PullProgress) => void,
  signal?: AbortSignal,
): Promise<string> {
  if (content.has(desc.digest)) {
    progress({ type: 'blob', kind: 'config', digest: desc.digest, size: desc.size, bytes: desc.size, status: 'exists' });
    return content.readBytes(desc.digest).toString('utf8');
  }
  if (desc.size > MAX_CONFIG) throw invalidArgument(`image config ${desc.digest} is larger than ${MAX_CONFIG} bytes`);
  const chunks: Buffer[] = [];
  for await (const c of repo.fetchBlob(desc.digest, desc.size, signal)) chunks.push(c as Buffer);
  const bytes = Buffer.concat(chunks);
  const got = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
  if (got !== desc.digest) throw dataLoss(`config ${desc.digest}: digest mismatch: expected ${desc.digest} got ${got}`);
  if (bytes.length !== desc.size) throw dataLoss(`config ${desc.digest}: size mismatch: expected ${desc.size} bytes got ${bytes.length}`);
  await leftovers.putBytes(bytes);
  progress({ type: 'blob', kind: 'config', digest: desc.digest, size: desc.size, bytes: desc.size, status: 'done' });
  return bytes.toString('utf8');
}

interface LayerContext {
  content: ContentStore;
  snapshots: LayerSnapshots;
  repo: Repository;
  leftovers: Leftovers;
  progress: (e: PullProgress) => void;
  signal: AbortSignal;
}

/** What a layer's fetch leaves to its unpacking: the layer to open, and the report that the layer is done, to call once unpacked. */
interface ToUnpack {
  open: () => LayerFile;
  done: () => void;
}

/**
 * Makes sure one layer's blob exists, downloading it unless it does, and tells the
 * layer's unpacking (found) what it is to unpack: nothing when the snapshot exists, else
 * the stored blob or the download's staging file, before the download starts.
 */
async function fetchLayer(ctx: LayerContext, layer: OciDescriptor, chainId: string, found: Deferred<ToUnpack | null>): Promise<void> {
  const { content, snapshots, progress } = ctx;
  const event = (status: 'exists' | 'downloading' | 'done', bytes: number) =>
    progress({ type: 'blob', kind: 'layer', digest: layer.digest, size: layer.size, bytes, status });
  try {
    // A concurrent pull of the same blob (another process) downloads it once; this one waits.
    const release = content.has(layer.digest)
      ? undefined
      : await content.claimDownload(layer.digest, { signal: ctx.signal, onWait: (pid) => progress({ type: 'waiting', digest: layer.digest, pid, work: 'download' }) });
    try {
      const haveBlob = content.has(layer.digest);
      const haveSnapshot = snapshots.has(chainId);
      if (haveBlob && haveSnapshot) {
        found.resolve(null);
        return event('exists', layer.size);
      }
      // 'done' once both the download and the unpacking (those there are) are over.
      let left = (haveBlob ? 0 : 1) + (haveSnapshot ? 0 : 1);
      const done = () => {
        if (--left === 0) event('done', layer.size);
      };
      if (haveBlob) return found.resolve({ open: () => storedLayer(content, layer.digest), done });
      let staging: StagingFile;
      try {
        staging = new StagingFile(content, layer.digest);
      } catch (e) {
        throw fromSystemError(e, `writing layer ${layer.digest} to ${content.dir}`);
      }
      found.resolve(haveSnapshot ? null : { open: () => staging.open(), done });
      await downloadLayer(ctx, layer, staging, event);
      done();
    } finally {
      release?.();
    }
  } catch (e) {
    found.reject(e);
    throw e;
  }
}

/** Downloads a layer blob into its staging file, verifying it, and stores it. */
async function downloadLayer(
  ctx: LayerContext,
  layer: OciDescriptor,
  staging: StagingFile,
  event: (status: 'exists' | 'downloading' | 'done', bytes: number) => void,
): Promise<void> {
  const { content, leftovers } = ctx;
  event('downloading', 0);
  const body = ctx.repo.fetchBlob(layer.digest, layer.size, ctx.signal, layer.urls);
  const writer = new BlobWriter(staging, layer.digest, layer.size, (bytes) => event('downloading', bytes));
  try {
    try {
      await pipeline(body, writer);
    } finally {
      // No write of it is under way any more.
      await new Promise<void>((r) => (writer.closed ? r() : writer.once('close', () => r())));
    }
    staging.end();
    await new Promise<void>((resolve, reject) => fsync(staging.fd, (e) => (e ? reject(e) : resolve())));
    staging.closeWriting();
    await leftovers.commit(new StagedBlob(content, staging.temp, layer.digest, layer.size), { digest: layer.digest, size: layer.size });
  } catch (e) {
    staging.fail(e as Error);
    staging.closeWriting();
    rmSync(staging.temp, { force: true });
    // A failed write (a full disk) says what it was writing.
    throw (e as NodeJS.ErrnoException)?.syscall ? fromSystemError(e, `writing layer ${layer.digest} to ${content.dir}`) : e;
  }
}

/** The one unpacking at a time: what the layer's fetch found to unpack, into snapshot chainId, checking its diffID on the way. */
async function unpackLayer(ctx: LayerContext, chainId: string, parent: string | null, diffId: string, found: Promise<ToUnpack | null>): Promise<void> {
  const next = await unlessAborted(found, ctx.signal);
  if (!next) return;
  let opened = false;
  await ctx.snapshots.ensure(chainId, parent, diffId, async () => {
    opened = true;
    return next.open();
  }, { signal: ctx.signal, verify: true, onWait: (pid) => ctx.progress({ type: 'waiting', digest: diffId, pid, work: 'unpack' }) });
  if (opened) ctx.leftovers.createdSnapshot(chainId);
  next.done();
}

/**
 * A layer download's staging file in the ingest dir: written through fd; read by the
 * layer's unpacking, which may open it while the bytes still come and then hears how far
 * they are there (grew), that all are and match the digest (end), or that they never will
 * (fail).
 */
class StagingFile {
  readonly temp: string;
  readonly fd: number;
  private written = 0;
  private complete = false;
  private failure?: Error;
  private reader?: LayerFile;
  private writing = true;

  constructor(
    private readonly content: ContentStore,
    private readonly digest: string,
  ) {
    this.temp = content.tempPath();
    this.fd = openSync(this.temp, 'wx', 0o600);
  }

  /** The bytes there so far, and those that follow; the stored blob once it was renamed into the store. */
  open(): LayerFile {
    if (this.failure) throw this.failure;
    let fd: number;
    try {
      fd = openSync(this.temp, 'r');
    } catch (e) {
      if (this.complete && (e as NodeJS.ErrnoException).code === 'ENOENT') return storedLayer(this.content, this.digest);
      throw e;
    }
    this.reader = new LayerFile(fd, this.written, this.complete);
    return this.reader;
  }

  grew(bytes: number): void {
    this.written = bytes;
    this.reader?.grow(bytes);
  }

  end(): void {
    this.complete = true;
    this.reader?.end();
  }

  fail(e: Error): void {
    this.failure ??= e;
    this.reader?.fail(e);
  }

  closeWriting(): void {
    if (!this.writing) return;
    this.writing = false;
    closeSync(this.fd);
  }
}

/** Bytes per write of a staging file. */
const BATCH = 256 << 10;
/** Batches one download fills and writes: one written while the next fill. */
const BATCHES = 4;
/**
 * Bytes a download takes in one turn of the event loop. A fast registry fills the socket
 * faster than hashing drains it, and one poll of it hands over up to 2 MiB in a row: without
 * a turn given back, timers and other requests wait for all of it.
 */
const TURN_BYTES = 512 << 10;

/**
 * Writes a blob to its staging file, hashing and counting the bytes on the way (SHA-256
 * here is cheaper than handing the bytes to another thread); fails on a size overrun or a
 * digest mismatch, before the last batch is written. The bytes are copied out of the
 * network's chunks at once into a few reused batches, written in order one at a time: no
 * network buffer outlives its arrival (buffers held across collections of the young
 * generation make for full ones), nothing is allocated per batch, and the file grows
 * from its start for an unpacking that follows it.
 */
class BlobWriter extends Writable {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private written = 0;
  private lastReport = 0;
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private batch: Buffer | undefined;
  private filled = 0;
  private turnBytes = 0;
  /** Full batches (the last one maybe not full) waiting to be written, in order. */
  private readonly queued: { buf: Buffer; start: number; end: number }[] = [];
  private writing = false;
  private failure: Error | undefined;
  /** A write's callback held until a batch is free again; the final callback until all is written. */
  private blocked: (() => void) | undefined;
  private finalCb: ((e?: Error | null) => void) | undefined;
  private destroyCb: (() => void) | undefined;

  constructor(
    private readonly staging: StagingFile,
    private readonly digest: string,
    private readonly size: number,
    private readonly report: (bytes: number) => void,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.size) return cb(dataLoss(`blob ${this.digest}: size mismatch: more than the expected ${this.size} bytes`));
    this.hash.update(chunk);
    bufferChurn(chunk.length * 2); // the socket's read and the HTTP parser's copy of it, dead once copied here
    this.turnBytes += chunk.length;
    // Past a turn's bytes, the next chunk waits for the next turn (the socket stops reading meanwhile).
    const next = this.turnBytes < TURN_BYTES ? cb : ((this.turnBytes = 0), (e?: Error | null) => setImmediate(cb, e));
    this.take(chunk, 0, next);
    const now = Date.now();
    if (now - this.lastReport > 100) {
      this.lastReport = now;
      this.report(this.bytes);
    }
  }

  /** Copies chunk from off into batches; waits for a free one when all are full. */
  private take(chunk: Buffer, off: number, cb: (e?: Error | null) => void): void {
    while (off < chunk.length) {
      if (this.failure) return cb(this.failure);
      if (!this.batch) {
        this.batch = this.free.pop() ?? (this.allocated < BATCHES ? (this.allocated++, Buffer.allocUnsafeSlow(BATCH)) : undefined);
        if (!this.batch) {
          this.blocked = () => this.take(chunk, off, cb);
          return;
        }
      }
      const n = chunk.copy(this.batch, this.filled, off);
      this.filled += n;
      off += n;
      if (this.filled === BATCH) this.queue();
    }
    cb();
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.bytes !== this.size) return cb(dataLoss(`blob ${this.digest}: size mismatch: expected ${this.size} bytes got ${this.bytes}`));
    const got = 'sha256:' + this.hash.digest('hex');
    if (got !== this.digest) return cb(dataLoss(`blob ${this.digest}: digest mismatch: expected ${this.digest} got ${got}`));
    this.queue();
    if (this.failure || (!this.writing && this.queued.length === 0)) return cb(this.failure);
    this.finalCb = cb;
  }

  override _destroy(e: Error | null, cb: (e?: Error | null) => void): void {
    this.failure ??= e ?? new Error('blob download stopped');
    // The file's owner may close it once this stream closes: not while a write is under way.
    if (this.writing) this.destroyCb = () => cb(e);
    else cb(e);
  }

  private queue(): void {
    if (this.batch && this.filled > 0) this.queued.push({ buf: this.batch, start: 0, end: this.filled });
    else if (this.batch) this.free.push(this.batch);
    this.batch = undefined;
    this.filled = 0;
    this.pump();
  }

  private pump(): void {
    if (this.writing || this.failure || this.queued.length === 0) return;
    const q = this.queued[0];
    this.writing = true;
    write(this.staging.fd, q.buf, q.start, q.end - q.start, this.written, (err, n) => {
      this.writing = false;
      if (this.destroyCb) return this.destroyCb();
      if (err) return this.fail(err);
      this.written += n;
      this.staging.grew(this.written);
      q.start += n;
      if (q.start === q.end) {
        this.queued.shift();
        this.free.push(q.buf);
        const resume = this.blocked;
        this.blocked = undefined;
        resume?.();
      }
      this.pump();
      if (!this.writing && this.queued.length === 0 && this.finalCb) this.finalCb();
    });
  }

  private fail(e: Error): void {
    this.failure = e;
    const final = this.finalCb;
    const resume = this.blocked;
    this.blocked = undefined;
    if (final) final(e);
    else if (resume) resume(); // its callback gets the failure
    else this.destroy(e);
  }
}

/**
 * Runs each pool's task(0..n-1) in order, at most `limit` of one pool at a time, the
 * pools side by side. On the first failure the others are aborted, and it waits for all
 * of them to stop before rethrowing (so a cleanup after it sees everything they made).
 */
async function runPools(
  n: number,
  outer: AbortSignal | undefined,
  pools: { limit: number; task: (i: number, signal: AbortSignal) => Promise<void> }[],
): Promise<void> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  if (outer?.aborted) onAbort();
  let failure: unknown;
  const worker = async (task: (i: number, signal: AbortSignal) => Promise<void>, next: { i: number }) => {
    while (failure === undefined && !ac.signal.aborted && next.i < n) {
      const i = next.i++;
      try {
        await task(i, ac.signal);
      } catch (e) {
        if (failure === undefined) failure = e;
        ac.abort(e);
      }
    }
  };
  try {
    await Promise.all(
      pools.flatMap(({ limit, task }) => {
        const next = { i: 0 };
        return Array.from({ length: Math.max(1, Math.min(limit, n)) }, () => worker(task, next));
      }),
    );
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
  // Cancelled: the tasks failed because of it, and the caller's reason says so.
  outer?.throwIfAborted();
  if (failure !== undefined) throw failure;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

/** A promise settled from outside; a rejection nobody awaits is no unhandled one. */
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** p, or the signal's reason once it is aborted. */
function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalidArgument(`${what} is not valid JSON`);
  }
}

