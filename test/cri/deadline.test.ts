// A PullImage whose deadline passes mid-download (or that its client cancels): the caller
// gets DEADLINE_EXCEEDED (CANCELLED), and berthd's pull is aborted through its AbortSignal
// and leaves no lease and no ingest file. And SIGTERM while a pull is in flight: the pull
// finishes, new calls are refused, berthd exits 0.
// The registry sits behind a proxy that trickles blobs, so the deadline lands while
// layers are still downloading.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance } from '../helpers/index.js';
import { openStore } from '../../src/store/index.js';
import { bigImage, insecureConf, makeLayout, skopeoPush, startFaultProxy, startRegistry, tempDir, type Fault } from '../registry/fixture.js';
import { berthOnly, logged, PEER, startBerthd } from './berthd.js';
import { criClient, grpcError, Status } from './client.js';

/** Blob bodies at about 640 KiB/s. */
const trickle: Fault = async (req, upstream, res) => {
  if (req.method !== 'GET' || !/\/blobs\/sha256:/.test(req.url ?? '')) return false;
  const up = await upstream();
  res.writeHead(up.statusCode ?? 502, up.headers);
  const timer = setInterval(() => {
    const chunk = up.read(32 << 10) as Buffer | null;
    if (chunk) res.write(chunk);
  }, 50);
  up.once('end', () => {
    clearInterval(timer);
    res.end();
  });
  res.once('close', () => {
    clearInterval(timer);
    up.destroy();
  });
  return true;
};

async function slowPull(t: TestContext, small = false) {
  const reg = await startRegistry(t);
  if (small) await skopeoPush(makeLayout(tempDir(t, 'small-layout')), 'single', `${reg.host}/slow/big:1`);
  else await skopeoPush(bigImage(tempDir(t, 'deadline-layout'), 8 << 20, 3).layout, 'big', `${reg.host}/slow/big:1`);
  const proxy = await startFaultProxy(t, reg.host, trickle);
  const inst = await newInstance(t);
  const d = await startBerthd(t, inst, { env: { CONTAINERS_REGISTRIES_CONF: insecureConf(t, proxy.host), REGISTRY_AUTH_FILE: join(inst.base, 'none.json') } });
  // Leases and ingest files are berth's own: the peer's pulls are watched through the CRI only.
  const store = berthOnly("berth's store: leases and ingest files") ? openStore(inst.root) : undefined;
  t.after(() => store?.close());
  const count = (table: string) => (store ? (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n : 0);
  const ingestDir = join(inst.root, 'content', 'ingest');
  const ingest = () => (existsSync(ingestDir) ? readdirSync(ingestDir).length : 0);
  const ref = { image: `${proxy.host}/slow/big:1` };

  /** Runs the pull; returns its error and whether a lease and ingest files were seen meanwhile. */
  const pull = async (o: { timeoutMs?: number; signal?: AbortSignal }) => {
    let sawLease = false;
    let sawIngest = false;
    const watcher = setInterval(() => {
      sawLease ||= count('leases') > 0;
      sawIngest ||= ingest() > 0;
    }, 20);
    const e = await grpcError(d.cri.image('PullImage', { image: ref }, o));
    clearInterval(watcher);
    return { e, sawLease, sawIngest };
  };

  /** berthd cleans up after the aborted pull, and nothing goes on in the background. */
  const assertCleanedUp = async () => {
    assert.equal((await d.cri.image('ImageStatus', { image: ref })).image, null, 'no image');
    if (!store) return;
    for (let i = 0; i < 200 && (count('leases') > 0 || ingest() > 0); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(count('leases'), 0, 'no lease left');
    assert.equal(ingest(), 0, 'no ingest file left');
    assert.equal(count('images'), 0);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(ingest(), 0);
    assert.equal(count('leases'), 0);
    assert.ok((await d.cri.runtime('Version')).runtime_name, 'still serving');
  };
  return { d, ref, count, pull, assertCleanedUp };
}

test('a pull past its deadline ends with DEADLINE_EXCEEDED and leaves no lease or ingest file', async (t) => {
  const { d, pull, assertCleanedUp } = await slowPull(t);
  const started = Date.now();
  const { e, sawLease, sawIngest } = await pull({ timeoutMs: 4000 });
  assert.equal(e.code, Status.DEADLINE_EXCEEDED, e.details);
  assert.ok(Date.now() - started < 8000, `answered after ${Date.now() - started} ms`);
  if (berthOnly("berth's store")) assert.ok(sawLease && sawIngest, 'the deadline came while the pull held a lease and was writing blobs');
  await assertCleanedUp();
  // The server saw the deadline as the pull's abort reason.
  const deadline = /"msg":"rpc failed","method":"ImageService\/PullImage","code":4,"error":"ImageService\/PullImage: deadline exceeded"/;
  if (berthOnly("berthd's log")) assert.match(await logged(d, deadline), deadline);
});

test('a pull its client cancels ends with CANCELLED and leaves no lease or ingest file', async (t) => {
  const { d, pull, assertCleanedUp } = await slowPull(t);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 3000);
  const { e, sawLease, sawIngest } = await pull({ signal: ac.signal });
  assert.equal(e.code, Status.CANCELLED, e.details);
  if (berthOnly("berth's store")) assert.ok(sawLease && sawIngest, 'cancelled while the pull held a lease and was writing blobs');
  await assertCleanedUp();
  const cancelled = /"msg":"rpc failed","method":"ImageService\/PullImage","code":1,"error":"ImageService\/PullImage: cancelled by the client"/;
  if (berthOnly("berthd's log")) assert.match(await logged(d, cancelled), cancelled);
});

test('SIGTERM: the pull in flight finishes, new calls are refused, berthd exits 0', { skip: PEER && "berthd's shutdown" }, async (t) => {
  const { d, ref, count } = await slowPull(t, true);
  const started = Date.now();
  const pulling = d.cri.image('PullImage', { image: ref });
  for (let i = 0; i < 400 && count('leases') === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(count('leases'), 1, 'the pull is under way');
  d.child.kill('SIGTERM');
  assert.match(await logged(d, /"msg":"shutting down"/), /"msg":"shutting down","signal":"SIGTERM","inFlight":1/);
  const late = criClient(d.socket);
  t.after(() => late.close());
  const refused = await grpcError(late.runtime('Version', {}, { timeoutMs: 5000 }));
  assert.equal(refused.code, Status.UNAVAILABLE, refused.details);
  const { image_ref } = await pulling;
  assert.match(image_ref, /^sha256:/);
  assert.ok(Date.now() - started > 500, 'the trickle made the pull take a while');
  assert.equal(await d.exited, 0);
  assert.equal(existsSync(d.socket), false);
  assert.equal(count('images'), 1, 'the pull was recorded');
  assert.equal(count('leases'), 0);
});
