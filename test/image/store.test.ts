import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { isBerthError } from '../../src/errors/index.js';
import { readTar, TarWriter } from '../../src/snapshot/index.js';
import { busyboxTarball } from '../helpers/index.js';
import { counts, setup, skopeoJson, umociArchives, type Env } from './fixture.js';

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const snapshotFs = (env: Env, chainId: string) => join(env.dir, 'root', 'snapshots', chainId.slice(7), 'fs');

async function saveToFile(env: Env, refs: string[], file: string, format: 'docker-archive' | 'oci-archive'): Promise<void> {
  const out = createWriteStream(file);
  await env.images.save(refs, out, format);
  out.end();
  await finished(out);
}

/** Rewrites a tar archive: edit returns the new body, or null to drop the entry. */
async function rewriteTar(src: string, dst: string, edit: (name: string, body: Buffer) => Buffer | null): Promise<void> {
  const out = createWriteStream(dst);
  const w = new TarWriter(out);
  for await (const { entry, body } of readTar(createReadStream(src))) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    if (entry.type !== 'file') {
      await w.add(entry);
      continue;
    }
    const data = edit(entry.name, Buffer.concat(chunks));
    if (data) await w.add({ ...entry, size: data.length }, data);
  }
  await w.finish({ end: true });
  await finished(out);
}

test('import of a plain, gzip and zstd rootfs tarball gives the same layer', async (t) => {
  const env = setup(t);
  const tarball = busyboxTarball();
  const diffId = sha(readFileSync(tarball));
  const gz = join(env.dir, 'rootfs.tar.gz');
  const zst = join(env.dir, 'rootfs.tar.zst');
  writeFileSync(gz, gzipSync(readFileSync(tarball)));
  execFileSync('zstd', ['-q', '-o', zst, tarball]);

  const plain = await env.images.importRootfs(createReadStream(tarball), 'bb', { changes: ['CMD ["/bin/sh"]', 'ENV A=1', 'WORKDIR /tmp'], message: 'from a test' });
  const fromGz = await env.images.importRootfs(createReadStream(gz), 'quay.io/x/bb:gz');
  const fromZst = await env.images.importRootfs(createReadStream(zst), undefined);

  assert.deepEqual(plain.names, ['localhost/bb:latest']);
  assert.deepEqual(fromGz.names, ['quay.io/x/bb:gz']);
  assert.deepEqual(fromZst.names, []);
  for (const img of [plain, fromGz, fromZst]) {
    assert.equal(img.layers.length, 1);
    assert.equal(img.layers[0].diffId, diffId);
    assert.equal(img.layers[0].chainId, diffId);
    assert.deepEqual(img.config.rootfs.diff_ids, [diffId]);
    assert.equal(img.config.os, 'linux');
    assert.equal(img.config.architecture, process.arch === 'x64' ? 'amd64' : process.arch);
    assert.equal(img.id, sha(env.content.readBytes(`sha256:${img.id}`)).slice(7));
    const manifest = JSON.parse(env.content.readBytes(img.digest).toString());
    assert.equal(manifest.config.digest, `sha256:${img.id}`);
    assert.ok(img.size > 1_000_000, `size ${img.size}`);
  }
  assert.deepEqual(plain.config.config, { Cmd: ['/bin/sh'], Env: ['A=1'], WorkingDir: '/tmp' });
  assert.equal(plain.config.history?.[0].comment, 'from a test');
  assert.ok(existsSync(join(snapshotFs(env, diffId), 'bin', 'busybox')));
  assert.equal(env.images.topChainId(plain), diffId);
  assert.equal(counts(env).snapshots, 1);
  assert.equal(counts(env).ingest, 0);
});

