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
