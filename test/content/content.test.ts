import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ContentStore, sha256Digest } from '../../src/content/index.js';
import { isBerthError } from '../../src/errors/index.js';
import { spawnSleeper, spawnZombie, startTimeOf } from '../helpers/index.js';

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
  await cs.delete(d.digest);
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

/** The claim file claimDownload uses for digest. */
const claimFile = (dir: string, digest: string) => join(dir, 'ingest', `${digest.slice(7)}.pulling`);

test('a claim whose holder is gone, a zombie, or another process with its pid passes on at once', async (t) => {
  const { dir, cs } = setup(t);
  const { data, digest } = bigData(1);
  const sleeper = spawnSleeper(t);
  const zombie = await spawnZombie(t);
  const dead = spawnSync('true').pid!;
  const stale: [string, string][] = [
    ['a reused pid (same pid, another start time)', `${sleeper.pid}-${sleeper.startTime + 1}`],
    ['a zombie', `${zombie.pid}-${zombie.startTime}`],
    ['a zombie, pid only (older claims)', String(zombie.pid)],
    ['a dead pid', `${dead}-1`],
    ['nothing readable', ''],
  ];
  mkdirSync(join(dir, 'ingest'));
  const self = `${process.pid}-${startTimeOf(process.pid)}`;
  for (const [what, content] of stale) {
    writeFileSync(claimFile(dir, digest), content);
    const t0 = Date.now();
    const waits: unknown[] = [];
    const release = await cs.claimDownload(digest, { onWait: (h) => waits.push(h) });
    assert.ok(Date.now() - t0 < 1000, `${what}: taken over promptly`);
    assert.equal(typeof release, 'function', what);
    assert.deepEqual(waits, [], `${what}: no wait`);
    assert.equal(readFileSync(claimFile(dir, digest), 'utf8'), self, `${what}: the claim names this process`);
    release!();
    assert.equal(existsSync(claimFile(dir, digest)), false);
  }
  assert.deepEqual(ingestLeft(dir), []);
  // Held by a live process: a waiter sees the blob once it lands.
  writeFileSync(claimFile(dir, digest), `${sleeper.pid}-${sleeper.startTime}`);
  const waiting = cs.claimDownload(digest);
  await new Promise((r) => setTimeout(r, 300));
  await cs.putBytes(data);
  assert.equal(await waiting, undefined);
});

test('a waiter says so once and waits while the holder downloads, then shares the blob', async (t) => {
  const { dir, cs } = setup(t);
  const { data, digest } = bigData(4);
  const release = await cs.claimDownload(digest);
  assert.ok(release);
  const waits: unknown[] = [];
  let settled = false;
  const second = cs.claimDownload(digest, { onWait: (h) => waits.push(h), stallMs: 1000 }).finally(() => (settled = true));
  // The holder's staging file grows for longer than the stall limit.
  const temp = cs.tempPath();
  for (let i = 0; i < 12; i++) {
    appendFileSync(temp, data.subarray(i * 16384, (i + 1) * 16384));
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(settled, false, 'still waiting: the download makes progress');
  rmSync(temp);
  await cs.putBytes(data);
  assert.equal(await second, undefined, 'the blob is there: nothing to download');
  release();
  assert.deepEqual(waits, [process.pid]);
  assert.deepEqual(ingestLeft(dir), []);
});

test('a waiter gives up when the holder makes no progress (also on an older pid-only claim), or when aborted', async (t) => {
  const { dir, cs } = setup(t);
  const { digest } = bigData(1);
  const sleeper = spawnSleeper(t);
  mkdirSync(join(dir, 'ingest'));
  writeFileSync(claimFile(dir, digest), String(sleeper.pid));
  const waits: unknown[] = [];
  const t0 = Date.now();
  await assert.rejects(cs.claimDownload(digest, { onWait: (h) => waits.push(h), stallMs: 500 }), (e: Error) => {
    assert.ok(isBerthError(e, 'Unavailable'), String(e));
    assert.equal(e.message, `gave up waiting for another pull of ${digest} (pid ${sleeper.pid}): its download made no progress for 1 s`);
    return true;
  });
  assert.ok(Date.now() - t0 >= 500 && Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
  assert.deepEqual(waits, [sleeper.pid]);
  assert.equal(readFileSync(claimFile(dir, digest), 'utf8'), String(sleeper.pid), "a live holder's claim stays");

  writeFileSync(claimFile(dir, digest), `${sleeper.pid}-${sleeper.startTime}`);
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('stop')), 200);
  const t1 = Date.now();
  await assert.rejects(cs.claimDownload(digest, { signal: ac.signal }), /stop/);
  assert.ok(Date.now() - t1 < 1000);
});