test('import rejects garbage, empty input and bad changes, leaving nothing', async (t) => {
  const env = setup(t);
  const before = counts(env);
  await assert.rejects(env.images.importRootfs(Readable.from([Buffer.alloc(0)]), 'x'), (e: unknown) => isBerthError(e, 'InvalidArgument'));
  await assert.rejects(env.images.importRootfs(Readable.from([Buffer.alloc(4096, 7)]), 'x'), (e: unknown) => isBerthError(e, 'InvalidArgument'));
  await assert.rejects(env.images.importRootfs(Readable.from([gzipSync(Buffer.alloc(4096, 7)).subarray(0, 20)]), 'x'), (e: unknown) => isBerthError(e, 'InvalidArgument'));
  await assert.rejects(env.images.importRootfs(createReadStream(busyboxTarball()), 'x', { changes: ['RUN rm -rf /'] }), (e: unknown) => isBerthError(e, 'InvalidArgument'));
  await assert.rejects(env.images.importRootfs(createReadStream(busyboxTarball()), 'Bad:Name'), (e: unknown) => isBerthError(e, 'InvalidArgument'));
  assert.deepEqual(counts(env), before);
});

test('truncated gzip and zstd input to import and load rejects, never throws uncaught, leaves nothing', async (t) => {
  const env = setup(t);
  const before = counts(env);
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));
  const tar = readFileSync(busyboxTarball());
  const gz = gzipSync(tar);
  const zst = execFileSync('zstd', ['-q', '-c'], { input: tar, maxBuffer: 64 << 20 });
  // The decompressor fails at once on a short cut (often before its reader is attached),
  // later on a long one; many rounds, because the window is small.
  const cuts = (b: Buffer) => [10, 20, 64, 512, 5000, b.length >> 1, b.length - 8];
  for (let round = 0; round < 12; round++) {
    for (const [what, whole] of [['gzip', gz], ['zstd', zst]] as const) {
      for (const cut of cuts(whole)) {
        const input = () => Readable.from([whole.subarray(0, cut)]);
        await assert.rejects(env.images.importRootfs(input(), 'x'), (e: unknown) => isBerthError(e, 'InvalidArgument'), `import ${what} cut at ${cut}`);
        await assert.rejects(env.images.load(input()), (e: unknown) => isBerthError(e, 'InvalidArgument'), `load ${what} cut at ${cut}`);
      }
    }
  }
  await new Promise((r) => setTimeout(r, 100)); // an error emitted late still shows up
  assert.deepEqual(uncaught, []);
  assert.deepEqual(counts(env), before);
});

test('resolve by name, short name, ID, ID prefix, sha256:ID and name@digest; tag', async (t) => {
  const env = setup(t);
  const img = await env.images.importRootfs(createReadStream(busyboxTarball()), 'bb:1');
  for (const ref of ['bb:1', 'localhost/bb:1', img.id, img.id.slice(0, 12), img.id.slice(0, 3), `sha256:${img.id}`, `sha256:${img.id.slice(0, 8)}`, `bb@${img.digest}`, `localhost/bb:1@${img.digest}`])
    assert.equal(env.images.resolve(ref).id, img.id, ref);
  for (const ref of ['bb', 'bb:2', 'docker.io/library/bb:1', `other@${img.digest}`, 'sha256:0000', '0000000000'])
    assert.throws(() => env.images.resolve(ref), (e: unknown) => isBerthError(e, 'NotFound') && e.message === `no such image: ${ref}`, ref);
  assert.throws(() => env.images.resolve('Bad'), (e: unknown) => isBerthError(e, 'InvalidArgument'));

  await env.images.tag('bb:1', 'bb');
  await env.images.tag(img.id.slice(0, 6), 'docker.io/library/busybox:x');
  assert.deepEqual(env.images.resolve('bb').names, ['docker.io/library/busybox:x', 'localhost/bb:1', 'localhost/bb:latest']);
  assert.equal(env.images.resolve('busybox:x').id, img.id);
  await assert.rejects(env.images.tag('bb', img.id), (e: unknown) => isBerthError(e, 'InvalidArgument'));
  await assert.rejects(env.images.tag('nope', 'x'), (e: unknown) => isBerthError(e, 'NotFound'));
  // A tag moves: the old image keeps its other names.
  const img2 = await env.images.importRootfs(createReadStream(busyboxTarball()), 'bb:1');
  assert.equal(env.images.resolve('bb:1').id, img2.id);
  assert.deepEqual(env.images.resolve(img.id).names, ['docker.io/library/busybox:x', 'localhost/bb:latest']);
});

