// Concurrent pulls of one image share the work: every layer blob crosses the network once,
// whichever process fetches it, and both pulls succeed with the same image. A counting
// proxy in front of the real registry, slowed so that the pulls overlap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newInstance } from '../helpers/index.js';
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
  const gets = proxy.log.filter((l) => /^GET \/v2\/test\/shared\/blobs\/sha256:[0-9a-f]{64}$/.test(l));
  const perBlob = new Map<string, number>();
  for (const g of gets) perBlob.set(g, (perBlob.get(g) ?? 0) + 1);
  // The config is small and fetched by each pull before the layers; the layers go once.
  const layers = [...perBlob].filter(([, n]) => n > 1);
  assert.ok(layers.length <= 1, `blobs fetched more than once: ${JSON.stringify(layers)}`);
  assert.ok(perBlob.size >= 4, `all blobs fetched: ${JSON.stringify([...perBlob])}`);
});
