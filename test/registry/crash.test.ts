// Crash safety: `berth pull` SIGKILLed at several moments of a slow download, then the
// store is checked (every blob rehashes to its name, every snapshot dir has a committed
// row, every image has its blobs and snapshots) and the next pull completes. And garbage
// collection run again and again during a pull never takes what the pull relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, newInstance } from '../helpers/index.js';
import { ContentStore } from '../../src/content/index.js';
import { ImageStore } from '../../src/image/index.js';
import { Snapshotter } from '../../src/snapshot/index.js';
import { openStore } from '../../src/store/index.js';
import { bigImage, insecureConf, skopeoPush, startFaultProxy, startRegistry, tempDir } from './fixture.js';
import { ContainerRecords } from '../../src/container/index.js';

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A proxy that sends blobs at about bytesPerSecond per connection, so a pull takes seconds. */
async function slowRegistry(t: Parameters<typeof startRegistry>[0], target: string, bytesPerSecond: number) {
  return startFaultProxy(t, target, async (req, upstream, res) => {
    if (req.method !== 'GET' || !req.url?.includes('/blobs/')) return false;
    const up = await upstream();
    res.writeHead(up.statusCode ?? 200, up.headers);
    const tick = 20;
    for await (const chunk of up as AsyncIterable<Buffer>) {
      for (let off = 0; off < chunk.length; off += (bytesPerSecond * tick) / 1000) {
        if (res.destroyed) return true;
        res.write(chunk.subarray(off, off + (bytesPerSecond * tick) / 1000));
        await new Promise((r) => setTimeout(r, tick));
      }
    }
    res.end();
    return true;
  });
}

/** The store's invariants; returns a description of each violation. */
function inconsistencies(root: string): string[] {
  const problems: string[] = [];
  const blobDir = join(root, 'content', 'blobs', 'sha256');
  for (const hex of existsSync(blobDir) ? readdirSync(blobDir) : []) {
    const got = sha(readFileSync(join(blobDir, hex)));
    if (got !== `sha256:${hex}`) problems.push(`blob ${hex} hashes to ${got}`);
  }
  const store = openStore(root);
  try {
    const rows = store.db.prepare('SELECT chain_id, state FROM snapshots').all() as { chain_id: string; state: string }[];
    const committed = new Set(rows.filter((r) => r.state === 'committed').map((r) => r.chain_id.slice(7)));
    const snapDir = join(root, 'snapshots');
    for (const name of existsSync(snapDir) ? readdirSync(snapDir) : []) {
      if (/^[a-f0-9]{64}$/.test(name) && !committed.has(name)) problems.push(`snapshot dir ${name} without a committed row`);
    }
    for (const hex of committed) if (!existsSync(join(snapDir, hex, 'fs'))) problems.push(`committed snapshot ${hex} has no dir`);
    for (const img of store.db.prepare('SELECT id, manifest_digest, layers FROM images').all() as { id: string; manifest_digest: string; layers: string }[]) {
      const layers = JSON.parse(img.layers) as { digest: string; chainId: string }[];
      for (const d of [img.manifest_digest, `sha256:${img.id}`, ...layers.map((l) => l.digest)])
        if (!existsSync(join(blobDir, d.slice(7)))) problems.push(`image ${img.id} lacks blob ${d}`);
      for (const l of layers) if (!committed.has(l.chainId.slice(7))) problems.push(`image ${img.id} lacks snapshot ${l.chainId}`);
    }
  } finally {
    store.close();
  }
  return problems;
}

/** The image's random files, read back from its snapshots, match what was pushed. */
function checkFiles(root: string, files: Map<string, string>): void {
  const snapDir = join(root, 'snapshots');
  const found = new Map<string, string>();
  for (const hex of readdirSync(snapDir).filter((n) => /^[a-f0-9]{64}$/.test(n))) {
    for (const f of readdirSync(join(snapDir, hex, 'fs'))) if (files.has(f)) found.set(f, sha(readFileSync(join(snapDir, hex, 'fs', f))));
  }
  assert.deepEqual(found, files);
}

function storeOf(root: string) {
  const store = openStore(root);
  const images = new ImageStore(store, new ContentStore(join(root, 'content')), new Snapshotter(join(root, 'snapshots'), store), async () => new ContainerRecords(store).imageUsers());
  return { store, images };
}

function leaseCount(root: string): number {
  const store = openStore(root);
  try {
    return (store.db.prepare('SELECT count(*) AS n FROM leases').get() as { n: number }).n;
  } finally {
    store.close();
  }
}

