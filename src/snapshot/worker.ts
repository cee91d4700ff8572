// Snapshot work off the caller's event loop: layer decompression, the diff ID's hash,
// extraction (tens of thousands of synchronous open/write/chown/xattr calls per image) and
// recursive removal of snapshot trees run on a few worker threads (extract-worker.ts). A
// daemon serving other requests meanwhile sees its loop stay responsive; a CLI gets the
// same results. A layer in a file (a stored blob, or a download's staging file that is
// still growing) the worker reads itself: the caller only says how far it may read. A
// layer stream costs the caller one copy of its bytes into reused shared buffers.
//
// The worker is a file beside this module: out/src/snapshot/extract-worker.js for the
// compiled tree, build/extract-worker.js (bundled by scripts/build.mjs) beside the CLI's
// bundle, whose import.meta.url is build/berth.cjs.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { BerthError } from '../errors/index.js';

export type ToWorker =
  | { op: 'apply'; id: number; dir: string; diffId?: string }
  | { op: 'applyFile'; id: number; dir: string; diffId?: string; fd: number; size: number; complete: boolean }
  | { op: 'grow'; id: number; size: number; complete: boolean }
  | { op: 'data'; id: number; chunk: Uint8Array }
  | { op: 'end'; id: number }
  | { op: 'abort'; id: number }
  | { op: 'rm'; id: number; path: string };

type FromWorker = { id: number; took?: number; result?: { size?: number }; error?: SerializedError };

export interface SerializedError {
  berthCode?: string;
  name: string;
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

/** Layer bytes one extraction may have sent and the worker not yet taken. */
const MAX_IN_FLIGHT = 2 << 20;
/** Bytes per message: the layer is copied into shared buffers of this size. */
const BATCH = 256 << 10;
/** Shared buffers a worker has given back, for the next batches (allocating and zeroing
 *  a fresh one per batch cost more than the copy into it); freed when no extraction runs. */
const spare: SharedArrayBuffer[] = [];
const MAX_SPARE = 2 * (MAX_IN_FLIGHT / BATCH);
let extracting = 0;

function takeBatch(): Buffer {
  return Buffer.from(spare.pop() ?? new SharedArrayBuffer(BATCH));
}

function giveBack(batches: Buffer[]): void {
  for (const b of batches) if (extracting > 0 && spare.length < MAX_SPARE) spare.push(b.buffer as SharedArrayBuffer);
}

interface Job {
  took(n: number): void;
  settle(result: FromWorker['result'], error?: Error): void;
}

function deserialize(s: SerializedError): Error {
  if (s.berthCode) return new BerthError(s.berthCode as BerthError['code'], s.message);
  const e = new Error(s.message) as NodeJS.ErrnoException;
  e.name = s.name;
  Object.assign(e, { code: s.code, errno: s.errno, syscall: s.syscall, path: s.path });
  return e;
}

/** An idle thread ends after this long: its isolate holds about 10 MiB, which a daemon would keep for good. */
const IDLE_MS = 10_000;

class SnapshotThread {
  private readonly worker: Worker;
  readonly jobs = new Map<number, Job>();
  dead = false;
  private idle?: NodeJS.Timeout;

  constructor(private readonly onDead: (t: SnapshotThread) => void) {
    // No inherited node options (test runner flags and the like are not for workers).
    this.worker = new Worker(new URL('./extract-worker.js', import.meta.url), { execArgv: [] });
    this.worker.unref();
    this.worker.on('message', (m: FromWorker) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      if (m.took !== undefined) job.took(m.took);
      if (m.result || m.error) {
        this.forget(m.id);
        job.settle(m.result, m.error && deserialize(m.error));
      }
    });
    const fail = (e: Error) => {
      if (this.dead) return;
      this.dead = true;
      this.onDead(this);
      const all = [...this.jobs.values()];
      this.jobs.clear();
      for (const j of all) j.settle(undefined, e);
    };
    this.worker.on('error', (e) => fail(new BerthError('Internal', `snapshot worker: ${e.message}`)));
    this.worker.on('exit', (code) => fail(new BerthError('Internal', `snapshot worker exited (${code})`)));
  }

