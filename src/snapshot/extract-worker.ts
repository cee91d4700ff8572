// The entry of a snapshot worker thread (see worker.ts): layer decompression, the diff
// ID's hash, extraction and recursive removal run here, with their many synchronous file
// system calls, instead of on the caller's event loop. Layer bytes arrive as messages in
// shared buffers; each job reports what it took (and copied out), so the sender can keep
// a bounded amount in flight and reuse the buffers.
import { createHash } from 'node:crypto';
import { readlinkSync, rmSync } from 'node:fs';
import { setPriority } from 'node:os';
import { Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { BerthError, dataLoss } from '../errors/index.js';
import { BufferChurn } from '../sys/index.js';
import { applyLayerHere } from './apply.js';
import { decompressed } from './compression.js';
import type { SerializedError, ToWorker } from './worker.js';

/** The nice value of this thread (the caller's stays 0). */
const WORKER_NICE = 5;

interface Feed {
  chunks: Uint8Array[];
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

/** This thread's copies of the input and the decompressor's output. */
const churn = new BufferChurn();

async function* chunksOf(id: number, feed: Feed): AsyncGenerator<Buffer> {
  for (;;) {
    const c = feed.chunks.shift();
    if (c) {
      const own = Buffer.from(c); // a copy: the sender reuses the shared buffer once told
      churn.add(c.length);
      port.postMessage({ id, took: c.length });
      yield own;
      continue;
    }
    if (feed.failure) throw feed.failure;
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
    churn.add(c.length);
    hash?.update(c);
    yield c;
  }
  state.ended = true;
}

async function apply(id: number, dir: string, diffId: string | undefined): Promise<void> {
  const feed: Feed = { chunks: [], ended: false, abort: new AbortController() };
  feeds.set(id, feed);
  const streams: Readable[] = [];
  try {
    const input = Readable.from(chunksOf(id, feed), { objectMode: false });
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
    port.postMessage({ id, result: { size } });
  } catch (e) {
    port.postMessage({ id, error: serialize(e) });
  } finally {
    feeds.delete(id);
    // A failed job's decompressor (a zstd child) stops too.
    for (const s of streams.reverse()) s.destroy();
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'apply':
      void apply(m.id, m.dir, m.diffId);
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
  else if (m.op === 'end') feed.ended = true;
  else {
    const reason = new Error('extraction aborted');
    reason.name = 'AbortError';
    feed.failure = reason;
    feed.abort.abort(reason);
  }
  wake(feed);
});
