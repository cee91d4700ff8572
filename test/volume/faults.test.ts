// A volume create or rm killed half-way: the row recorded the intent, and the next look of
// any berth process finishes the job (the half-made or half-removed volume is removed);
// the event log tells only of volumes that were made and removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, newInstance, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Runs `berth args` until it parks at point (src/sys/park.ts), then SIGKILLs it. */
async function killAt(inst: Instance, point: string, args: string[]): Promise<void> {
  const parkFile = join(inst.base, `parked-${point}`);
  const child = spawn(BERTH, args, { env: { ...inst.env, BERTH_PARK_AT: point, BERTH_PARK_FILE: parkFile }, stdio: 'ignore', detached: true });
  const exited = new Promise((r) => child.once('exit', r));
  const deadline = Date.now() + 30_000;
  while (!existsSync(parkFile) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(existsSync(parkFile), `berth ${args.join(' ')} exited (${child.exitCode}) before reaching ${point}`);
  process.kill(-child.pid!, 'SIGKILL');
  await exited;
}

test('volume create and rm killed half-way: the next look removes what is left; the name is free again', async (t) => {
  const inst = await newInstance(t);
  const dir = join(inst.root, 'volumes', 'v');
  await killAt(inst, 'volume-creating', ['volume', 'create', 'v']);
  assert.ok(existsSync(dir), 'the kill came after the directory was made');
  assert.equal(await ok(inst, ['volume', 'ls', '-q']), '', 'a half-made volume is not listed');
  assert.equal(existsSync(dir), false, 'and its directory is gone');
  assert.equal(await ok(inst, ['volume', 'create', 'v']), 'v\n');

  await killAt(inst, 'volume-removing', ['volume', 'rm', 'v']);
  assert.ok(existsSync(dir), 'the kill came before the directory went');
  assert.equal((await inst.run(['volume', 'exists', 'v'])).code, 1);
  assert.equal(existsSync(dir), false);
  assert.equal(await ok(inst, ['volume', 'create', 'v']), 'v\n');
  await ok(inst, ['volume', 'rm', 'v']);
  // The event log: each volume that became ready was created, each that was removed after that removed.
  const events = await ok(inst, ['events', '--since', '0', '--until', '0s', '--filter', 'type=volume', '--format', '{{.Type}} {{.Action}} {{.Actor.ID}}']);
  assert.equal(events, 'volume create v\nvolume remove v\nvolume create v\nvolume remove v\n');
  assert.equal(await ok(inst, ['events', '--since', '0', '--until', '0s', '--filter', 'volume=other', '--format', '{{.Action}}']), '');
});
