// What a killed pull leaves (partial downloads in content/ingest, blobs and snapshots no
// image references) shows in `system df` and is swept by the next pull, without touching
// what a live pull holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, newInstance, type Instance } from '../helpers/index.js';
import { openStore } from '../../src/store/index.js';
import { bigImage, insecureConf, makeLayout, skopeoPush, startFaultProxy, startRegistry, tempDir } from './fixture.js';

const ls = (p: string) => (existsSync(p) ? readdirSync(p) : []);
// A file may be renamed away between the listing and its stat (a finished download).
const bytesIn = (dir: string) => ls(dir).reduce((n, f) => n + (statSync(join(dir, f), { throwIfNoEntry: false })?.size ?? 0), 0);

interface DfRow {
  Type: string;
  Total: number;
  Active: number;
  RawSize: number;
  RawReclaimable: number;
}
async function leftoversRow(inst: Instance): Promise<DfRow> {
  const df = await inst.run(['system', 'df', '--format', 'json']);
  assert.equal(df.code, 0, df.stderr);
  return (JSON.parse(df.stdout) as DfRow[]).find((r) => r.Type === 'Leftovers')!;
}

/** A proxy that sends blobs slowly, so a pull is still downloading when it is killed. */
async function slowRegistry(t: Parameters<typeof startRegistry>[0], target: string, bytesPerSecond: number) {
  return startFaultProxy(t, target, async (req, upstream, res) => {
    if (req.method !== 'GET' || !req.url?.includes('/blobs/')) return false;
    const up = await upstream();
    res.writeHead(up.statusCode ?? 200, up.headers);
    const step = bytesPerSecond / 50;
    for await (const chunk of up as AsyncIterable<Buffer>) {
      for (let off = 0; off < chunk.length; off += step) {
        if (res.destroyed) return true;
        res.write(chunk.subarray(off, off + step));
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    res.end();
    return true;
  });
}

function startPull(env: NodeJS.ProcessEnv, ref: string) {
  const child = spawn(BERTH, ['pull', '-q', ref], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  return { child, done };
}

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a SIGKILLed pull: system df shows its leftovers, the next pull sweeps them, a live pull keeps its own', async (t) => {
  const reg = await startRegistry(t);
  const { layout } = bigImage(tempDir(t, 'leftovers-layout'), 6 << 20, 3);
  await skopeoPush(layout, 'big', `${reg.host}/lo/big:1`);
  await skopeoPush(makeLayout(tempDir(t, 'leftovers-small')), 'single', `${reg.host}/lo/small:1`);
  const proxy = await slowRegistry(t, reg.host, 2 << 20);
  const inst = await newInstance(t);
  const env = { ...inst.env, CONTAINERS_REGISTRIES_CONF: insecureConf(t, proxy.host, reg.host) };
  const ingest = join(inst.root, 'content', 'ingest');
  const blobs = join(inst.root, 'content', 'blobs', 'sha256');

  // Killed mid-download: partial layers in the ingest dir (and maybe a finished layer's blob and snapshot).
  const killed = startPull(env, `${proxy.host}/lo/big:1`);
  await until('a partial download', () => bytesIn(ingest) > 1 << 20);
  killed.child.kill('SIGKILL');
  assert.equal((await killed.done).signal, 'SIGKILL');
  const partial = bytesIn(ingest);
  assert.ok(partial > 1 << 20, `${partial} bytes in ingest`);
  const row = await leftoversRow(inst);
  assert.ok(row.Total >= ls(ingest).length && row.RawSize >= partial, `df counts the leftovers: ${JSON.stringify(row)} vs ${partial} bytes`);
  assert.equal(row.Active, 0, 'nothing alive holds them');
  assert.equal(row.RawReclaimable, row.RawSize);
  const text = (await inst.run(['system', 'df'])).stdout;
  assert.match(text, /^Leftovers\s+\d+\s+0\s+\d[\d.]*[kMG]?B\s+\d[\d.]*[kMG]?B \(100%\)$/m);

  // A live pull of the same image; while it downloads, a dead operation's marks are planted
  // (a lease and a staging file of a pid that exited) so that the next pull collects.
  const live = startPull(env, `${proxy.host}/lo/big:1`);
  await until('the live pull to download', () => ls(ingest).some((n) => n.startsWith(`${live.child.pid}-`) && statSync(join(ingest, n)).size > 0));
  assert.ok(!ls(ingest).some((n) => n.startsWith(`${killed.child.pid}-`)), 'the live pull swept the killed one\'s files first');
  const gone = spawn('/bin/true');
  await new Promise((r) => gone.on('close', r));
  writeFileSync(join(ingest, `${gone.pid}-12345-00000000-0000-4000-8000-000000000000`), Buffer.alloc(4096));
  const db = openStore(inst.root);
  db.db.prepare('INSERT INTO leases (id, pid, created_at) VALUES (?, ?, ?)').run('dead', gone.pid, Date.now());
  db.close();
  const liveFiles = ls(ingest).filter((n) => n.startsWith(`${live.child.pid}-`));
  assert.ok((await leftoversRow(inst)).Active >= liveFiles.length, 'df counts the live pull\'s files as active');

  const small = await inst.run(['pull', '-q', `${reg.host}/lo/small:1`], { env, timeoutMs: 120_000 });
  assert.equal(small.code, 0, small.stderr);
  const after = ls(ingest);
  assert.ok(!after.some((n) => n.startsWith(`${gone.pid}-`)), 'the dead writer\'s file was swept');
  for (const f of liveFiles) if (!existsSync(join(ingest, f))) assert.ok(ls(blobs).length > 0, `${f} vanished only by being committed`);
  const rows = openStore(inst.root);
  const leases = rows.db.prepare('SELECT id FROM leases').all() as { id: string }[];
  rows.close();
  assert.ok(!leases.some((l) => l.id === 'dead'), 'the dead lease was dropped');

  const r = await live.done;
  assert.equal(r.code, 0, `the live pull completes: ${r.stderr}`);
  assert.equal((await inst.run(['images', '-q'])).stdout.split('\n').filter(Boolean).length, 2);
  assert.deepEqual(ls(ingest), []);
  const end = await leftoversRow(inst);
  assert.deepEqual([end.Total, end.RawSize], [0, 0], 'nothing is left over');
});

test('a SIGKILLed load: its partial files show in system df and the next load sweeps them', async (t) => {
  const inst = await newInstance(t);
  const image = await inst.importBusybox('bb');
  const archive = join(inst.base, 'bb.tar');
  const saved = await inst.run(['save', '-o', archive, image]);
  assert.equal(saved.code, 0, saved.stderr);
  assert.equal((await inst.run(['rmi', image])).code, 0);
  const ingest = join(inst.root, 'content', 'ingest');

  // Half the archive, then the writer stalls: the load is mid-way when it is killed.
  const bytes = (await import('node:fs')).readFileSync(archive);
  const load = spawn(BERTH, ['load'], { env: inst.env, stdio: ['pipe', 'ignore', 'ignore'] });
  load.stdin!.on('error', () => {});
  load.stdin!.write(bytes.subarray(0, bytes.length >> 1));
  await until('a partial file of the load', () => ls(ingest).some((n) => n.startsWith(`${load.pid}-`) && statSync(join(ingest, n)).size > 0));
  load.kill('SIGKILL');
  await new Promise((r) => load.on('close', r));
  const row = await leftoversRow(inst);
  assert.ok(row.Total > 0 && row.RawSize > 0 && row.RawReclaimable === row.RawSize, JSON.stringify(row));

  const again = await inst.run(['load', '-i', archive]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(ls(ingest), [], 'the killed load\'s files were swept');
  const end = await leftoversRow(inst);
  assert.deepEqual([end.Total, end.RawSize], [0, 0]);
});

test('an interrupted pull (SIGINT, SIGTERM) removes what it made and ends by that signal', async (t) => {
  const reg = await startRegistry(t);
  const { layout } = bigImage(tempDir(t, 'interrupt-layout'), 6 << 20, 3);
  await skopeoPush(layout, 'big', `${reg.host}/int/big:1`);
  const proxy = await slowRegistry(t, reg.host, 2 << 20);
  const inst = await newInstance(t);
  const env = { ...inst.env, CONTAINERS_REGISTRIES_CONF: insecureConf(t, proxy.host, reg.host) };
  const ingest = join(inst.root, 'content', 'ingest');
  const snapshots = join(inst.root, 'snapshots');

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // Mid-download, with the first layers' unpacking under way or done.
    const pull = startPull(env, `${proxy.host}/int/big:1`);
    await until('a partial download', () => bytesIn(ingest) > 1 << 20);
    assert.ok(ls(snapshots).some((n) => n.startsWith('.tmp-') || /^[0-9a-f]{64}$/.test(n)), 'an unpacking began');
    const sent = Date.now();
    pull.child.kill(signal);
    const r = await pull.done;
    assert.equal(r.signal, signal, `ended by ${signal}: ${r.code} ${r.stderr}`);
    assert.ok(Date.now() - sent < 5_000, `stopped ${Date.now() - sent} ms after ${signal}`);
    assert.deepEqual(ls(ingest), [], 'no staging files or download claims');
    assert.deepEqual(ls(snapshots).filter((n) => n !== 'empty'), [], 'no snapshots or their work dirs');
    assert.deepEqual(ls(join(inst.root, 'content', 'blobs', 'sha256')), [], 'no blobs');
    const row = await leftoversRow(inst);
    assert.deepEqual([row.Total, row.RawSize], [0, 0], 'nothing is left over');
    assert.equal((await inst.run(['images', '-q'])).stdout, '');
  }
});
