// The leak finder must see each kind of leftover it promises to, and stop seeing it once
// it is gone. Other test files run concurrently, so these tests only look for their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findLeaks, isAlive, killAndWait, unmountUnder } from './index.js';

function mentioning(s: string): string[] {
  return findLeaks().filter((l) => l.includes(s));
}

test('a leftover test directory is reported until removed', () => {
  const dir = mkdtempSync('/tmp/berth-test-leak-');
  try {
    assert.deepEqual(mentioning(dir), [`directory: ${dir}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(mentioning(dir), []);
});

test('mounts in a test directory, and overlays built from one, are reported', (t) => {
  const dir = mkdtempSync('/tmp/berth-test-leak-');
  const outside = mkdtempSync('/tmp/leakcheck-');
  t.after(() => {
    unmountUnder(dir);
    unmountUnder(outside);
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });
  for (const d of ['tmpfs', 'lower', 'upper', 'work', 'upper2', 'work2', 'merged']) mkdirSync(join(dir, d));
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(dir, 'tmpfs')]);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`, join(dir, 'merged')]);
  // An overlay mounted elsewhere whose layers live in a test dir is a leak too.
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}/lower,upperdir=${dir}/upper2,workdir=${dir}/work2`, outside]);

  const leaks = findLeaks();
  assert.ok(leaks.includes(`mount: tmpfs on ${dir}/tmpfs`), leaks.join('\n'));
  assert.ok(leaks.includes(`mount: overlay on ${dir}/merged`), leaks.join('\n'));
  assert.ok(leaks.includes(`mount: overlay on ${outside}`), leaks.join('\n'));

  unmountUnder(dir);
  unmountUnder(outside);
  assert.deepEqual(mentioning('mount: ').filter((l) => l.includes(dir) || l.includes(outside)), []);
});

test('a process using a test directory is reported until it exits', async (t) => {
  const dir = mkdtempSync('/tmp/berth-test-leak-');
  const child = spawn('sh', ['-c', 'sleep 60; :', dir], { stdio: 'ignore' });
  t.after(async () => {
    await killAndWait([child.pid!]);
    rmSync(dir, { recursive: true, force: true });
  });
  assert.ok(child.pid && isAlive(child.pid));
  // sh forks before it execs sleep: for a moment its child carries the same arguments.
  const found = mentioning(dir).filter((l) => l.startsWith('process: '));
  assert.ok(found.includes(`process: ${child.pid} sh (argument ${dir})`), found.join('\n'));
  await killAndWait([child.pid]);
  assert.deepEqual(mentioning(dir).filter((l) => l.startsWith('process: ')), []);
});

test('runc state left in a test directory is reported', (t) => {
  const dir = mkdtempSync('/tmp/berth-test-leak-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'run', 'runc', 'abc123');
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, 'state.json'), '{}');
  assert.ok(mentioning(dir).includes(`runc state: ${state}`));
});

test('a container cgroup under berth/ is reported', (t) => {
  const memory = '/sys/fs/cgroup/memory';
  if (!existsSync(memory)) return t.skip('no cgroup v1 memory controller here');
  const parent = join(memory, 'berth');
  const madeParent = !existsSync(parent);
  const cg = join(parent, `leak-check-${process.pid}`);
  mkdirSync(cg, { recursive: true });
  t.after(() => {
    rmdirSync(cg);
    if (madeParent) {
      try {
        rmdirSync(parent);
      } catch {
        // A concurrent test's container has a cgroup there now.
      }
    }
  });
  assert.ok(findLeaks().includes(`cgroup: ${cg}`));
});
