// A container that fills the disk holding the store (root on a 30 MB tmpfs), then exits:
// every look still works (the exit is reported from conmon's exit file, which lives in the
// run root), `rm -f` frees the space, and the exit is recorded once a write succeeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { newInstance, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const freeBytes = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

test('a full disk does not lock the user out: reads work, stop and rm -f work and free the space', async (t) => {
  const inst = await newInstance(t);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=30m', 'tmpfs', inst.root]);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '-d', '--name', 'filler', '--network', 'none', img, 'sh', '-c', 'dd if=/dev/zero of=/fill bs=1M count=100; sleep 300']);
  const deadline = Date.now() + 30_000;
  while (freeBytes(inst.root) > 0) {
    assert.ok(Date.now() < deadline, 'the container filled the disk');
    await new Promise((r) => setTimeout(r, 100));
  }
  // A write to the store fails now.
  const refused = await inst.run(['rename', 'filler', 'other']);
  assert.equal(refused.code, 125);
  assert.match(refused.stderr, /^berth: .*no space left on device\n$/);

  await ok(inst, ['stop', '-t', '1', 'filler']);
  assert.match(await ok(inst, ['ps', '-a']), /Exited \(137\).*filler/);
  const seen = JSON.parse(await ok(inst, ['inspect', 'filler']))[0];
  assert.deepEqual([seen.State.Status, seen.State.ExitCode], ['exited', 137]);
  await ok(inst, ['logs', 'filler']);
  await ok(inst, ['system', 'df']);
  assert.match(await ok(inst, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']), /^filler Exited \(137\)/);

  await ok(inst, ['rm', '-f', 'filler']);
  assert.ok(freeBytes(inst.root) > 20 << 20, `rm -f freed the space (${freeBytes(inst.root)} bytes free)`);
  assert.equal(await ok(inst, ['ps', '-aq']), '');
  assert.equal((await ok(inst, ['run', '--rm', '--network', 'none', img, 'echo', 'room again'])).trim(), 'room again');
});

test('an exit that could not be recorded on a full disk is recorded once there is room', async (t) => {
  const inst = await newInstance(t);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=30m', 'tmpfs', inst.root]);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '-d', '--name', 'a', '--network', 'none', img, 'sleep', '300']);
  await ok(inst, ['run', '-d', '--name', 'filler', '--network', 'none', img, 'sh', '-c', 'dd if=/dev/zero of=/fill bs=1M count=100; sleep 300']);
  while (freeBytes(inst.root) > 0) await new Promise((r) => setTimeout(r, 100));
  await ok(inst, ['stop', '-t', '1', 'a']);
  assert.match(await ok(inst, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']), /^a Exited \(137\)/m);
  await ok(inst, ['rm', '-f', 'filler']);
  // Now the look records it: a restart works, as for any stopped container.
  await ok(inst, ['ps', '-a']);
  await ok(inst, ['start', 'a']);
  assert.match(await ok(inst, ['ps', '--format', '{{.Names}} {{.Status}}']), /^a Up/m);
  await ok(inst, ['rm', '-f', 'a']);
});
