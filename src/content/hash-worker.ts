// SHA-256 off the main thread. A pull hashes every byte twice (the compressed blob and the
// uncompressed layer) while the main thread also parses tar and writes files; one shared
// worker thread does the hashing instead. Bytes are copied into 1 MiB batches of shared
// memory, never written again once full: the worker hashes a batch while the caller passes
// the very same bytes on (to a file, to gunzip, to the tar reader), in fewer, larger chunks.
import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { BerthError } from '../errors/index.js';

const BATCH = 1 << 20;
/** Bytes one hash may have in the worker's queue before update() asks its caller to wait. */
const MAX_QUEUED = 8 * BATCH;

// The worker's code. Run with eval: the CLI is one bundled file run through vm.Script, so
// there is no worker file next to it to point at; the code needs nothing but node builtins.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  let h = hashes.get(m.id);
  if (!h) hashes.set(m.id, (h = createHash('sha256')));
  if (m.data) {
    h.update(new Uint8Array(m.data, m.offset, m.length));
    parentPort.postMessage({ id: m.id, acked: m.length });
  }
  if (m.end || m.drop) {
    hashes.delete(m.id);
    if (m.end) parentPort.postMessage({ id: m.id, digest: h.digest('hex') });
  }
});
`;

interface WorkerReply {
  id: number;
  acked?: number;
  digest?: string;
}

interface Listener {
  acked(n: number): void;
  done(hex: string): void;
  failed(e: Error): void;
}

/** The shared worker; started on first use, and kept from holding the process open while idle. */
class HashThread {
  private readonly worker: Worker;
  private readonly listeners = new Map<number, Listener>();
  private nextId = 1;
  dead = false;

  constructor() {
    // No inherited node options: --input-type=module, say, would make the code an ES module.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    this.worker.unref();
    this.worker.on('message', (m: WorkerReply) => {
      const l = this.listeners.get(m.id);
      if (!l) return;
      if (m.acked !== undefined) l.acked(m.acked);
      if (m.digest !== undefined) {
        this.release(m.id);
        l.done(m.digest);
      }
    });
    const fail = (e: Error) => {
      this.dead = true;
      const all = [...this.listeners.values()];
      this.listeners.clear();
      this.worker.unref();
      for (const l of all) l.failed(e);
    };
    this.worker.on('error', (e) => fail(new BerthError('Internal', `hash worker: ${e.message}`)));
    this.worker.on('exit', (code) => fail(new BerthError('Internal', `hash worker exited (${code})`)));
  }

  open(l: Listener): number {
    const id = this.nextId++;
    if (this.listeners.size === 0) this.worker.ref(); // a digest is awaited: stay alive for it
    this.listeners.set(id, l);
    return id;
  }

  send(id: number, msg: { data?: SharedArrayBuffer; offset?: number; length?: number; end?: boolean; drop?: boolean }): void {
    this.worker.postMessage({ id, ...msg });
  }

  release(id: number): void {
    if (this.listeners.delete(id) && this.listeners.size === 0) this.worker.unref();
  }
}

let thread: HashThread | undefined;

function hashThread(): HashThread | undefined {
  if (thread && !thread.dead) return thread;
  try {
    thread = new HashThread();
  } catch {
    thread = undefined; // no worker threads here: hash in this thread instead
  }
  return thread;
}

/** Receives each batch of bytes once it is complete (it stays unmodified afterwards). */
export type BatchSink = (batch: Buffer) => void;

/**
 * An incremental SHA-256 computed on the hash worker (in this thread when there is none).
 * update() copies bytes into 1 MiB batches and hands each complete batch to `sink`, so a
 * stream can pass the batches on instead of its own small chunks.
 */
export class Sha256Stream {
  private readonly thread: HashThread | undefined;
  private readonly local: Hash | undefined;
  private id = 0;
  private batch = newBatch();
  private filled = 0;
  private queued = 0;
  private waiter: { resolve(): void; reject(e: Error): void } | undefined;
  private readonly result: Promise<string>;
  private settle!: { resolve(hex: string): void; reject(e: Error): void };
  private failure: Error | undefined;
  private ended = false;

  constructor(private readonly sink: BatchSink = () => {}) {
    this.result = new Promise<string>((resolve, reject) => (this.settle = { resolve, reject }));
    this.result.catch(() => {}); // digest() callers see it; nobody else must
    this.thread = hashThread();
    if (!this.thread) {
      this.local = createHash('sha256');
      return;
    }
    this.id = this.thread.open({
      acked: (n) => {
        this.queued -= n;
        if (this.queued <= MAX_QUEUED / 2) this.wake();
      },
      done: (hex) => this.settle.resolve(hex),
      failed: (e) => {
        this.failure = e;
        this.settle.reject(e);
        this.wake(e);
      },
    });
  }

  /** Adds bytes (copied: the caller may reuse chunk). Returns a promise when the caller should wait before the next update. */
  update(chunk: Buffer): Promise<void> | undefined {
    if (this.ended) throw new BerthError('Internal', 'hash updated after digest()');
    if (this.failure) throw this.failure;
    for (let off = 0; off < chunk.length; ) {
      const n = chunk.copy(this.batch, this.filled, off);
      this.filled += n;
      off += n;
      if (this.filled === BATCH) this.sendBatch();
    }
    if (this.queued <= MAX_QUEUED) return undefined;
    return new Promise<void>((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Hands over the last, partial batch; resolves to 'sha256:<hex>' of everything added. */
  digest(): Promise<string> {
    if (!this.ended) {
      if (this.filled > 0 && !this.failure) this.sendBatch();
      this.ended = true;
      if (this.local) this.settle.resolve(this.local.digest('hex'));
      else if (!this.failure) this.thread!.send(this.id, { end: true });
    }
    return this.result.then((hex) => 'sha256:' + hex);
  }

  /** Drops the hash (its stream failed); the worker forgets it. */
  abandon(): void {
    if (this.ended) return;
    this.ended = true;
    this.settle.reject(new BerthError('Internal', 'hash abandoned'));
    this.waiter = undefined; // its stream is gone: nobody goes on writing
    if (this.thread && !this.failure) {
      this.thread.send(this.id, { drop: true });
      this.thread.release(this.id);
    }
  }

  private sendBatch(): void {
    const full = this.filled === BATCH ? this.batch : this.batch.subarray(0, this.filled);
    this.batch = newBatch();
    this.filled = 0;
    if (this.local) this.local.update(full);
    else {
      this.queued += full.length;
      this.thread!.send(this.id, { data: full.buffer as SharedArrayBuffer, offset: 0, length: full.length });
    }
    this.sink(full);
  }

  private wake(e?: Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) e ? w.reject(e) : w.resolve();
  }
}

function newBatch(): Buffer {
  return Buffer.from(new SharedArrayBuffer(BATCH));
}
