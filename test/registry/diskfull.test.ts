// A pull that runs out of disk: one clear error, nothing half-written left in the store,
// and the same pull completes once there is room. The store is on a small tmpfs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance } from '../helpers/index.js';
import { bigImage, insecureConf, skopeoPush, startRegistry, tempDir } from './fixture.js';

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

test('a pull that fills the disk fails clearly and leaves the store clean', async (t) => {
  const reg = await startRegistry(t);
  const { layout } = bigImage(tempDir(t, 'layout'), 8 << 20, 2);
  await skopeoPush(layout, 'big', `${reg.host}/test/big:1`);
  const inst = await newInstance(t);
  // 12 MiB: room for the store and the first layers, not for the whole image.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', inst.root]);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) };
  const full = await inst.run(['pull', '-q', `${reg.host}/test/big:1`], { env, timeoutMs: 120_000 });
  assert.equal(full.code, 125);
  // With the disk full even the clean-up's own writes may fail; those are logged before
  // the error, and the next run's sweep finishes the job.
  // It says what was being written, in berth's words (not ENOSPC's or SQLite's).
  assert.match(full.stderr.trim().split('\n').at(-1)!, /^berth: (writing|unpacking) \S.*: no space left on device$/);
  assert.equal((await inst.run(['images', '-q'])).stdout, '');
  assert.deepEqual(entries(join(inst.root, 'content', 'ingest')), [], 'no partial downloads');
  // Room again: the same pull completes, and the store holds exactly that image.
  execFileSync('mount', ['-o', 'remount,size=64m', inst.root]);
  const ok = await inst.run(['pull', '-q', `${reg.host}/test/big:1`], { env, timeoutMs: 120_000 });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^[0-9a-f]{64}\n$/);
  const gc = await inst.run(['image', 'prune', '-f'], { env });
  assert.equal(gc.code, 0, gc.stderr);
  assert.deepEqual(entries(join(inst.root, 'snapshots')).filter((n) => n.startsWith('.')), [], 'no half-extracted snapshots');
  assert.equal(entries(join(inst.root, 'snapshots')).filter((n) => /^[0-9a-f]{64}$/.test(n)).length, 3, 'one snapshot per layer');
  const run = await inst.run(['run', '--rm', '--network', 'none', `${reg.host}/test/big:1`, 'ls', '/'], { env });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /data0/);
});
