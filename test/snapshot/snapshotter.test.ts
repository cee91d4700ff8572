import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync, createReadStream, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Snapshotter } from '../../src/snapshot/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { isBerthError } from '../../src/errors/index.js';
import { unmount } from '../../src/sys/index.js';
import { makeTar, streamOf, type Spec } from './helpers.js';
import { spawnSleeper, spawnZombie, startTimeOf } from '../helpers/index.js';

const sha = (s: string | Buffer) => 'sha256:' + createHash('sha256').update(s).digest('hex');
const chainOf = (parent: string | null, diffId: string) => (parent === null ? diffId : sha(`${parent} ${diffId}`));

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir));
}

/** A root with a store and a snapshotter; everything mounted below it is unmounted at the end. */
function setup(t: { after: (fn: () => void) => void }): { root: string; store: Store; snap: Snapshotter } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'berth-snapshotter-')));
  const store = openStore(root);
  const snap = new Snapshotter(join(root, 'snapshots'), store);
  t.after(() => {
    for (const m of mountsUnder(root).reverse()) unmount(m);
    store.close();
    rmSync(root, { recursive: true, force: true });
  });
  return { root, store, snap };
}

/** Adds layers one on another; returns their chain IDs (base first). */
async function addLayers(snap: Snapshotter, layers: Spec[][]): Promise<string[]> {
  const ids: string[] = [];
  let parent: string | null = null;
  for (const specs of layers) {
    const tar = await makeTar(specs);
    const diffId = sha(tar);
    const chainId = chainOf(parent, diffId);
    await snap.ensure(chainId, parent, diffId, async () => streamOf(tar));
    ids.push(chainId);
    parent = chainId;
  }
  return ids;
}

test('ensure unpacks once and is idempotent', async (t) => {
  const { root, snap } = setup(t);
  const tar = await makeTar([{ name: 'hello', type: 'file', body: 'world' }]);
  const id = sha(tar);
  let opens = 0;
  const open = async () => { opens++; return streamOf(tar); };
  assert.equal(snap.has(id), false);
  await snap.ensure(id, null, id, open);
  await snap.ensure(id, null, id, open);
  assert.equal(opens, 1);
  assert.equal(snap.has(id), true);
  assert.deepEqual(snap.list(), [{ chainId: id, parent: null, size: 5 }]);
  assert.equal(readFileSync(join(root, 'snapshots', id.slice(7), 'fs', 'hello'), 'utf8'), 'world');
  assert.deepEqual(readdirSync(join(root, 'snapshots')), [id.slice(7)], 'no temp dirs left');
});

test('a corrupt layer leaves no row and no directory behind', async (t) => {
  const { root, snap, store } = setup(t);
  const tar = (await makeTar([{ name: 'f', type: 'file', body: Buffer.alloc(5000) }])).subarray(0, 1500);
  const id = sha(tar);
  await assert.rejects(snap.ensure(id, null, id, async () => streamOf(tar)), (e: unknown) => isBerthError(e, 'InvalidArgument'));
  assert.deepEqual(store.db.prepare('SELECT COUNT(*) AS n FROM snapshots').get(), { n: 0 });
  assert.deepEqual(readdirSync(join(root, 'snapshots')), []);
});

test('overlay mount: whiteouts hide lower files, opaque dirs hide lower content', async (t) => {
  const { root, snap } = setup(t);
  const [base, top] = await addLayers(snap, [
    [
      { name: 'etc/passwd', type: 'file', body: 'root:x:0:0' },
      { name: 'etc/group', type: 'file', body: 'root:x:0:' },
      { name: 'opt/a', type: 'file', body: 'a' },
      { name: 'opt/b/deep', type: 'file', body: 'b' },
      { name: 'keep/x', type: 'file', body: 'x' },
    ],
    [
      { name: 'etc/.wh.passwd', type: 'file', body: '' },
      { name: 'opt/', type: 'dir' },
      { name: 'opt/.wh..wh..opq', type: 'file', body: '' },
      { name: 'opt/c', type: 'file', body: 'c' },
    ],
  ]);
  assert.deepEqual(snap.list().map((s) => s.chainId).sort(), [base, top].sort());
  const containerDir = join(root, 'containers', 'c1');
  const rootfs = await snap.mountRootfs(top, containerDir);
  assert.equal(rootfs, join(containerDir, 'rootfs'));
  assert.equal(await snap.mountRootfs(top, containerDir), rootfs, 'idempotent');
  assert.equal(mountsUnder(root).length, 1, 'mounted exactly once');

  assert.deepEqual(readdirSync(join(rootfs, 'etc')), ['group']);
  assert.deepEqual(readdirSync(join(rootfs, 'opt')), ['c']);
  assert.equal(readFileSync(join(rootfs, 'keep/x'), 'utf8'), 'x');
  writeFileSync(join(rootfs, 'keep/new'), 'written in the container');
  assert.equal(readFileSync(join(containerDir, 'upper/keep/new'), 'utf8'), 'written in the container');
  assert.equal(existsSync(join(root, 'snapshots', base.slice(7), 'fs/keep/new')), false, 'lower untouched');

  snap.unmountRootfs(containerDir);
  assert.deepEqual(mountsUnder(root), []);
  snap.unmountRootfs(containerDir); // not mounted: no error
  assert.equal(readdirSync(rootfs).length, 0);
});