test('load docker-archive and oci-archive written by skopeo from a umoci layout', async (t) => {
  const env = setup(t);
  const { layout, dockerArchive, ociArchive } = umociArchives(env.dir);
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const v1 = index.manifests.find((m: any) => m.annotations['org.opencontainers.image.ref.name'] === 'v1');
  const manifest = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', v1.digest.slice(7)), 'utf8'));

  const fromOci = await env.images.load(createReadStream(ociArchive));
  assert.equal(fromOci.length, 1);
  assert.deepEqual(fromOci[0].names, ['example.com/bb:v1']);
  const img = fromOci[0].image;
  assert.equal(`sha256:${img.id}`, manifest.config.digest);
  assert.equal(img.digest, v1.digest); // the archive's manifest is kept as it is
  assert.equal(img.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  assert.deepEqual(img.config.config?.Cmd, ['/bin/busybox', 'sh']);
  assert.ok(existsSync(join(snapshotFs(env, img.layers[0].chainId), 'bin', 'busybox')));

  await env.images.remove('example.com/bb:v1');
  assert.deepEqual(counts(env), { images: 0, names: 0, snapshots: 0, snapshotDirs: 0, blobs: 0, ingest: 0 });

  const fromDocker = await env.images.load(createReadStream(dockerArchive));
  assert.deepEqual(fromDocker.map((l) => l.names), [['example.com/bb:v1']]);
  assert.equal(fromDocker[0].image.id, img.id); // same config, so the same image ID
  assert.equal(fromDocker[0].image.layers[0].diffId, img.layers[0].diffId);
  assert.equal(fromDocker[0].image.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar');
  assert.ok(existsSync(join(snapshotFs(env, img.layers[0].chainId), 'bin', 'busybox')));
  assert.equal(counts(env).ingest, 0);
});

test('load a multi-image OCI layout (bare tags: unnamed) compressed as a whole', async (t) => {
  const env = setup(t);
  const { layout } = umociArchives(env.dir);
  const gz = join(env.dir, 'layout.tar.gz');
  execFileSync('tar', ['-C', layout, '-czf', gz, '.']);
  const loaded = await env.images.load(createReadStream(gz));
  assert.equal(loaded.length, 2);
  assert.deepEqual(loaded.map((l) => l.names), [[], []]);
  assert.notEqual(loaded[0].image.id, loaded[1].image.id);
  assert.equal(loaded[0].image.layers[0].chainId, loaded[1].image.layers[0].chainId);
  assert.deepEqual(counts(env).snapshots, 1);
});

test('save and load round trip; skopeo reads what berth writes', async (t) => {
  const env = setup(t);
  const a = await env.images.importRootfs(createReadStream(busyboxTarball()), 'a', { changes: ['CMD sh'] });
  const b = await env.images.importRootfs(createReadStream(busyboxTarball()), 'quay.io/b/c:2');
  await env.images.tag('a', 'a:also');
  for (const format of ['docker-archive', 'oci-archive'] as const) {
    const file = join(env.dir, `${format}.tar`);
    await saveToFile(env, ['a', 'a:also', 'quay.io/b/c:2'], file, format);

    // skopeo sees the same config (same image ID) under each name.
    const config = execFileSync('skopeo', ['inspect', '--config', '--raw', `${format}:${file}:localhost/a:latest`]);
    assert.equal(sha(config), `sha256:${a.id}`);
    const inspected = skopeoJson(['inspect', `${format}:${file}:quay.io/b/c:2`]);
    assert.deepEqual(inspected.Layers, [b.layers[0].diffId]);
    if (format === 'oci-archive') {
      const raw = execFileSync('skopeo', ['inspect', '--raw', `${format}:${file}:localhost/a:latest`]);
      assert.equal(sha(raw), a.digest);
      execFileSync('skopeo', ['copy', '-q', `oci-archive:${file}:quay.io/b/c:2`, `dir:${join(env.dir, 'copied')}`]);
      assert.ok(existsSync(join(env.dir, 'copied', b.layers[0].digest.slice(7))));
    }

    const other = setup(t);
    const loaded = await other.images.load(createReadStream(file));
    const byId = new Map(loaded.map((l) => [l.image.id, l]));
    assert.deepEqual(byId.get(a.id)?.names.sort(), ['localhost/a:also', 'localhost/a:latest']);
    assert.deepEqual(byId.get(b.id)?.names, ['quay.io/b/c:2']);
    assert.equal(byId.get(a.id)?.image.digest, a.digest, `${format}: manifest digest survives the round trip`);
    assert.equal(byId.get(b.id)?.image.digest, b.digest);
    assert.deepEqual(other.images.resolve('a').config, a.config);
  }
  // By ID: no names in the archive.
  const file = join(env.dir, 'byid.tar');
  await saveToFile(env, [a.id], file, 'docker-archive');
  const other = setup(t);
  const loaded = await other.images.load(createReadStream(file));
  assert.deepEqual(loaded.map((l) => [l.image.id, l.names]), [[a.id, []]]);
  await assert.rejects(env.images.save(['nope'], new PassThrough(), 'docker-archive'), (e: unknown) => isBerthError(e, 'NotFound'));
});

test('corrupt, truncated and mismatched archives are rejected and leave nothing behind', async (t) => {
  const env = setup(t);
  const { ociArchive } = umociArchives(env.dir);
  await env.images.importRootfs(createReadStream(busyboxTarball()), 'keep');
  const good = join(env.dir, 'good.tar');
  await saveToFile(env, ['keep'], good, 'docker-archive');
  await env.images.remove('keep');
  await env.images.importRootfs(createReadStream(busyboxTarball()), 'other');
  const before = counts(env);
  const goodBytes = readFileSync(good);

  const cases: [string, Buffer | string, string][] = [];
  cases.push(['truncated', goodBytes.subarray(0, Math.floor(goodBytes.length / 2)), 'InvalidArgument']);
  cases.push(['truncated gzip', gzipSync(goodBytes).subarray(0, 5000), 'InvalidArgument']);
  cases.push(['not an archive', Buffer.alloc(10000, 1), 'InvalidArgument']);
  cases.push(['empty', Buffer.alloc(0), 'InvalidArgument']);

  const noManifest = join(env.dir, 'nomanifest.tar');
  await rewriteTar(good, noManifest, (name, body) => (name === 'manifest.json' ? null : body));
  cases.push(['no manifest', noManifest, 'InvalidArgument']);

  const badJson = join(env.dir, 'badjson.tar');
  await rewriteTar(good, badJson, (name, body) => (name === 'manifest.json' ? Buffer.from('[{"Config":') : body));
  cases.push(['bad manifest.json', badJson, 'InvalidArgument']);

  const badLayer = join(env.dir, 'badlayer.tar');
  await rewriteTar(good, badLayer, (name, body) => {
    if (!name.endsWith('.tar')) return body;
    const copy = Buffer.from(body);
    copy[copy.length - 2000] ^= 0xff; // inside busybox's bytes: the tar stays valid
    return copy;
  });
  cases.push(['layer digest mismatch', badLayer, 'DataLoss']);

  const badConfig = join(env.dir, 'badconfig.tar');
  await rewriteTar(good, badConfig, (name, body) => (name.endsWith('.json') && name !== 'manifest.json' ? Buffer.from(body.toString().replace('"os":"linux"', '"os":"Linux"')) : body));
  cases.push(['config digest mismatch', badConfig, 'DataLoss']);

  // A gzip layer whose content does not match the config's diff ID: caught while unpacking.
  const wrongDiff = join(env.dir, 'wrongdiff.tar');
  let newConfig: { digest: string; data: Buffer } | undefined;
  let newManifest: { digest: string; data: Buffer } | undefined;
  const blobs = new Map<string, Buffer>();
  for await (const { entry, body } of readTar(createReadStream(ociArchive))) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    if (entry.type === 'file') blobs.set(entry.name, Buffer.concat(chunks));
  }
  const index = JSON.parse(blobs.get('index.json')!.toString());
  const manifest = JSON.parse(blobs.get(`blobs/sha256/${index.manifests[0].digest.slice(7)}`)!.toString());
  const config = JSON.parse(blobs.get(`blobs/sha256/${manifest.config.digest.slice(7)}`)!.toString());
  config.rootfs.diff_ids = [sha('not this layer')];
  const configData = Buffer.from(JSON.stringify(config));
  newConfig = { digest: sha(configData), data: configData };
  manifest.config = { ...manifest.config, digest: newConfig.digest, size: configData.length };
  const manifestData = Buffer.from(JSON.stringify(manifest));
  newManifest = { digest: sha(manifestData), data: manifestData };
  index.manifests[0] = { ...index.manifests[0], digest: newManifest.digest, size: manifestData.length };
  {
    const out = createWriteStream(wrongDiff);
    const w = new TarWriter(out);
    const add = (name: string, data: Buffer) => w.add({ name, type: 'file', mode: 0o644, size: data.length }, data);
    await add('oci-layout', blobs.get('oci-layout')!);
    await add(`blobs/sha256/${manifest.layers[0].digest.slice(7)}`, blobs.get(`blobs/sha256/${manifest.layers[0].digest.slice(7)}`)!);
    await add(`blobs/sha256/${newConfig.digest.slice(7)}`, newConfig.data);
    await add(`blobs/sha256/${newManifest.digest.slice(7)}`, newManifest.data);
    await add('index.json', Buffer.from(JSON.stringify(index)));
    await w.finish({ end: true });
    await finished(out);
  }
  cases.push(['compressed layer with the wrong diff ID', wrongDiff, 'DataLoss']);

  for (const [what, input, code] of cases) {
    const stream = typeof input === 'string' ? createReadStream(input) : Readable.from([input]);
    await assert.rejects(env.images.load(stream), (e: unknown) => {
      assert.ok(isBerthError(e), `${what}: ${String(e)}`);
      assert.equal(e.code, code, `${what}: ${e.message}`);
      assert.ok(!e.message.includes('\n'), what);
      return true;
    }, what);
    assert.deepEqual(counts(env), before, what);
  }
  // And the good archive still loads.
  assert.deepEqual((await env.images.load(createReadStream(good))).map((l) => l.names), [['localhost/keep:latest']]);
});

test('remove untags, deletes, keeps shared layers and refuses images in use', async (t) => {
  const env = setup(t);
  const empty = counts(env);
  const a = await env.images.importRootfs(createReadStream(busyboxTarball()), 'a');
  const b = await env.images.importRootfs(createReadStream(busyboxTarball()), 'b');
  await env.images.tag('a', 'a:2');

  assert.deepEqual(await env.images.remove('a:2'), { untagged: ['localhost/a:2'], deleted: null });
  assert.deepEqual(await env.images.remove('a'), { untagged: ['localhost/a:latest'], deleted: a.id });
  // b still has the shared layer and its snapshot.
  assert.ok(env.content.has(b.layers[0].digest));
  assert.ok(existsSync(join(snapshotFs(env, b.layers[0].chainId), 'bin', 'busybox')));
  assert.equal(env.content.has(`sha256:${a.id}`), false);
  assert.equal(env.content.has(a.digest), false);

  // A container uses b: refused; forced, b is only untagged.
  env.store.db
    .prepare("INSERT INTO containers (id, name, image_id, config, state, created_at) VALUES (?, 'c1', ?, '{}', 'created', 0)")
    .run('c'.repeat(64), b.id);
  await assert.rejects(env.images.remove('b'), (e: unknown) => isBerthError(e, 'FailedPrecondition') && e.message === `image is in use by container ${'c'.repeat(12)}`);
  assert.deepEqual(await env.images.remove('b', { force: true }), { untagged: ['localhost/b:latest'], deleted: null });
  assert.equal(env.images.resolve(b.id).names.length, 0);
  env.store.db.prepare('DELETE FROM containers').run();

  await env.images.tag(b.id, 'b:x');
  await env.images.tag(b.id, 'b:y');
  // By ID: refused while several names remain; forced, every name goes, and the image with it.
  await assert.rejects(
    env.images.remove(b.id.slice(0, 10)),
    (e: unknown) => isBerthError(e, 'FailedPrecondition') && e.message === `unable to delete image ${b.id.slice(0, 12)} (must be forced) - image is referenced in multiple repositories`,
  );
  assert.deepEqual(await env.images.remove(b.id.slice(0, 10), { force: true }), { untagged: ['localhost/b:x', 'localhost/b:y'], deleted: b.id });
  assert.deepEqual(counts(env), empty);
  await assert.rejects(env.images.remove('b'), (e: unknown) => isBerthError(e, 'NotFound'));
});
