// Non-distributable layers: the registry does not hold them, their descriptor's urls do.
// berth pulls them from those URLs (digest-checked like any blob) and does not upload them
// on push, as the image spec asks. skopeo leaves them out of its push too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { busyboxTarball, newInstance } from '../helpers/index.js';
import { HOST_ARCH, insecureConf, skopeoManifest, skopeoPush, startRegistry, tempDir } from './fixture.js';

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const FOREIGN = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';

test('layers with urls are fetched from them, and not pushed', async (t) => {
  // The foreign layer, served by a plain HTTP server that counts its requests.
  const dir = tempDir(t, 'foreign');
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'foreign.txt'), 'from elsewhere\n');
  const foreignTar = execFileSync('tar', ['-C', src, '--owner=0', '--group=0', '--mtime=@0', '-cf', '-', 'foreign.txt']);
  const foreign = gzipSync(foreignTar);
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    if (req.url !== '/layers/foreign.tar.gz') return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Length': foreign.length }).end(foreign);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;

  // An OCI layout: busybox, then the foreign layer.
  const layout = join(dir, 'layout');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const put = (mediaType: string, data: Buffer, extra: { urls?: string[] } = {}) => {
    writeFileSync(join(layout, 'blobs', 'sha256', sha(data).slice(7)), data);
    return { mediaType, digest: sha(data), size: data.length, ...extra };
  };
  const base = readFileSync(busyboxTarball());
  const layers = [
    put('application/vnd.oci.image.layer.v1.tar+gzip', gzipSync(base)),
    put(FOREIGN, foreign, { urls: [`http://127.0.0.1:${port}/layers/foreign.tar.gz`] }),
  ];
  const config = put('application/vnd.oci.image.config.v1+json', Buffer.from(JSON.stringify({ architecture: HOST_ARCH, os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [sha(base), sha(foreignTar)] } })));
  const manifest = put('application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers })));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'f' } }] }));

  const reg = await startRegistry(t);
  await skopeoPush(layout, 'f', `${reg.host}/test/foreign:1`);
  const hasBlob = async (repo: string, digest: string) => (await fetch(`http://${reg.host}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status;
  assert.equal(await hasBlob('test/foreign', layers[1].digest), 404, 'the registry does not hold the foreign layer');

  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) };
  const pulled = await inst.run(['pull', '-q', `${reg.host}/test/foreign:1`], { env, timeoutMs: 120_000 });
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.ok(hits >= 1, 'the layer came from its URL');
  const run = await inst.run(['run', '--rm', '--network', 'none', `${reg.host}/test/foreign:1`, '/bin/busybox', 'cat', '/foreign.txt'], { env });
  assert.equal(run.stdout, 'from elsewhere\n', run.stderr);

  const pushed = await inst.run(['push', `${reg.host}/test/foreign:1`, `${reg.host}/test/copy:1`], { env, timeoutMs: 120_000 });
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(await hasBlob('test/copy', layers[1].digest), 404, 'berth did not upload the foreign layer');
  assert.equal(await hasBlob('test/copy', layers[0].digest), 200);
  const raw = JSON.parse((await skopeoManifest(`${reg.host}/test/copy:1`)).raw.toString());
  assert.deepEqual(raw.layers[1].urls, layers[1].urls, 'the manifest keeps the URLs');
});
