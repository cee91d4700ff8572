// A buffer's memory goes back only when V8 collects its wrapper, and V8 counts buffer
// memory towards a collection only after about 64 MiB more of it has been allocated. A
// stream that allocates a buffer per chunk (socket reads, zlib output, copies) thus keeps
// up to that much garbage per thread: a layer pull held 130 MiB of it over three threads.
// Streaming code reports what it allocates; every CHURN_BYTES a young-generation
// collection (well under a millisecond) frees the dead buffers, and malloc_trim gives
// the pages they leave between live ones back. (A full collection would free buffers
// that lived long enough to move to the old generation too, but it stops a daemon's
// loop for milliseconds.)
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mallocTrim } from './index.js';

const CHURN_BYTES = 4 << 20;
type Collect = (options: { type: 'minor'; execution: 'sync' }) => void;
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

export class BufferChurn {
  private bytes = 0;

  /** Notes n bytes of buffers allocated (and soon dead). */
  add(n: number): void {
    this.bytes += n;
    if (this.bytes < CHURN_BYTES) return;
    this.bytes = 0;
    const gc = collector();
    if (!gc) return;
    gc({ type: 'minor', execution: 'sync' });
    mallocTrim();
  }
}
