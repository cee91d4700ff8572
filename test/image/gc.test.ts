// Garbage collection, leases, image prune and disk usage on a real store (SQLite, content
// store, overlay snapshotter), and the CLI's `image prune` and `system df`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxTarball, newInstance, startTimeOf } from '../helpers/index.js';
import { setup, type Env } from './fixture.js';
import { Leases, type Image } from '../../src/image/index.js';

/** A one-file rootfs tarball holding text. */
function smallTar(env: Env, name: string, text: string): string {
  const dir = join(env.dir, `src-${name}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'file.txt'), text);
  const tar = join(env.dir, `${name}.tar`);
  execFileSync('tar', ['-C', dir, '--owner=0', '--group=0', '--mtime=@0', '-cf', tar, 'file.txt']);
  return tar;
}

const blobsOf = (img: Image) => [img.digest, `sha256:${img.id}`, ...img.layers.map((l) => l.digest)];

function intact(env: Env, img: Image): boolean {
  return blobsOf(img).every((d) => env.content.has(d)) && img.layers.every((l) => env.snapshots.has(l.chainId));
}

function gone(env: Env, img: Image): boolean {
  return blobsOf(img).every((d) => !env.content.has(d)) && img.layers.every((l) => !env.snapshots.has(l.chainId));
}

/** Deletes an image's rows only, as a crash before its collection would leave it. */
function orphan(env: Env, img: Image): void {
  env.store.db.prepare('DELETE FROM image_names WHERE image_id = ?').run(img.id);
  env.store.db.prepare('DELETE FROM images WHERE id = ?').run(img.id);
}

/** Makes an orphan look old: its blobs' mtimes and its snapshots' rows an hour back. */
function age(env: Env, img: Image): void {
  const past = new Date(Date.now() - 3600_000);
  for (const d of blobsOf(img)) utimesSync(env.content.path(d), past, past);
  for (const l of img.layers) env.store.db.prepare('UPDATE snapshots SET created_at = ? WHERE chain_id = ?').run(past.getTime(), l.chainId);
}

function deadPid(): number {
  const r = spawnSync('/bin/true');
  return r.pid!;
}

test('gc frees unreferenced blobs, snapshots, stale ingest files and dead leases; keeps what images use', async (t) => {
  const env = setup(t);
  const kept = await env.images.importRootfs(createReadStream(busyboxTarball()), 'kept');
  const lost = await env.images.importRootfs(createReadStream(smallTar(env, 'lost', 'lost\n')), 'lost');
  orphan(env, lost);
  age(env, lost);
  const ingest = join(env.dir, 'root', 'content', 'ingest');
  mkdirSync(ingest, { recursive: true });
  writeFileSync(join(ingest, 'stale'), 'x'.repeat(100));
  utimesSync(join(ingest, 'stale'), new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
  writeFileSync(join(ingest, 'fresh'), 'y');
  env.store.db.prepare('INSERT INTO leases (id, pid, created_at, blobs) VALUES (?, ?, ?, ?)').run('dead', deadPid(), Date.now(), JSON.stringify(blobsOf(lost)));

  const report = await env.images.gc();
  assert.equal(report.blobs, 3);
  assert.equal(report.snapshots, 1);
  assert.equal(report.ingestFiles, 1);
  assert.equal(report.ingestBytes, 100);
  assert.equal(report.leases, 1);
  assert.ok(report.reclaimed > report.blobBytes && report.blobBytes > 0 && report.snapshotBytes > 0);
  assert.ok(intact(env, kept), 'the named image keeps its blobs and snapshot');
  assert.ok(gone(env, lost));
  assert.deepEqual(readdirSync(ingest), ['fresh']);
  assert.equal((env.store.db.prepare('SELECT count(*) AS n FROM leases').get() as { n: number }).n, 0);
  assert.ok(existsSync(join(env.dir, 'root', 'snapshots', kept.layers[0].chainId.slice(7), 'fs', 'bin')));

  // Nothing left to do the second time.
  assert.equal((await env.images.gc()).reclaimed, 0);
});

test('a live lease protects what it names and whatever was made after it began', async (t) => {
  const env = setup(t);
  const old = await env.images.importRootfs(createReadStream(smallTar(env, 'old', 'old\n')), 'old');
  orphan(env, old);
  age(env, old);

  const lease = await new Leases(env.store).acquire();
  await lease.add({ blobs: [old.layers[0].digest], chainIds: [old.layers[0].chainId] });
  const later = await env.images.importRootfs(createReadStream(smallTar(env, 'later', 'later\n')), 'later');
  orphan(env, later);

  const r1 = await env.images.gc();
  assert.equal(r1.blobs, 2, 'only the old config and manifest go');
  assert.equal(r1.snapshots, 0);
  assert.ok(env.content.has(old.layers[0].digest) && env.snapshots.has(old.layers[0].chainId));
  assert.ok(!env.content.has(old.digest) && !env.content.has(`sha256:${old.id}`));
  assert.ok(intact(env, later), 'made after the lease began');

  // A lease of another living process counts too, until that process dies.
  age(env, later);
  const sleeper = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
  t.after(() => sleeper.kill('SIGKILL'));
  // (A lease from before start times were recorded: its pid alone decides.)
  env.store.db.prepare('INSERT INTO leases (id, pid, created_at, chain_ids) VALUES (?, ?, ?, ?)').run('other', sleeper.pid, Date.now(), JSON.stringify([old.layers[0].chainId]));
  // A lease whose pid now names another process (same pid, another start time) is dead.
  env.store.db
    .prepare('INSERT INTO leases (id, pid, owner, created_at, chain_ids) VALUES (?, ?, ?, ?, ?)')
    .run('reused', sleeper.pid, `${sleeper.pid}-${startTimeOf(sleeper.pid!)! + 1}`, Date.now(), JSON.stringify([old.layers[0].chainId]));
  await lease.release();
  const r2 = await env.images.gc();
  assert.ok(gone(env, later), 'the lease that covered it was released');
  assert.ok(env.snapshots.has(old.layers[0].chainId), 'the other process still holds it');
  assert.ok(!env.content.has(old.layers[0].digest));
  assert.equal(r2.leases, 1, 'the reused pid\'s lease was dropped');

  await new Promise((r) => {
    sleeper.once('exit', r);
    sleeper.kill('SIGKILL');
  });
  const r3 = await env.images.gc();
  assert.equal(r3.leases, 1);
  assert.equal(r3.snapshots, 1);
  assert.ok(gone(env, old));
});

test('prune removes dangling images, with all every image no container uses; diskUsage adds up', async (t) => {
  const env = setup(t);
  const named = await env.images.importRootfs(createReadStream(busyboxTarball()), 'named');
  const dangling = await env.images.importRootfs(createReadStream(smallTar(env, 'dangling', 'd\n')), undefined);
  const used = await env.images.importRootfs(createReadStream(smallTar(env, 'used', 'u\n')), 'used');
  env.store.db
    .prepare(`INSERT INTO containers (id, name, image_id, config, state, created_at) VALUES (?, 'c1', ?, '{}', 'stopped', ?)`)
    .run('c'.repeat(64), used.id, Date.now());
  // Dangling, but a container uses it: it stays.
  env.store.db.prepare('DELETE FROM image_names WHERE image_id = ?').run(used.id);

  const usageBefore = await env.images.diskUsage();
  const sizes = new Map([named, dangling, used].map((img) => [img.id, blobsOf(img).reduce((s, d) => s + env.content.size(d), 0) + img.size]));
  const bytesOf = (img: Image) => sizes.get(img.id)!;
  assert.equal(usageBefore.images, 3);
  assert.equal(usageBefore.active, 1);
  assert.equal(usageBefore.size, bytesOf(named) + bytesOf(dangling) + bytesOf(used));
  assert.equal(usageBefore.reclaimable, bytesOf(named) + bytesOf(dangling));

  const first = await env.images.prune();
  assert.deepEqual(first.removed, [{ id: dangling.id, untagged: [] }]);
  assert.equal(first.report.reclaimed, bytesOf(dangling));
  assert.ok(gone(env, dangling) && intact(env, named) && intact(env, used));

  const second = await env.images.prune({ all: true });
  assert.deepEqual(second.removed, [{ id: named.id, untagged: ['localhost/named:latest'] }]);
  assert.ok(gone(env, named) && intact(env, used));
  assert.deepEqual(env.images.list().map((i) => i.id), [used.id]);
  const usageAfter = await env.images.diskUsage();
  assert.deepEqual(usageAfter, { images: 1, active: 1, size: bytesOf(used), reclaimable: 0, leftovers: { items: 0, active: 0, size: 0, reclaimable: 0 } });
});

test('cli: image prune and system df', async (t) => {
  const inst = await newInstance(t);
  t.after(() => inst.cleanup());
  await inst.importBusybox('bb');
  const imported = await inst.run(['import', busyboxTarball()]);
  assert.equal(imported.code, 0, imported.stderr);
  const danglingId = imported.stdout.trim();

  const df = await inst.run(['system', 'df']);
  assert.equal(df.code, 0, df.stderr);
  const lines = df.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
  assert.match(lines[1], /^Images\s+2\s+0\s+\d[\d.]*[kMG]?B\s+\d[\d.]*[kMG]?B \(100%\)$/);
  assert.match(lines[2], /^Containers\s+0\s+0\s+0B\s+0B$/);
  assert.match(lines[3], /^Local Volumes\s+0\s+0\s+0B\s+0B$/);
  const json = await inst.run(['system', 'df', '--format', 'json']);
  const rows = JSON.parse(json.stdout) as { Type: string; Total: number; RawSize: number; RawReclaimable: number }[];
  assert.deepEqual(rows.map((r) => [r.Type, r.Total]), [['Images', 2], ['Containers', 0], ['Local Volumes', 0], ['Leftovers', 0]]);
  assert.ok(rows[0].RawSize > 1_000_000 && rows[0].RawReclaimable === rows[0].RawSize);

  // No answer, no removal.
  const declined = await inst.run(['image', 'prune'], { input: 'n\n' });
  assert.equal(declined.code, 0);
  assert.equal(declined.stdout, 'WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ');
  assert.equal((await inst.run(['images', '-q'])).stdout.split('\n').filter(Boolean).length, 2);

  const pruned = await inst.run(['image', 'prune'], { input: 'y\n' });
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, new RegExp(`\\[y/N\\] Deleted Images:\\ndeleted: ${danglingId}\\n\\nTotal reclaimed space: \\d`));
  const all = await inst.run(['image', 'prune', '-a', '-f']);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^Deleted Images:\nuntagged: localhost\/bb:latest\ndeleted: sha256:[a-f0-9]{64}\n\nTotal reclaimed space: [\d.]+MB\n$/);
  const none = await inst.run(['image', 'prune', '-a', '-f']);
  assert.equal(none.stdout, 'Total reclaimed space: 0B\n');
  assert.deepEqual(readdirSync(join(inst.root, 'content', 'blobs', 'sha256')), []);
  assert.deepEqual(readdirSync(join(inst.root, 'snapshots')).filter((n) => n !== 'empty'), []);
  const after = JSON.parse((await inst.run(['system', 'df', '--format', 'json'])).stdout);
  assert.equal(after[0].RawSize, 0);
});
