// bufferChurn: the garbage buffers a stream leaves go back to the system well before V8's
// own 64 MiB of buffer memory, those that reached the old generation too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setTimeout as delay } from 'node:timers/promises';
import { bufferChurn } from '../../src/sys/index.js';

setFlagsFromString('--expose-gc');
const minorGc = runInNewContext('() => gc({ type: "minor", execution: "sync" })') as () => void;
const MB = 1 << 20;

/** Buffer memory once V8 freed what its last collection found dead (it does so on another thread). */
async function external(): Promise<number> {
  await delay(50);
  return getHeapStatistics().external_memory;
}

test('bufferChurn frees dead buffers, young and old', async () => {
  const before = await external();
  // 24 MiB of buffers that live through two young collections (to the old generation), then die.
  let old: Buffer[] | undefined = Array.from({ length: 96 }, () => Buffer.allocUnsafeSlow(256 << 10).fill(1));
  minorGc();
  minorGc();
  await delay(10);
  assert.ok(old.length === 96 && (await external()) - before > 20 * MB, 'they count while alive');
  old = undefined;
  minorGc();
  assert.ok((await external()) - before > 20 * MB, 'a young collection does not free them');

  // A stream's churn: 16 MiB of short-lived buffers, reported as they go.
  for (let i = 0; i < 64; i++) {
    const chunk = Buffer.allocUnsafeSlow(256 << 10).fill(2);
    bufferChurn(chunk.length);
    if (i % 16 === 15) await delay(60); // let V8 free what each collection found
  }
  const left = (await external()) - before;
  assert.ok(left < 8 * MB, `${(left / MB).toFixed(1)} MiB of buffers left`);
});

test('bufferChurn makes at most one full collection per 32 MiB of buffers, and none for a forwarding stream', async () => {
  const { PerformanceObserver, constants } = await import('node:perf_hooks');
  let forced = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const d = (e as unknown as { detail: { kind: number; flags: number } }).detail;
      if (d.kind === constants.NODE_PERFORMANCE_GC_MAJOR && d.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) forced++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  /** 4 MiB of churn after 5 MiB of buffers that reached the old generation and died: each step asks for a full collection. */
  const step = async (o?: { forwarding: boolean }) => {
    let old: Buffer[] | undefined = Array.from({ length: 20 }, () => Buffer.allocUnsafeSlow(256 << 10).fill(1));
    minorGc();
    minorGc();
    old.length = 0;
    old = undefined;
    for (let i = 0; i < 16; i++) bufferChurn(256 << 10, o);
    await delay(20);
  };
  try {
    for (let i = 0; i < 16; i++) await step(); // 64 MiB
    await delay(50);
    const counted = forced;
    assert.ok(counted >= 1 && counted <= 3, `${counted} full collections for 64 MiB`);
    // 32 MiB: enough for one without forwarding, too little old garbage for V8's own.
    for (let i = 0; i < 8; i++) await step({ forwarding: true });
    await delay(50);
    assert.equal(forced, counted, 'a forwarding stream makes none');
  } finally {
    obs.disconnect();
  }
});
