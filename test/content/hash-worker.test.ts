import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sha256Digest, Sha256Stream } from '../../src/content/index.js';

test('Sha256Stream: digests of several streams at once, any chunking, equal createHash; batches hold the bytes in order', async () => {
  // Sizes around the 1 MiB batch: empty, under, exactly, over, many batches (past the queue limit).
  const sizes = [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 20 * (1 << 20) + 12345];
  const runs = sizes.map(async (size) => {
    const data = randomBytes(size);
    const batches: Buffer[] = [];
    const hash = new Sha256Stream((b) => batches.push(Buffer.from(b)));
    for (let off = 0; off < size; ) {
      const n = Math.min(size - off, 1 + Math.floor(Math.random() * 300_000));
      const chunk = Buffer.from(data.subarray(off, off + n));
      const wait = hash.update(chunk);
      chunk.fill(0); // the hash copied it
      if (wait) await wait;
      off += n;
    }
    assert.equal(await hash.digest(), sha256Digest(data), `size ${size}`);
    assert.ok(Buffer.concat(batches).equals(data), `batches of size ${size}`);
    assert.ok(batches.slice(0, -1).every((b) => b.length === 1 << 20));
  });
  await Promise.all(runs);
});

test('Sha256Stream: an abandoned hash rejects, others go on; update after digest() throws', async () => {
  const a = new Sha256Stream();
  const b = new Sha256Stream();
  a.update(randomBytes(3 << 20));
  b.update(Buffer.from('abc'));
  a.abandon();
  await assert.rejects(a.digest());
  assert.equal(await b.digest(), sha256Digest('abc'));
  assert.throws(() => b.update(Buffer.from('x')));
});

test('Sha256Stream: an idle hash worker does not keep the process alive', () => {
  const mod = fileURLToPath(new URL('../../src/content/index.js', import.meta.url));
  const script = `import { Sha256Stream } from ${JSON.stringify(mod)};
const h = new Sha256Stream(); h.update(Buffer.from('abc')); console.log(await h.digest());`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(out.trim(), sha256Digest('abc'));
});
