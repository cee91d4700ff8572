// Pulls through a proxy that breaks the registry's answers: a wrong digest, a blob cut off
// (once: resumed with Range; always: an error), 500 then success, and no registry at all.
// Each failure must end in a clear error and a store with nothing left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import type * as http from 'node:http';
import { join } from 'node:path';
import { newInstance, type Instance } from '../helpers/index.js';
import { freePort, insecureConf, makeLayout, skopeoManifest, skopeoPush, startFaultProxy, startRegistry, tempDir, type Fault } from './fixture.js';

const ls = (p: string) => (existsSync(p) ? readdirSync(p) : []);

/** Everything a failed pull could leave behind. */
async function leftovers(inst: Instance) {
  return {
    images: (await inst.run(['images', '-q'])).stdout,
    blobs: ls(join(inst.root, 'content', 'blobs', 'sha256')),
    ingest: ls(join(inst.root, 'content', 'ingest')),
    snapshots: ls(join(inst.root, 'snapshots')).filter((n) => n !== 'empty'),
  };
}
const clean = { images: '', blobs: [], ingest: [], snapshots: [] };

async function readAll(res: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('pull faults: wrong digest, truncated blob, 500 then success, registry down', async (t) => {
  const reg = await startRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'single', `${reg.host}/f/bb:1`);
  const manifest = JSON.parse((await skopeoManifest(`${reg.host}/f/bb:1`)).raw.toString());
  const big = manifest.layers[0].digest as string;
  const isBigBlob = (req: http.IncomingMessage) => req.method === 'GET' && req.url === `/v2/f/bb/blobs/${big}`;

  let mode: 'flip' | 'cut-once' | 'cut-always' | '500-once' | 'none' = 'none';
  let cuts = 0;
  let fails = 0;
  const fault: Fault = async (req, upstream, res) => {
    if (mode === 'flip' && isBigBlob(req)) {
      const up = await upstream();
      const body = await readAll(up);
      body[body.length >> 1] ^= 0xff;
      res.writeHead(200, up.headers).end(body);
      return true;
    }
    if ((mode === 'cut-once' || mode === 'cut-always') && req.method === 'GET' && req.url?.startsWith(`/v2/f/bb/blobs/${big}`)) {
      if (mode === 'cut-once' && cuts > 0) return false;
      cuts++;
      const up = await upstream();
      const body = await readAll(up);
      res.writeHead(up.statusCode ?? 200, up.headers);
      res.write(body.subarray(0, body.length >> 1));
      await new Promise((r) => setTimeout(r, 50));
      res.destroy();
      return true;
    }
    if (mode === '500-once' && req.method === 'GET' && req.url?.includes('/manifests/') && fails === 0) {
      fails++;
      res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"try again"}]}');
      return true;
    }
    return false;
  };
  const proxy = await startFaultProxy(t, reg.host, fault);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, proxy.host) };
  const inst = await newInstance(t);
  const pull = () => inst.run(['pull', '-q', `${proxy.host}/f/bb:1`], { env, timeoutMs: 120_000 });

  mode = 'flip';
  const flipped = await pull();
  assert.equal(flipped.code, 125);
  assert.equal(flipped.stderr, `berth: blob ${big}: digest mismatch: expected ${big} got ${/got (sha256:[a-f0-9]{64})/.exec(flipped.stderr)?.[1]}\n`);
  assert.deepEqual(await leftovers(inst), clean);

  mode = 'cut-always';
  const cut = await pull();
  assert.equal(cut.code, 125);
  assert.match(cut.stderr, new RegExp(`^berth: blob ${big}: download failed after \\d+ bytes: .+\\n$`));
  assert.ok(cuts >= 2, 'berth resumed before giving up');
  assert.deepEqual(await leftovers(inst), clean);

  mode = 'cut-once';
  cuts = 0;
  proxy.log.length = 0;
  const resumed = await pull();
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.ok(proxy.log.some((l) => l.startsWith(`GET /v2/f/bb/blobs/${big} bytes=`)), proxy.log.join('\n'));
  const id = resumed.stdout.trim();
  assert.equal((await inst.run(['rmi', id])).code, 0);
  assert.deepEqual(await leftovers(inst), clean);

  mode = '500-once';
  proxy.log.length = 0;
  const retried = await pull();
  assert.equal(retried.code, 0, retried.stderr);
  assert.equal(retried.stdout.trim(), id);
  assert.equal(proxy.log.filter((l) => l.startsWith('GET /v2/f/bb/manifests/1')).length, 2);
  assert.equal((await inst.run(['rmi', id])).code, 0);

  // Nothing listening: a clear error after a few retries, nothing left behind.
  const down = `127.0.0.1:${await freePort()}`;
  const gone = await inst.run(['pull', `${down}/f/bb:1`], { env: { CONTAINERS_REGISTRIES_CONF: insecureConf(t, down) }, timeoutMs: 60_000 });
  assert.equal(gone.code, 125);
  assert.match(gone.stderr, new RegExp(`\\nberth: registry ${down}: connection refused \\(is it running\\?\\)\\n$`));
  assert.deepEqual(await leftovers(inst), clean);

  // A missing tag: not found.
  const nope = await inst.run(['pull', `${proxy.host}/f/bb:nope`], { env });
  assert.equal(nope.code, 125);
  assert.match(nope.stderr, /\nberth: 127\.0\.0\.1:\d+\/f\/bb:nope: manifest unknown \(no such image on 127\.0\.0\.1:\d+\)\n$/);
});
