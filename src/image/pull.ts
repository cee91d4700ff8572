// `berth pull`: reference → registry (mirrors first, per registries.conf) → manifest (the
// platform's, from an index) → config → layers. Layers download in parallel; each one
// streams through a digest/size check into the ingest dir AND, at the same time, to a
// snapshot worker that decompresses, checks the diffID and unpacks it, so unpacking
// overlaps the download and its per-byte work stays off this thread.
// A blob gets its name only when its digest matched; the image rows are written in one
// transaction at the end; on any failure whatever this pull created is removed again.
import { createWriteStream } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { isDigest, StagedBlob, type ContentStore } from '../content/index.js';
import { BerthError, dataLoss, fromSystemError, invalidArgument, isBerthError, notFound } from '../errors/index.js';
import { pullSources, type RegistriesConf, type RegistryClient, type Repository } from '../registry/index.js';
import { awaitingReader } from '../snapshot/index.js';
import { BufferChurn } from '../sys/index.js';
import type { ImageRecords, NewImage } from './records.js';
import { DEFAULT_DOMAIN, formatReference, normalizeReference, parseReference, repositoryOf, type Reference } from './reference.js';
import { formatPlatform, parsePlatform, selectPlatform } from './platform.js';
import { isIndexMediaType, type ImageConfigFile, type Index, type Manifest, type OciDescriptor } from './types.js';
import { chainIds, chainSize, Leftovers, type LayerSnapshots } from './unpack.js';

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
    await runPool(m.layers.length, opts.concurrency ?? 3, opts.signal, (i, signal) =>
      pullLayer({ content, snapshots, repo, leftovers, progress, signal }, m.layers[i], diffIds[i], chains[i], i === 0 ? null : chains[i - 1]),
    );

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

/** Makes sure one layer's blob and snapshot exist, downloading and unpacking at once. */
async function pullLayer(ctx: LayerContext, layer: OciDescriptor, diffId: string, chainId: string, parent: string | null): Promise<void> {
  const { content, snapshots, progress } = ctx;
  const event = (status: 'exists' | 'downloading' | 'done', bytes: number) =>
    progress({ type: 'blob', kind: 'layer', digest: layer.digest, size: layer.size, bytes, status });
  // A concurrent pull of the same blob (another process) downloads it once; this one waits.
  const release = content.has(layer.digest)
    ? undefined
    : await content.claimDownload(layer.digest, { signal: ctx.signal, onWait: (pid) => progress({ type: 'waiting', digest: layer.digest, pid, work: 'download' }) });
  try {
    const haveBlob = content.has(layer.digest);
    const haveSnapshot = snapshots.has(chainId);
    if (haveBlob && haveSnapshot) return event('exists', layer.size);
    if (haveBlob) {
      await unpack(ctx, chainId, parent, diffId, async () => content.read(layer.digest));
      return event('done', layer.size);
    }
    await downloadLayer(ctx, layer, diffId, chainId, parent, haveSnapshot, event);
  } finally {
    release?.();
  }
}

/** Downloads a layer blob, verifying it, and unpacks it as it arrives (unless its snapshot exists). */
async function downloadLayer(
  ctx: LayerContext,
  layer: OciDescriptor,
  diffId: string,
  chainId: string,
  parent: string | null,
  haveSnapshot: boolean,
  event: (status: 'exists' | 'downloading' | 'done', bytes: number) => void,
): Promise<void> {
  const { content, leftovers } = ctx;
  event('downloading', 0);
  const body = ctx.repo.fetchBlob(layer.digest, layer.size, ctx.signal, layer.urls);
  const check = new BlobCheck(layer.digest, layer.size, (bytes) => event('downloading', bytes));
  const temp = content.tempPath();
  const file = createWriteStream(temp, { flags: 'wx', mode: 0o600 });
  // Read only once the snapshotter decides to unpack (maybe never: another process may).
  const toUnpack = haveSnapshot ? undefined : awaitingReader(new PassThrough());
  body.on('error', (e) => check.destroy(e));
  check.on('error', (e) => {
    file.destroy(e);
    toUnpack?.destroy(e);
  });
  body.pipe(check);
  check.pipe(file);
  if (toUnpack) check.pipe(toUnpack);
  try {
    const written = finished(file);
    const unpacked: Promise<void> = toUnpack
      ? unpack(ctx, chainId, parent, diffId, async () => toUnpack).finally(() => {
          // Nothing read it (another pull unpacked it meanwhile) or the unpacking failed.
          check.unpipe(toUnpack);
          toUnpack.resume();
        })
      : Promise.resolve();
    // Wait for both sides to stop, so that no unpacking outlives a failure here.
    const [w, u] = await Promise.allSettled([written, unpacked]);
    if (w.status === 'rejected') throw check.errored ?? w.reason;
    if (u.status === 'rejected') throw check.errored ?? u.reason;
    await fsyncFile(temp);
    await leftovers.commit(new StagedBlob(content, temp, layer.digest, layer.size), { digest: layer.digest, size: layer.size });
  } catch (e) {
    body.destroy();
    check.destroy();
    file.destroy();
    await new Promise<void>((r) => (file.closed ? r() : file.once('close', () => r()))); // its open() may be under way
    rmSync(temp, { force: true });
    // A failed write (a full disk) says what it was writing.
    throw (e as NodeJS.ErrnoException)?.syscall ? fromSystemError(e, `writing layer ${layer.digest} to ${content.dir}`) : e;
  }
  event('done', layer.size);
}

