// The entry of a snapshot worker thread (see worker.ts): layer extraction and recursive
// removal run here, with their many synchronous file system calls, instead of on the
// caller's event loop. Tar bytes arrive as messages; each job reports what it took, so the
// sender can keep a bounded amount in flight.
import { rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { BerthError } from '../errors/index.js';
import { applyLayerHere } from './apply.js';
import type { SerializedError, ToWorker } from './worker.js';

interface Feed {
  chunks: Uint8Array[];
  ended: boolean;
  failure?: Error;
  wake?: () => void;
  abort: AbortController;
}

const port = parentPort!;
const feeds = new Map<number, Feed>();

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
      port.postMessage({ id, took: c.length });
      yield Buffer.from(c.buffer, c.byteOffset, c.length);
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

async function apply(id: number, dir: string): Promise<void> {
  const feed: Feed = { chunks: [], ended: false, abort: new AbortController() };
  feeds.set(id, feed);
  try {
    const { size } = await applyLayerHere(Readable.from(chunksOf(id, feed), { objectMode: false }), dir, { signal: feed.abort.signal });
    port.postMessage({ id, result: { size } });
  } catch (e) {
    port.postMessage({ id, error: serialize(e) });
  } finally {
    feeds.delete(id);
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'apply':
      void apply(m.id, m.dir);
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
