// A buffer's memory goes back only when V8 collects its wrapper, and V8 counts buffer
// memory towards a collection only after about 64 MiB more of it has been allocated. A
// stream that allocates a buffer per chunk (socket reads, the HTTP parser's copies, zlib
// output) thus keeps up to that much garbage per thread: a layer pull held 130 MiB of it
// over three threads. Streaming code reports what it allocates (one count per thread,
// over all its streams); every CHURN_BYTES a young-generation collection (well under a
// millisecond) frees the dead buffers, and malloc_trim gives the pages they leave between
// live ones back.
// Chunks that wait in a stream's queue while the disk is slow live through two of those
// collections and move to the old generation, where only a full one frees them: a pull
// gathered 30-40 MiB of them. So once the buffer memory left after a young collection
// has grown by PROMOTED_BYTES over what lived on after the last full collection, the
// next collection is a full one, as long as the heap is small enough for that to take a
// few milliseconds (a CLI's, a quiet daemon's); a larger heap's would stop a daemon's
// loop for longer. At most one per FULL_MIN_CHURN of buffers: under berthd's
// --optimize-for-size V8 moves chunks to the old generation sooner, and a full collection
// every 4 MiB made a pull there a third slower.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mallocTrim } from './index.js';

const CHURN_BYTES = 4 << 20;
const PROMOTED_BYTES = 4 << 20;
/** Heap in use below which a full collection is cheap enough. */
const FULL_MAX_HEAP = 32 << 20;
/** Buffers noted between two full collections, at least. */
const FULL_MIN_CHURN = 32 << 20;

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
/** Buffers noted since the last full collection (the first may come at once). */
let sinceFull = FULL_MIN_CHURN;
/** Buffer memory that lived on after the last full collection (none before the first);
 *  measured at the next collection (undefined until then), since V8 frees the dead
 *  buffers' memory after a collection, on another thread. */
let livesOn: number | undefined = 0;

/**
 * Notes n bytes of buffers allocated on this thread (and soon dead). forwarding: for a
 * stream that goes on allocating at a high rate (a forwarded connection), only the young
 * collections: malloc reuses the freed pages for its next buffers (trimming them made each
 * fault in again), and the few chunks in flight at each collection that move to the old
 * generation are left to V8 (a full collection for them every few MiB took more CPU than
 * the forwarding itself).
 */
export function bufferChurn(n: number, o: { forwarding?: boolean } = {}): void {
  bytes += n;
  sinceFull += n;
  if (bytes < CHURN_BYTES) return;
  bytes = 0;
  const gc = collector();
  if (!gc) return;
  gc({ type: 'minor', execution: 'sync' });
  const heap = getHeapStatistics();
  if (livesOn === undefined) {
    livesOn = heap.external_memory;
  } else if (!o.forwarding && sinceFull >= FULL_MIN_CHURN && heap.external_memory - livesOn > PROMOTED_BYTES && heap.used_heap_size < FULL_MAX_HEAP) {
    gc();
    livesOn = undefined;
    sinceFull = 0;
  }
  if (!o.forwarding) mallocTrim();
}
