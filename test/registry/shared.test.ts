// Concurrent pulls of one image share the work: every layer blob crosses the network once,
// whichever process fetches it, and both pulls succeed with the same image. A counting
// proxy in front of the real registry, slowed so that the pulls overlap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance, spawnSleeper, spawnZombie } from '../helpers/index.js';
import { bigImage, insecureConf, skopeoPush, startFaultProxy, startRegistry, tempDir } from './fixture.js';

test('two concurrent pulls download each blob once and both succeed', async (t) => {
  const reg = await startRegistry(t);
  const { layout } = bigImage(tempDir(t, 'layout'), 2 << 20, 2);
  await skopeoPush(layout, 'big', `${reg.host}/test/shared:1`);
  // Blob bodies trickle out, so the second pull starts while the first still downloads.
  const proxy = await startFaultProxy(t, reg.host, async (req, upstream, res) => {
    if (req.method !== 'GET' || !req.url?.includes('/blobs/')) return false;
    const up = await upstream();
    res.writeHead(up.statusCode ?? 502, up.headers);
    for await (const chunk of up) {
      res.write(chunk);
      await new Promise((r) => setTimeout(r, 5));
    }
    res.end();
    return true;
  });
  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, proxy.host) };
  const [a, b] = await Promise.all([0, 1].map(() => inst.run(['pull', '-q', `${proxy.host}/test/shared:1`], { env, timeoutMs: 120_000 })));
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(a.stdout, b.stdout);
  // Whichever waited for the other's download said so, in one line per blob.
  assert.match(a.stderr + b.stderr, /^Waiting for another pull of blob sha256:[0-9a-f]{64} \(pid \d+\)$/m);
  const gets = proxy.log.filter((l) => /^GET \/v2\/test\/shared\/blobs\/sha256:[0-9a-f]{64}$/.test(l));
  const perBlob = new Map<string, number>();
  for (const g of gets) perBlob.set(g, (perBlob.get(g) ?? 0) + 1);
  // The config is small and fetched by each pull before the layers; the layers go once.
  const layers = [...perBlob].filter(([, n]) => n > 1);
  assert.ok(layers.length <= 1, `blobs fetched more than once: ${JSON.stringify(layers)}`);
  assert.ok(perBlob.size >= 4, `all blobs fetched: ${JSON.stringify([...perBlob])}`);
});

test('claims left by dead processes, zombies or reused pids do not hold up a pull', async (t) => {
  const reg = await startRegistry(t);
  const { layout } = bigImage(tempDir(t, 'layout'), 1 << 20, 2);
  await skopeoPush(layout, 'big', `${reg.host}/test/stale:1`);
  const blob = (d: string) => readFileSync(join(layout, 'blobs', 'sha256', d.slice(7)), 'utf8');
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const layers = (JSON.parse(blob(index.manifests[0].digest)) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
  assert.equal(layers.length, 3);
  // Each layer's claim names a process that is not its holder: a live unrelated process
  // with another start time (the pid was reused), a zombie, a zombie recorded by pid only.
  const sleeper = spawnSleeper(t);
  const zombie = await spawnZombie(t);
  const inst = await newInstance(t);
  const ingest = join(inst.root, 'content', 'ingest');
  mkdirSync(ingest, { recursive: true });
  const owners = [`${sleeper.pid}-${sleeper.startTime + 1}`, `${zombie.pid}-${zombie.startTime}`, String(zombie.pid)];
  layers.forEach((d, i) => writeFileSync(join(ingest, `${d.slice(7)}.pulling`), owners[i]));
  const t0 = Date.now();
  const r = await inst.run(['pull', '-q', `${reg.host}/test/stale:1`], { env: { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) }, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Waiting/);
  assert.ok(Date.now() - t0 < 30_000, `pulled in ${Date.now() - t0} ms`);
  assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
});