  start(id: number, job: Job, msg: ToWorker, transfer: ArrayBuffer[] = []): void {
    clearTimeout(this.idle);
    if (this.jobs.size === 0) this.worker.ref(); // a result is awaited: stay alive for it
    this.jobs.set(id, job);
    this.send(msg, transfer);
  }

  send(msg: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (!this.dead) this.worker.postMessage(msg, transfer);
  }

  private forget(id: number): void {
    if (!this.jobs.delete(id) || this.jobs.size > 0) return;
    this.worker.unref();
    this.idle = setTimeout(() => this.retire(), IDLE_MS).unref();
  }

  /** Ends the idle thread; the next job starts a new one. */
  private retire(): void {
    if (this.dead || this.jobs.size > 0) return;
    this.dead = true;
    this.onDead(this);
    this.worker.terminate().catch(() => undefined);
  }
}

const threads: SnapshotThread[] = [];
/** At most this many threads: known on first use (node:os is not loaded at start-up). */
let maxThreads: number | undefined;
let nextId = 1;

/** The least busy thread; a new one while all are busy and there are fewer than maxThreads. */
function pickThread(): SnapshotThread {
  let best = threads[0];
  for (const t of threads) if (t.jobs.size < best.jobs.size) best = t;
  maxThreads ??= Math.max(1, Math.min(4, availableParallelism()));
  if (best && (best.jobs.size === 0 || threads.length >= maxThreads)) return best;
  const t = new SnapshotThread((dead) => threads.splice(threads.indexOf(dead), 1));
  threads.push(t);
  return t;
}

/** Removes path and everything under it (rm -rf) on a worker thread. */
export function removeTree(path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const id = nextId++;
    pickThread().start(id, { took() {}, settle: (_r, e) => (e ? reject(e) : resolve()) }, { op: 'rm', id, path });
  });
}

/**
 * A layer (plain or compressed tar) in a file, open for reading: a stored blob, or the
 * staging file of a download that still writes it. Its writer says how far the bytes are
 * there (grow), that all are (end), or that they never will be (fail). The fd stays
 * open until destroy(), which its reader calls once no worker reads it any more.
 */
export class LayerFile {
  failure?: Error;
  private watcher?: () => void;
  private closed = false;

  constructor(
    readonly fd: number,
    public size: number,
    public complete: boolean,
  ) {}