/** Unpacks a layer stream (as stored: compressed or not) into snapshot chainId, checking its diffID on the way. */
async function unpack(ctx: LayerContext, chainId: string, parent: string | null, diffId: string, source: () => Promise<Readable>): Promise<void> {
  let opened = false;
  await ctx.snapshots.ensure(chainId, parent, diffId, async () => {
    opened = true;
    return source();
  }, { signal: ctx.signal, verify: true, onWait: (pid) => ctx.progress({ type: 'waiting', digest: diffId, pid, work: 'unpack' }) });
  if (opened) ctx.leftovers.createdSnapshot(chainId);
}

/** Bytes BlobCheck gathers before it passes them on. */
const BATCH = 256 << 10;
/**
 * Bytes BlobCheck takes in one turn of the event loop. A fast registry fills the socket
 * faster than hashing drains it, and one poll of it hands over up to 2 MiB in a row: without
 * a turn given back, timers and other requests wait for all of it.
 */
const TURN_BYTES = 512 << 10;

/**
 * Hashes and counts the compressed bytes on the way through (SHA-256 here is cheaper than
 * handing the bytes to another thread); fails on a size overrun or a digest mismatch.
 * Passes the bytes on in 1 MiB batches, copied out of the network's chunks at once: fewer
 * writes and messages downstream, and no network buffer outlives its arrival (buffers
 * held across collections of the young generation make for full ones).
 */
class BlobCheck extends Transform {
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private lastReport = 0;
  private batch: Buffer | undefined;
  private filled = 0;
  private turnBytes = 0;
  private readonly churn = new BufferChurn();
  constructor(
    private readonly digest: string,
    private readonly size: number,
    private readonly report: (bytes: number) => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.size) return cb(dataLoss(`blob ${this.digest}: size mismatch: more than the expected ${this.size} bytes`));
    this.hash.update(chunk);
    this.churn.add(chunk.length * 2); // the network's chunk, and our copy of it
    for (let off = 0; off < chunk.length; ) {
      this.batch ??= Buffer.allocUnsafeSlow(Math.min(BATCH, this.size - this.bytes + chunk.length - off));
      const n = chunk.copy(this.batch, this.filled, off);
      this.filled += n;
      off += n;
      if (this.filled === this.batch.length) this.passOn();
    }
    const now = Date.now();
    if (now - this.lastReport > 100) {
      this.lastReport = now;
      this.report(this.bytes);
    }
    this.turnBytes += chunk.length;
    if (this.turnBytes < TURN_BYTES) return cb();
    // The next chunk waits for the next turn (the socket stops reading meanwhile).
    this.turnBytes = 0;
    setImmediate(cb);
  }
  override _flush(cb: TransformCallback): void {
    if (this.bytes !== this.size) return cb(dataLoss(`blob ${this.digest}: size mismatch: expected ${this.size} bytes got ${this.bytes}`));
    const got = 'sha256:' + this.hash.digest('hex');
    if (got !== this.digest) return cb(dataLoss(`blob ${this.digest}: digest mismatch: expected ${this.digest} got ${got}`));
    this.passOn();
    cb();
  }
  private passOn(): void {
    if (this.batch && this.filled > 0) this.push(this.filled === this.batch.length ? this.batch : this.batch.subarray(0, this.filled));
    this.batch = undefined;
    this.filled = 0;
  }
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await openFile(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Runs task(0..n-1), at most `limit` at a time. On the first failure the others are
 * aborted, and it waits for all of them to stop before rethrowing (so a cleanup after it
 * sees everything they made).
 */
async function runPool(n: number, limit: number, outer: AbortSignal | undefined, task: (i: number, signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < n) {
      const i = next++;
      try {
        await task(i, ac.signal);
      } catch (e) {
        if (failure === undefined) failure = e;
        ac.abort(e);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, n)) }, worker));
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
  // Cancelled: the tasks failed because of it, and the caller's reason says so.
  outer?.throwIfAborted();
  if (failure !== undefined) throw failure;
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalidArgument(`${what} is not valid JSON`);
  }
}

