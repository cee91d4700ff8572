import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ContentStore, sha256Digest } from '../../src/content/index.js';
import { isBerthError } from '../../src/errors/index.js';

function setup(t: { after: (fn: () => void) => void }): { dir: string; cs: ContentStore } {
  const dir = mkdtempSync('/tmp/berth-test-content-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, cs: new ContentStore(dir) };
}

const ingestLeft = (dir: string) => (existsSync(join(dir, 'ingest')) ? readdirSync(join(dir, 'ingest')) : []);

/** n × 64 KiB of random bytes, and their digest. */
function bigData(n: number): { data: Buffer; digest: string } {
  const data = randomBytes(n * 65536);
  return { data, digest: sha256Digest(data) };
}

test('ingest stores a stream under its digest and verifies digest and size', async (t) => {
  const { dir, cs } = setup(t);
  const { data, digest } = bigData(20);
  const d = await cs.ingest(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), { expected: { digest, size: data.length } });
  assert.deepEqual(d, { digest, size: data.length });
  assert.ok(cs.has(digest));
  assert.equal(cs.size(digest), data.length);
  assert.ok(cs.readBytes(digest).equals(data));
  assert.equal(cs.path(digest), join(dir, 'blobs', 'sha256', digest.slice(7)));
  const chunks: Buffer[] = [];
  for await (const c of cs.read(digest)) chunks.push(c as Buffer);
  assert.ok(Buffer.concat(chunks).equals(data));
  assert.deepEqual(cs.list(), [{ digest, size: data.length }]);
  assert.deepEqual(ingestLeft(dir), []);
});

test('a digest mismatch is DataLoss and leaves neither blob nor temp file', async (t) => {
  const { dir, cs } = setup(t);
  const wrong = sha256Digest('something else');
  await assert.rejects(cs.ingest(Readable.from([Buffer.from('hello')]), { expected: { digest: wrong } }), (e: unknown) => {
    assert.ok(isBerthError(e, 'DataLoss'));
    assert.equal(e.message, `digest mismatch: expected ${wrong} got ${sha256Digest('hello')}`);
    return true;
  });
  assert.equal(cs.has(wrong), false);
  assert.equal(cs.has(sha256Digest('hello')), false);
  assert.deepEqual(cs.list(), []);
  assert.deepEqual(ingestLeft(dir), []);
});

test('a size mismatch is DataLoss, also when the stream is longer than expected', async (t) => {
  const { dir, cs } = setup(t);
  const digest = sha256Digest('hello');
  await assert.rejects(cs.ingest(Readable.from([Buffer.from('hello')]), { expected: { digest, size: 4 } }), (e: unknown) => isBerthError(e, 'DataLoss'));
  await assert.rejects(cs.ingest(Readable.from([Buffer.from('hello')]), { expected: { size: 6 } }), (e: unknown) => isBerthError(e, 'DataLoss'));
  assert.deepEqual(cs.list(), []);
  assert.deepEqual(ingestLeft(dir), []);
});

test('a stream that fails midway leaves nothing behind', async (t) => {
  const { dir, cs } = setup(t);
  async function* failing() {
    yield Buffer.from('part one');
    throw new Error('connection reset');
  }
  await assert.rejects(cs.ingest(Readable.from(failing())), /connection reset/);
  assert.deepEqual(cs.list(), []);
  assert.deepEqual(ingestLeft(dir), []);
});

test('concurrent ingests of the same content all succeed and store one blob', async (t) => {
  const { dir, cs } = setup(t);
  const { data, digest } = bigData(16);
  const results = await Promise.all(Array.from({ length: 8 }, () => cs.ingest(Readable.from([data]), { expected: { digest } })));
  for (const r of results) assert.equal(r.digest, digest);
  assert.deepEqual(cs.list(), [{ digest, size: data.length }]);
  assert.ok(readFileSync(cs.path(digest)).equals(data));
  assert.deepEqual(ingestLeft(dir), []);
});

test('putBytes, readBytes, delete; missing blobs are NotFound; bad digests are InvalidArgument', async (t) => {
  const { cs } = setup(t);
  const buf = Buffer.from('{"a":1}');
  const d = await cs.putBytes(buf);
  assert.equal(d.digest, sha256Digest(buf));
  assert.equal((await cs.putBytes(buf, d.digest)).digest, d.digest); // idempotent
  await assert.rejects(cs.putBytes(Buffer.from('x'), d.digest), (e: unknown) => isBerthError(e, 'DataLoss'));
  assert.ok(cs.readBytes(d.digest).equals(buf));
  cs.delete(d.digest);
  assert.equal(cs.has(d.digest), false);
  assert.throws(() => cs.readBytes(d.digest), (e: unknown) => isBerthError(e, 'NotFound') && e.message === `blob not found: ${d.digest}`);
  assert.throws(() => cs.read(d.digest), (e: unknown) => isBerthError(e, 'NotFound'));
  assert.throws(() => cs.size(d.digest), (e: unknown) => isBerthError(e, 'NotFound'));
  assert.throws(() => cs.path('sha256:../../etc/passwd'), (e: unknown) => isBerthError(e, 'InvalidArgument'));
  assert.throws(() => cs.has('md5:abc'), (e: unknown) => isBerthError(e, 'InvalidArgument'));
});

test('a staged blob is unnamed until committed, and discard removes it', async (t) => {
  const { dir, cs } = setup(t);
  const a = await cs.stage(Readable.from([Buffer.from('aaa')]));
  const b = await cs.stage(Readable.from([Buffer.from('bbb')]));
  assert.equal(cs.has(a.digest), false);
  assert.equal(ingestLeft(dir).length, 2);
  await a.commit({ digest: sha256Digest('aaa'), size: 3 });
  b.discard();
  assert.deepEqual(cs.list().map((d) => d.digest), [sha256Digest('aaa')]);
  assert.deepEqual(ingestLeft(dir), []);
});