  /** A file that is complete: a stored blob. */
  static open(path: string): LayerFile {
    const fd = openSync(path, 'r');
    try {
      return new LayerFile(fd, fstatSync(fd).size, true);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  grow(size: number): void {
    this.size = size;
    this.watcher?.();
  }

  end(): void {
    this.complete = true;
    this.watcher?.();
  }

  fail(e: Error): void {
    this.failure ??= e;
    this.watcher?.();
  }

  /** The one reader (an extraction) hears of each change. */
  watch(fn: (() => void) | undefined): void {
    this.watcher = fn;
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/**
 * Has a worker read the layer in file (following it while it grows), decompress it, check
 * its diff ID (when given) and apply it onto dir (see apply.ts). Settles only once the
 * worker no longer reads the file; a failure of the file's writer fails it.
 */
export async function applyLayerFileOffThread(file: LayerFile, dir: string, opts: { signal?: AbortSignal; diffId?: string } = {}): Promise<{ size: number }> {
  const { signal, diffId } = opts;
  signal?.throwIfAborted();
  if (file.failure) throw file.failure;
  const id = nextId++;
  const thread = pickThread();
  const result = new Promise<{ size: number }>((resolve, reject) => {
    thread.start(
      id,
      { took() {}, settle: (r, e) => (e ? reject(e) : resolve({ size: r?.size ?? 0 })) },
      { op: 'applyFile', id, dir, diffId, fd: file.fd, size: file.size, complete: file.complete },
    );
  });
  result.catch(() => {}); // awaited below
  let told = { size: file.size, complete: file.complete };
  let aborted = false;
  const abort = () => {
    if (aborted) return;
    aborted = true;
    thread.send({ op: 'abort', id });
  };
  file.watch(() => {
    if (file.failure) return abort();
    if (file.size === told.size && file.complete === told.complete) return;
    told = { size: file.size, complete: file.complete };
    thread.send({ op: 'grow', id, ...told });
  });
  signal?.addEventListener('abort', abort, { once: true });
  try {
    return await result;
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw file.failure ?? e;
  } finally {
    file.watch(undefined);
    signal?.removeEventListener('abort', abort);
  }
}

/**
 * Streams a layer (plain or compressed tar) to a worker that decompresses it, checks its
 * diff ID (when given) and applies it onto dir (see apply.ts). The bytes go in batches of
 * shared memory that the worker copies out of as it reads them, and gives back.
 */
export async function applyLayerOffThread(layer: Readable, dir: string, opts: { signal?: AbortSignal; diffId?: string } = {}): Promise<{ size: number }> {
  const { signal, diffId } = opts;
  signal?.throwIfAborted();
  const id = nextId++;
  const thread = pickThread();
  extracting++;
  let inFlight = 0;
  let resume: (() => void) | undefined;
  let settled = false;
  /** Batches sent and not yet taken, in order: the worker takes them in order. */
  const sent: Buffer[] = [];
  let batch: Buffer | undefined;
  let filled = 0;
  const wake = () => {
    const r = resume;
    resume = undefined;
    r?.();
  };
  const result = new Promise<{ size: number }>((resolve, reject) => {
    thread.start(
      id,
      {
        took(n) {
          giveBack(sent.splice(0, 1));
          inFlight -= n;
          if (inFlight <= MAX_IN_FLIGHT / 2) wake();
        },
        settle(r, e) {
          // The worker no longer reads this job's batches (nor those still on their way).
          settled = true;
          if (--extracting === 0) spare.length = 0;
          giveBack(sent.splice(0));
          wake();
          if (e) reject(e);
          else resolve({ size: r?.size ?? 0 });
        },
      },
      { op: 'apply', id, dir, diffId },
    );
  });
  result.catch(() => {}); // awaited below on every path
  const flush = () => {
    if (!batch || filled === 0 || settled) return;
    const chunk = filled === BATCH ? batch : batch.subarray(0, filled);
    sent.push(batch);
    thread.send({ op: 'data', id, chunk });
    inFlight += filled;
    batch = undefined;
    filled = 0;
  };
  const onAbort = () => {
    thread.send({ op: 'abort', id });
    layer.destroy(); // also when it waits for bytes that do not come
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    try {
      for await (const c of layer as AsyncIterable<Buffer | string>) {
        if (settled) break; // the worker is done (end of archive) or failed: stop reading
        const chunk = typeof c === 'string' ? Buffer.from(c) : c;
        for (let off = 0; off < chunk.length; ) {
          batch ??= takeBatch();
          const n = chunk.copy(batch, filled, off);
          filled += n;
          off += n;
          if (filled === BATCH) flush();
        }
        if (inFlight > MAX_IN_FLIGHT && !settled) await new Promise<void>((r) => (resume = r));
      }
      flush();
    } catch (e) {
      // The source failed (a digest mismatch, a broken download): the worker stops, and
      // only once it no longer touches dir does the caller get the error.
      thread.send({ op: 'abort', id });
      await result.catch(() => {});
      throw signal?.aborted ? signal.reason : e;
    } finally {
      if (batch) giveBack([batch]);
    }
    thread.send({ op: 'end', id });
    try {
      return await result;
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw e;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
