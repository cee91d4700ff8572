// The transport's caches (system CAs, per-host agents with their certs.d files) hold until
// refreshTransports(), which a long-running process calls on reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { refreshTransports, Transport } from '../../src/registry/index.js';
import { makeCerts, tempDir } from './fixture.js';

test('a changed certs.d CA is used after refreshTransports(), not before', async (t) => {
  const dir = tempDir(t, 'transport');
  mkdirSync(join(dir, 'good'));
  mkdirSync(join(dir, 'other'));
  const good = makeCerts(join(dir, 'good'));
  const other = makeCerts(join(dir, 'other'));
  const server = createServer({ cert: readFileSync(good.cert), key: readFileSync(good.key) }, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const certsDir = join(dir, 'certs.d');
  mkdirSync(join(certsDir, host), { recursive: true });
  copyFileSync(other.ca, join(certsDir, host, 'ca.crt'));

  const transport = new Transport({ certsDir });
  t.after(() => transport.close());
  const get = async () => {
    const res = await transport.request(new URL(`https://${host}/v2/`));
    const chunks: Buffer[] = [];
    for await (const c of res.body) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };
  await assert.rejects(get(), /TLS/);
  copyFileSync(good.ca, join(certsDir, host, 'ca.crt'));
  await assert.rejects(get(), /TLS/, 'the agent made with the old CA file is still cached');
  refreshTransports();
  assert.equal(await get(), 'ok');
});
