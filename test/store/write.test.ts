// store.write() waits for a write lock another process holds on timers, not in SQLite's
// busy handler: the event loop keeps running meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isBerthError } from '../../src/errors/index.js';
import { openStore } from '../../src/store/index.js';
import Sqlite from 'better-sqlite3';

const storeModule = pathToFileURL(join(fileURLToPath(import.meta.url), '..', '..', '..', 'src', 'store', 'index.js')).href;

/** Another process that takes the store's write lock (BEGIN IMMEDIATE) and keeps it for holdMs. */
async function holdWriteLock(t: { after: (fn: () => unknown) => void }, root: string, holdMs: number): Promise<{ released: Promise<void> }> {
  const code = `
    const { openStore } = await import(${JSON.stringify(storeModule)});
    const s = openStore(${JSON.stringify(root)});
    s.db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    setTimeout(() => { s.db.exec('COMMIT'); s.close(); }, ${holdMs});`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const exited = new Promise<void>((resolve, reject) => child.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`lock holder exited ${c}`)))));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('exit', () => reject(new Error('lock holder exited before locking')));
  });
  return { released: exited };
}

function tempStore(t: { after: (fn: () => unknown) => void }) {
  const dir = mkdtempSync('/tmp/berth-test-store-');
  const store = openStore(join(dir, 'root'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { root: join(dir, 'root'), store };
}

const insertLease = (store: ReturnType<typeof openStore>, id: string) => () =>
  store.db.prepare('INSERT INTO leases (id, pid, created_at) VALUES (?, ?, ?)').run(id, process.pid, Date.now());
const leaseCount = (store: ReturnType<typeof openStore>) => (store.db.prepare('SELECT count(*) AS n FROM leases').get() as { n: number }).n;

test('write() waits for a lock held by another process while timers keep firing', async (t) => {
  const { root, store } = tempStore(t);
  const holder = await holdWriteLock(t, root, 1000);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  t.after(() => clearInterval(timer));
  const start = Date.now();
  await store.write(insertLease(store, 'a'));
  const waited = Date.now() - start;
  clearInterval(timer);
  await holder.released;
  assert.equal(leaseCount(store), 1);
  assert.ok(waited >= 800, `waited ${waited} ms for the lock`);
  // A blocked loop fires no timer at all while it waits; 10 ms timers over ~1 s fire ~100 times.
  assert.ok(ticks >= 40, `the 10 ms timer fired ${ticks} times in ${waited} ms`);
});

test('write() gives up at its timeout or its signal, writing nothing', async (t) => {
  const { root, store } = tempStore(t);
  const holder = await holdWriteLock(t, root, 1500);
  const start = Date.now();
  await assert.rejects(store.write(insertLease(store, 'late'), { timeoutMs: 200 }), (e: unknown) => isBerthError(e, 'Unavailable'));
  assert.ok(Date.now() - start < 1000);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  await assert.rejects(store.write(insertLease(store, 'aborted'), { signal: ac.signal }), (e: unknown) => (e as Error).name === 'AbortError');
  await holder.released;
  assert.equal(leaseCount(store), 0);
  // Inside a transaction of our own the lock is ours: no wait, and it joins that transaction.
  store.tx(() => void store.write(insertLease(store, 'nested')));
  assert.equal(leaseCount(store), 1);
});

test('a store made by a newer berth is refused, not downgraded', (t) => {
  const root = mkdtempSync('/tmp/berth-test-store-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = openStore(root);
  const current = s.db.pragma('user_version', { simple: true }) as number;
  s.db.pragma(`user_version = ${current + 1}`);
  s.close();
  assert.throws(() => openStore(root), (e: unknown) => isBerthError(e, 'FailedPrecondition') && /newer than this berth knows/.test((e as Error).message));
  const again = new Sqlite(join(root, 'berth.db'));
  assert.equal(again.pragma('user_version', { simple: true }), current + 1, 'the version was left alone');
  again.close();
});