async function setupPulls(t: Parameters<typeof startRegistry>[0], bytesPerSecond: number) {
  const reg = await startRegistry(t);
  const { layout, files } = bigImage(tempDir(t, 'crash-layout'));
  await skopeoPush(layout, 'big', `${reg.host}/crash/big:1`);
  const proxy = await slowRegistry(t, reg.host, bytesPerSecond);
  const inst = await newInstance(t);
  t.after(() => inst.cleanup());
  const env = { ...inst.env, CONTAINERS_REGISTRIES_CONF: insecureConf(t, proxy.host) };
  return { inst, env, ref: `${proxy.host}/crash/big:1`, files };
}

/** Starts `berth pull`; resolves with its exit code or signal. */
function startPull(env: NodeJS.ProcessEnv, ref: string) {
  const child = spawn(BERTH, ['pull', '-q', ref], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, done };
}

test('a pull SIGKILLed at several moments leaves a consistent store; the next pull completes', async (t) => {
  // ~4 MB/s per layer connection: the ~19 MB image takes about 2 s with 3 in parallel.
  const { inst, env, ref, files } = await setupPulls(t, 4 << 20);
  let killedMidway = 0;
  let sawPartial = 0;
  let deadLeases = 0;
  for (const delay of [150, 500, 900, 1400, 2000]) {
    const pull = startPull(env, ref);
    await new Promise((r) => setTimeout(r, delay));
    pull.child.kill('SIGKILL');
    const r = await pull.done;
    // Under load a kill can land before the pull took its lease: count the leases it left.
    if (r.signal === 'SIGKILL') killedMidway++;
    else assert.equal(r.code, 0, `pull ended on its own but failed: ${r.stderr}`);
    const ingest = join(inst.root, 'content', 'ingest');
    const snaps = join(inst.root, 'snapshots');
    if ((existsSync(ingest) && readdirSync(ingest).length > 0) || (existsSync(snaps) && readdirSync(snaps).some((n) => n.startsWith('.tmp-')))) sawPartial++;
    assert.deepEqual(inconsistencies(inst.root), [], `after a kill at ${delay} ms`);
    if (r.signal === 'SIGKILL') deadLeases = Math.max(deadLeases, leaseCount(inst.root));
  }
  assert.ok(killedMidway >= 3, `only ${killedMidway} kills landed before the pull finished`);
  assert.ok(sawPartial >= 2, 'kills landed mid-download (temp files or extraction dirs were left)');

  assert.ok(deadLeases > 0, 'no killed pull had taken its lease');
  const final = await inst.run(['pull', '-q', ref], { env, timeoutMs: 120_000 });
  assert.equal(final.code, 0, final.stderr);
  assert.match(final.stdout, /^[a-f0-9]{64}\n$/);
  assert.deepEqual(inconsistencies(inst.root), []);
  checkFiles(inst.root, files);

  // What the killed pulls left behind went at the start of the next pull; the image stays whole.
  const { store, images } = storeOf(inst.root);
  try {
    assert.deepEqual(store.db.prepare('SELECT id FROM leases').all(), [], "dead pulls' leases dropped");
    const report = await images.gc({ ingestGraceMs: 0 });
    assert.equal(report.reclaimed, 0, 'nothing was left for a collection');
  } finally {
    store.close();
  }
  assert.deepEqual(readdirSync(join(inst.root, 'content', 'ingest')), []);
  assert.deepEqual(readdirSync(join(inst.root, 'snapshots')).filter((n) => n.startsWith('.')), []);
  assert.deepEqual(inconsistencies(inst.root), []);
  checkFiles(inst.root, files);
});

test('garbage collection during a pull never takes what the pull relies on', async (t) => {
  const { inst, env, ref, files } = await setupPulls(t, 4 << 20);
  const pull = startPull(env, ref);
  const { store, images } = storeOf(inst.root);
  let collections = 0;
  try {
    let finished = false;
    void pull.done.then(() => (finished = true));
    while (!finished) {
      await images.gc({ ingestGraceMs: 0 });
      const cli = await inst.run(['image', 'prune', '-f']);
      assert.equal(cli.code, 0, cli.stderr);
      collections++;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    store.close();
  }
  const r = await pull.done;
  assert.equal(r.code, 0, r.stderr);
  assert.ok(collections >= 5, `only ${collections} collections ran during the pull`);
  assert.deepEqual(inconsistencies(inst.root), []);
  checkFiles(inst.root, files);
  assert.equal((await inst.run(['images', '-q'])).stdout.split('\n').filter(Boolean).length, 1);
});