test('a deep chain of 45 layers still mounts; an empty rootfs mounts', async (t) => {
  const { root, snap } = setup(t);
  const layers: Spec[][] = [];
  for (let i = 0; i < 45; i++) layers.push([{ name: `layer${i}`, type: 'file', body: String(i) }]);
  const ids = await addLayers(snap, layers);
  const c = join(root, 'containers', 'deep');
  const rootfs = await snap.mountRootfs(ids[ids.length - 1], c);
  assert.equal(readdirSync(rootfs).length, 45);
  assert.equal(readFileSync(join(rootfs, 'layer0'), 'utf8'), '0');
  snap.unmountRootfs(c);

  const e = join(root, 'containers', 'empty');
  const emptyRoot = await snap.mountRootfs(null, e);
  assert.deepEqual(readdirSync(emptyRoot), []);
  writeFileSync(join(emptyRoot, 'f'), 'x');
  snap.unmountRootfs(e);
  assert.deepEqual(mountsUnder(root), []);
  assert.equal(existsSync(join(root, 'snapshots', 'empty', 'f')), false);
});

test('mounting never changes the process cwd, and layer paths longer than a page still mount', async (t) => {
  const { root, store } = setup(t);
  // Absolute lower dirs here would need 12 × ~480 bytes, beyond mount data's one page.
  const deep = join(root, 'd'.repeat(200), 'e'.repeat(200));
  const snap = new Snapshotter(join(deep, 'snapshots'), store);
  const ids = await addLayers(snap, Array.from({ length: 12 }, (_, i): Spec[] => [{ name: `layer${i}`, type: 'file', body: String(i) }]));
  assert.ok(12 * join(deep, 'snapshots', 'x'.repeat(64), 'fs').length > 4096);
  // Another thread watches the process's cwd (/proc/self/cwd is the main thread's, which
  // every thread shares unless it unshared) for as long as the mounts run.
  const cwd = readlinkSync('/proc/self/cwd');
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const watcher = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const { readlinkSync } = require('node:fs');
     const seen = new Set([readlinkSync('/proc/self/cwd')]);
     parentPort.postMessage('watching');
     while (Atomics.load(workerData, 0) === 0) seen.add(readlinkSync('/proc/self/cwd'));
     parentPort.postMessage([...seen]);`,
    { eval: true, workerData: stop },
  );
  const message = () => new Promise<unknown>((resolve, reject) => watcher.once('message', resolve).once('error', reject));
  // A worker takes a while to start on a loaded machine: the mounts wait until it watches.
  assert.equal(await message(), 'watching');
  const seen = message() as Promise<string[]>;
  const c = join(deep, 'containers', 'c');
  let rootfs = '';
  for (let i = 0; i < 20; i++) {
    rootfs = await snap.mountRootfs(ids[ids.length - 1], c);
    assert.equal(readdirSync(rootfs).length, 12);
    snap.unmountRootfs(c);
  }
  Atomics.store(stop, 0, 1);
  assert.deepEqual(await seen, [cwd], 'the cwd every other thread saw');
  assert.equal(process.cwd(), cwd);

  rootfs = await snap.mountRootfs(ids[ids.length - 1], c);
  assert.equal(readFileSync(join(rootfs, 'layer11'), 'utf8'), '11');
  assert.equal(await snap.mountRootfs(ids[ids.length - 1], c), rootfs, 'a second call sees the mount');
  assert.equal(mountsUnder(root).length, 1);
  snap.unmountRootfs(c);
  assert.deepEqual(mountsUnder(root), []);
});

test('remove refuses while a child exists', async (t) => {
  const { root, snap } = setup(t);
  const [base, top] = await addLayers(snap, [[{ name: 'a', type: 'file', body: 'a' }], [{ name: 'b', type: 'file', body: 'b' }]]);
  await assert.rejects(snap.remove(base), (e: unknown) => isBerthError(e, 'FailedPrecondition'));
  await snap.remove(top);
  await snap.remove(base);
  assert.deepEqual(snap.list(), []);
  assert.deepEqual(readdirSync(join(root, 'snapshots')), []);
  await assert.rejects(snap.remove(base), (e: unknown) => isBerthError(e, 'NotFound'));
  await assert.rejects(snap.mountRootfs(top, join(root, 'c')), (e: unknown) => isBerthError(e, 'NotFound'));
});

test('removeAll: one write for many; a parent listed first goes once its child has; blocked stops at the first kept', async (t) => {
  const { root, snap } = setup(t);
  const layer = (n: string) => [{ name: n, type: 'file' as const, body: n }];
  const [a, b, c] = await addLayers(snap, [layer('a'), layer('b'), layer('c')]);
  // 'blocked': from the top down, stops where a snapshot still has a child.
  const kept = await snap.removeAll([b, a], 'blocked');
  assert.deepEqual([...kept.keys()], [b]);
  assert.ok(isBerthError(kept.get(b), 'FailedPrecondition'));
  assert.deepEqual(snap.list().map((s) => s.chainId).sort(), [a, b, c].sort(), 'a stayed too: the walk stopped at b');
  // 'done': parents before children in the list still all go, in rounds.
  assert.deepEqual([...(await snap.removeAll([a, b, c], 'done')).keys()], []);
  assert.deepEqual(snap.list(), []);
  assert.deepEqual(readdirSync(join(root, 'snapshots')), []);
});

test('sweep removes crash leftovers and keeps live work', async (t) => {
  const { root, snap, store } = setup(t);
  const [kept] = await addLayers(snap, [[{ name: 'kept', type: 'file', body: 'k' }]]);
  const dir = join(root, 'snapshots');
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const hex = (n: number) => createHash('sha256').update(String(n)).digest('hex');
  const insert = store.db.prepare(`INSERT INTO snapshots (chain_id, parent, diff_id, size, state, created_at) VALUES (?, NULL, ?, 0, ?, 0)`);

  // 1: crashed mid-extraction (row + temp dir of a dead process).
  insert.run(`sha256:${hex(1)}`, `sha256:${hex(1)}`, 'extracting');
  mkdirSync(join(dir, `.tmp-${hex(1)}-${dead}-abc/fs/usr`), { recursive: true });
  // 2: crashed between rename and commit (row 'extracting' + final dir).
  insert.run(`sha256:${hex(2)}`, `sha256:${hex(2)}`, 'extracting');
  mkdirSync(join(dir, hex(2), 'fs'), { recursive: true });
  // 3: crashed while removing (no row, dir left).
  mkdirSync(join(dir, hex(3), 'fs'), { recursive: true });
  mkdirSync(join(dir, `.rm-${hex(4)}-${dead}-xyz/fs`), { recursive: true });
  // 5: a live extraction in this process: must survive.
  insert.run(`sha256:${hex(5)}`, `sha256:${hex(5)}`, 'extracting');
  mkdirSync(join(dir, `.tmp-${hex(5)}-${process.pid}-live/fs`), { recursive: true });

  // 6: a temp dir whose owner tag names a pid that another process has now (start time
  // differs), and 7: one of a zombie; 8: a live one of this process, tagged as today.
  const sleeper = spawnSleeper(t);
  const zombie = await spawnZombie(t);
  mkdirSync(join(dir, `.tmp-${hex(6)}-${sleeper.pid}-${sleeper.startTime + 1}-abc/fs`), { recursive: true });
  mkdirSync(join(dir, `.rm-${hex(7)}-${zombie.pid}-${zombie.startTime}-abc/fs`), { recursive: true });
  const own = `.tmp-${hex(8)}-${process.pid}-${startTimeOf(process.pid)}-live`;
  mkdirSync(join(dir, own, 'fs'), { recursive: true });

  await snap.sweep();
  assert.deepEqual(readdirSync(dir).sort(), [`.tmp-${hex(5)}-${process.pid}-live`, own, kept.slice(7)].sort());
  rmSync(join(dir, own), { recursive: true });
  const rows = store.db.prepare('SELECT chain_id, state FROM snapshots ORDER BY chain_id').all();
  assert.deepEqual(rows, [{ chain_id: kept, state: 'committed' }, { chain_id: `sha256:${hex(5)}`, state: 'extracting' }].sort((a, b) => a.chain_id.localeCompare(b.chain_id)));
  assert.equal(snap.has(kept), true);
  rmSync(join(dir, `.tmp-${hex(5)}-${process.pid}-live`), { recursive: true });
});

test('concurrent ensure of one chain: parallel calls, two instances, child processes', async (t) => {
  const { root, snap, store } = setup(t);
  const specs: Spec[] = [];
  for (let i = 0; i < 1500; i++) specs.push({ name: `d${i % 30}/f${i}`, type: 'file', body: Buffer.alloc(200, i % 256) });
  const tar = await makeTar(specs);
  const tarFile = join(root, 'layer.tar');
  writeFileSync(tarFile, tar);
  const id = sha(tar);
  const other = new Snapshotter(join(root, 'snapshots'), store);

  const here = fileURLToPath(import.meta.url);
  const modUrl = (rel: string) => pathToFileURL(join(here, '..', '..', '..', rel)).href;
  const script = `
    import { createReadStream } from 'node:fs';
    import { join } from 'node:path';
    const { Snapshotter } = await import(${JSON.stringify(modUrl('src/snapshot/index.js'))});
    const { openStore } = await import(${JSON.stringify(modUrl('src/store/index.js'))});
    const [root, id, tarFile] = process.argv.slice(1);
    const store = openStore(root);
    await new Snapshotter(join(root, 'snapshots'), store).ensure(id, null, id, async () => createReadStream(tarFile));
    store.close();
  `;
  const children = Array.from({ length: 4 }, () => new Promise<number>((resolve, reject) => {
    const c = spawn(process.execPath, ['--input-type=module', '-e', script, root, id, tarFile], { stdio: ['ignore', 'inherit', 'inherit'] });
    c.on('error', reject);
    c.on('exit', (code) => resolve(code ?? -1));
  }));
  const open = async () => createReadStream(tarFile);
  const local = [...Array.from({ length: 6 }, () => snap.ensure(id, null, id, open)), other.ensure(id, null, id, open), other.ensure(id, null, id, open)];
  await Promise.all(local);
  assert.deepEqual(await Promise.all(children), [0, 0, 0, 0]);

  assert.deepEqual(readdirSync(join(root, 'snapshots')), [id.slice(7)]);
  assert.deepEqual(snap.list(), [{ chainId: id, parent: null, size: 1500 * 200 }]);
  const fsDir = join(root, 'snapshots', id.slice(7), 'fs');
  assert.equal(readdirSync(fsDir).length, 30);
  assert.equal(lstatSync(join(fsDir, 'd7/f1237')).size, 200);
});

test("waiting for another process's extraction: not for a reused pid or a zombie, said once, and bounded", async (t) => {
  const { root, snap } = setup(t);
  const dir = join(root, 'snapshots');
  const tar = await makeTar([{ name: 'hello', type: 'file', body: 'world' }]);
  const id = sha(tar);
  mkdirSync(dir, { recursive: true });
  const sleeper = spawnSleeper(t);
  const zombie = await spawnZombie(t);
  // Temp dirs whose owners are not extracting: the pid names another process now, a zombie.
  const stale = [`.tmp-${id.slice(7)}-${sleeper.pid}-${sleeper.startTime + 1}-a`, `.tmp-${id.slice(7)}-${zombie.pid}-${zombie.startTime}-b`];
  for (const name of stale) mkdirSync(join(dir, name, 'fs'), { recursive: true });
  const waits: number[] = [];
  const t0 = Date.now();
  await snap.ensure(id, null, id, async () => streamOf(tar), { onWait: (pid) => waits.push(pid), stallMs: 60_000 });
  assert.ok(Date.now() - t0 < 5000 && snap.has(id), 'unpacked at once');
  assert.equal(waits.length, 0, 'no wait');
  await snap.remove(id);
  for (const name of stale) rmSync(join(dir, name), { recursive: true });

  // A living owner that does no I/O (it is stuck): the waiter says so once, then gives up.
  const stuck = `.tmp-${id.slice(7)}-${sleeper.pid}-${sleeper.startTime}-c`;
  mkdirSync(join(dir, stuck, 'fs'), { recursive: true });
  const t1 = Date.now();
  await assert.rejects(snap.ensure(id, null, id, async () => streamOf(tar), { onWait: (pid) => waits.push(pid), stallMs: 500 }), (e: Error) => {
    assert.ok(isBerthError(e, 'Unavailable'), String(e));
    assert.equal(e.message, `gave up waiting for another process (pid ${sleeper.pid}) unpacking layer ${id}: it made no progress for 1 s`);
    return true;
  });
  assert.ok(Date.now() - t1 >= 500 && Date.now() - t1 < 3000, `${Date.now() - t1} ms`);
  assert.deepEqual(waits, [sleeper.pid]);
  assert.equal(snap.has(id), false);
  rmSync(join(dir, stuck), { recursive: true });
});
