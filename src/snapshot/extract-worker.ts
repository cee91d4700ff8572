// The entry of a snapshot worker thread (see worker.ts): layer decompression, the diff
// ID's hash, extraction and recursive removal run here, with their many synchronous file
// system calls, instead of on the caller's event loop. A layer in a file is read here, as
// far as its writer says its bytes are there; a layer stream's bytes arrive as messages in
// shared buffers, and each job reports what it took (and copied out), so the sender can
// keep a bounded amount in flight and reuse the buffers.
import { createHash } from 'node:crypto';
import { readlinkSync, readSync, rmSync } from 'node:fs';
import { setPriority } from 'node:os';
import { Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { BerthError, dataLoss } from '../errors/index.js';
import { bufferChurn } from '../sys/index.js';
import { applyLayerHere } from './apply.js';
import { decompressed } from './compression.js';
import type { SerializedError, ToWorker } from './worker.js';

/** The nice value of this thread (the caller's stays 0). */
const WORKER_NICE = 5;

interface Feed {
  /** A stream's batches, not yet taken. */
  chunks: Uint8Array[];
  /** A file's bytes that are there to read. */
  size: number;
  /** No more batches, or no more bytes than size. */
  ended: boolean;
  failure?: Error;
  wake?: () => void;
  abort: AbortController;
}

const port = parentPort!;
const feeds = new Map<number, Feed>();

// Bulk work: on a busy machine the caller's event loop, which serves requests, goes first.
// Linux's nice is per thread; /proc/thread-self names this thread's id.
try {
  setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), WORKER_NICE);
} catch {
  // not Linux, or not allowed: the default priority
}

function serialize(e: unknown): SerializedError {
  const err = e as NodeJS.ErrnoException;
  return {
    berthCode: e instanceof BerthError ? e.code : undefined,
    name: err?.name ?? 'Error',
    message: err?.message ?? String(e),
    code: err?.code,
    errno: err?.errno,
    syscall: err?.syscall,
    path: err?.path,
  };
}

async function* chunksOf(id: number, feed: Feed): AsyncGenerator<Buffer> {
  for (;;) {
    const c = feed.chunks.shift();
    if (c) {
      const own = Buffer.from(c); // a copy: the sender reuses the shared buffer once told
      bufferChurn(c.length);
      port.postMessage({ id, took: c.length });
      yield own;
      continue;
    }
    if (feed.failure) throw feed.failure;
    if (feed.ended) return;
    await new Promise<void>((r) => (feed.wake = r));
  }
}

/** Bytes read from a layer file at once. */
const READ_CHUNK = 256 << 10;

/** The bytes of a layer file, read as far as they are there; waits for more until it is complete. */
async function* fileChunks(fd: number, feed: Feed): AsyncGenerator<Buffer> {
  let pos = 0;
  for (;;) {
    if (feed.failure) throw feed.failure;
    if (pos < feed.size) {
      const want = Math.min(READ_CHUNK, feed.size - pos);
      const buf = Buffer.allocUnsafeSlow(want);
      const n = readSync(fd, buf, 0, want, pos);
      if (n === 0) throw dataLoss(`layer file ends after ${pos} of ${feed.size} bytes`);
      pos += n;
      bufferChurn(n);
      yield n === want ? buf : buf.subarray(0, n);
      continue;
    }
    if (feed.ended) return;
    await new Promise<void>((r) => (feed.wake = r));
  }
}

function wake(feed: Feed): void {
  const w = feed.wake;
  feed.wake = undefined;
  w?.();
}

/** Counts (and hashes, when asked) what passes through; `ended` once the source is exhausted. */
async function* observed(source: Readable, hash: ReturnType<typeof createHash> | undefined, state: { ended: boolean }): AsyncGenerator<Buffer> {
  for await (const c of source as AsyncIterable<Buffer>) {
    bufferChurn(c.length);
    hash?.update(c);
    yield c;
  }
  state.ended = true;
}

/** A layer from a stream's batches, or from the file fd (of size bytes so far, complete or not). */
type Source = { fd: number; size: number; complete: boolean } | undefined;

async function apply(id: number, dir: string, diffId: string | undefined, file: Source): Promise<void> {
  const feed: Feed = { chunks: [], size: file?.size ?? 0, ended: file?.complete ?? false, abort: new AbortController() };
  feeds.set(id, feed);
  const streams: Readable[] = [];
  let outcome: { id: number; result?: { size: number }; error?: SerializedError };
  try {
    const input = Readable.from(file ? fileChunks(file.fd, feed) : chunksOf(id, feed), { objectMode: false });
    streams.push(input);
    const { stream } = await decompressed(input);
    streams.push(stream);
    const hash = diffId ? createHash('sha256') : undefined;
    const state = { ended: false };
    const tar = Readable.from(observed(stream, hash, state), { objectMode: false });
    streams.push(tar);
    const { size } = await applyLayerHere(tar, dir, { signal: feed.abort.signal });
    if (hash) {
      // The archive's end may come before the stream's: the diff ID covers all of it.
      if (!state.ended) for await (const _ of tar) feed.abort.signal.throwIfAborted();
      const got = 'sha256:' + hash.digest('hex');
      if (got !== diffId) throw dataLoss(`layer ${diffId}: digest mismatch: expected ${diffId} got ${got}`);
    }
    outcome = { id, result: { size } };
  } catch (e) {
    outcome = { id, error: serialize(e) };
  }
  feeds.delete(id);
  // A failed job's decompressor (a zstd child) stops too.
  for (const s of streams.reverse()) s.destroy();
  // The caller closes the file once told: a read still pending here must not touch it.
  feed.failure ??= new Error('extraction over');
  port.postMessage(outcome);
}

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'apply':
      void apply(m.id, m.dir, m.diffId, undefined);
      return;
    case 'applyFile':
      void apply(m.id, m.dir, m.diffId, m);
      return;
    case 'rm':
      try {
        rmSync(m.path, { recursive: true, force: true });
        port.postMessage({ id: m.id, result: {} });
      } catch (e) {
        port.postMessage({ id: m.id, error: serialize(e) });
      }
      return;
  }
  const feed = feeds.get(m.id);
  if (!feed) return;
  if (m.op === 'data') feed.chunks.push(m.chunk);
  else if (m.op === 'grow') {
    feed.size = m.size;
    feed.ended = m.complete;
  } else if (m.op === 'end') feed.ended = true;
  else {
    const reason = new Error('extraction aborted');
    reason.name = 'AbortError';
    feed.failure = reason;
    feed.abort.abort(reason);
  }
  wake(feed);
});
