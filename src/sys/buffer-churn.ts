// A buffer's memory goes back only when V8 collects its wrapper, and V8 counts buffer
// memory towards a collection only after about 64 MiB more of it has been allocated. A
// stream that allocates a buffer per chunk (socket reads, the HTTP parser's copies, zlib
// output) thus keeps up to that much garbage per thread: a layer pull held 130 MiB of it
// over three threads. Streaming code reports what it allocates (one count per thread,
// over all its streams); every CHURN_BYTES a young-generation collection (well under a
// millisecond) frees the dead buffers, and malloc_trim gives the pages they leave between
// live ones back. Chunks that wait in a stream's queue while the disk is slow live through
// two of those and move to the old generation, where only a full collection frees them:
// a pull collected 30-40 MiB of them that way. So every FULL_BYTES the collection is a
// full one, as long as the heap is small enough for that to take a few milliseconds (a
// CLI's, a quiet daemon's); a larger heap's would stop a daemon's loop for longer.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mallocTrim } from './index.js';

const CHURN_BYTES = 4 << 20;
const FULL_BYTES = 32 << 20;
/** Heap in use below which a full collection is cheap enough. */
const FULL_MAX_HEAP = 32 << 20;

/** V8's gc(): with no options a full collection. */
type Collect = (options?: { type: 'minor'; execution: 'sync' }) => void;
let collect: Collect | null | undefined;

function collector(): Collect | null {
  if (collect === undefined) {
    try {
      // The flag makes the next context get a gc(); this isolate's own global stays as it was.
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as Collect;
    } catch {
      collect = null;
    }
  }
  return collect;
}

let bytes = 0;
let sinceFull = 0;

/** Notes n bytes of buffers allocated on this thread (and soon dead). */
export function bufferChurn(n: number): void {
  bytes += n;
  if (bytes < CHURN_BYTES) return;
  sinceFull += bytes;
  bytes = 0;
  const gc = collector();
  if (!gc) return;
  if (sinceFull >= FULL_BYTES && getHeapStatistics().used_heap_size < FULL_MAX_HEAP) {
    sinceFull = 0;
    gc();
  } else {
    gc({ type: 'minor', execution: 'sync' });
  }
  mallocTrim();
}
