// Cancellation: an AbortSignal stops a pull (downloads and extraction) and a load or import
// (reading and extraction), rejects with the signal's reason and leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, statSync, watch } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { RegistryClient, parseRegistriesConf } from '../../src/registry/index.js';
import { counts, setup, type Env } from '../image/fixture.js';
import { bigImage, skopeoPush, startRegistry, tempDir } from './fixture.js';

const isAbort = (e: unknown) => (e as Error)?.name === 'AbortError';

/** Nothing of the cancelled operation remains: no rows, blobs, snapshots, temp dirs, leases. */
function assertEmpty(env: Env): void {
  assert.deepEqual(counts(env), { images: 0, names: 0, snapshots: 0, snapshotDirs: 0, blobs: 0, ingest: 0 });
  assert.equal((env.store.db.prepare('SELECT count(*) AS n FROM leases').get() as { n: number }).n, 0);
}

/** Passes input on and aborts ac once `after` bytes went through. */
function abortAfter(input: Readable, after: number, ac: AbortController): Readable {
  let seen = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      cb(null, chunk);
      if (seen >= after && !ac.signal.aborted) ac.abort();
    },
  });
  input.on('error', (e) => t.destroy(e));
  return input.pipe(t);
}

test('an aborted pull stops its downloads and extraction and leaves nothing', async (t) => {
  const reg = await startRegistry(t);
  const { layout } = bigImage(tempDir(t, 'cancel-layout'), 8 << 20, 3);
  await skopeoPush(layout, 'big', `${reg.host}/cancel/big:1`);
  const env = setup(t);
  const client = new RegistryClient({});
  t.after(() => client.close());
  const registry = { client, conf: await parseRegistriesConf(`[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`) };
  const ref = `${reg.host}/cancel/big:1`;

  // Aborted before it starts.
  await assert.rejects(env.images.pull(ref, registry, { signal: AbortSignal.abort() }), isAbort);
  assertEmpty(env);

  // Aborted once layer bytes flow: downloads and unpacking are under way.
  const ac = new AbortController();
  let abortedAt = 0;
  await assert.rejects(
    env.images.pull(ref, registry, {
      signal: ac.signal,
      onProgress: (e) => {
        if (e.type === 'blob' && e.kind === 'layer' && e.status === 'downloading' && e.bytes > 0 && !abortedAt) {
          abortedAt = Date.now();
          ac.abort();
        }
      },
    }),
    isAbort,
  );
  assert.ok(abortedAt > 0, 'the pull got as far as downloading layers');
  assert.ok(Date.now() - abortedAt < 5_000, `stopped ${Date.now() - abortedAt} ms after the abort`);
  assertEmpty(env);
  // Nothing goes on in the background: no files appear later.
  await new Promise((r) => setTimeout(r, 300));
  assertEmpty(env);

  // The same store pulls the image afterwards.
  const { image } = await env.images.pull(ref, registry);
  assert.equal(image.layers.length, 4);
});

test('an aborted load or import stops reading and extraction and leaves nothing', async (t) => {
  const dir = tempDir(t, 'cancel-archive');
  const { layout } = bigImage(dir, 8 << 20, 2);
  const archive = join(dir, 'big.tar');
  execFileSync('skopeo', ['copy', '-q', `oci:${layout}:big`, `oci-archive:${archive}:example.com/big:1`]);
  const size = statSync(archive).size;
  const env = setup(t);

  await assert.rejects(env.images.load(createReadStream(archive), { signal: AbortSignal.abort() }), isAbort);
  for (const fraction of [0.3, 0.9]) {
    const ac = new AbortController();
    await assert.rejects(env.images.load(abortAfter(createReadStream(archive), Math.floor(size * fraction), ac), { signal: ac.signal }), isAbort, `load aborted at ${fraction}`);
    assertEmpty(env);
  }

  // Aborted while a layer is being extracted (its temp dir appears once the archive is read).
  {
    const snapshots = join(env.dir, 'root', 'snapshots');
    const ac = new AbortController();
    const watcher = watch(snapshots, (_event, name) => {
      if (String(name).startsWith('.tmp-')) ac.abort();
    });
    try {
      await assert.rejects(env.images.load(createReadStream(archive), { signal: ac.signal }), isAbort, 'load aborted while unpacking');
    } finally {
      watcher.close();
    }
    assert.ok(ac.signal.aborted, 'the extraction started');
    assertEmpty(env);
  }

  // import: a rootfs tar of random data, aborted while it is read.
  const layer = join(dir, 'layer.tar');
  execFileSync('tar', ['-C', layout, '-cf', layer, 'blobs']);
  const ac = new AbortController();
  await assert.rejects(env.images.importRootfs(abortAfter(createReadStream(layer), statSync(layer).size >> 1, ac), 'x', { signal: ac.signal }), isAbort);
  assertEmpty(env);

  // Still usable.
  const loaded = await env.images.load(createReadStream(archive));
  assert.deepEqual(loaded.map((l) => l.names), [['example.com/big:1']]);
});
