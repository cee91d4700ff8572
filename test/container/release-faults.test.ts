// The end of a run when the process ending it dies: a SIGKILL of `stop`, of `rm -f` and of
// conmon's exit command, each parked at the exact point (BERTH_PARK_AT, src/sys/park.ts),
// and the exit time when nobody recorded the exit at once. Each asserts what is left on the
// host after the next look: netns, iptables rules, IPAM reservations, mounts, runtime state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, listMounts, newInstance, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function ls(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** iptables rules (filter and nat) that name this address. */
function rulesFor(ip: string): string[] {
  return execFileSync('iptables-save', [], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('-A') && l.includes(`${ip}/`));
}

/** What a run of container id holds on the host: its netns, rules, reservation, rootfs mount, runtime state. */
function held(inst: Instance, id: string, ip?: string): string[] {
  const found: string[] = [];
  if (existsSync(join(inst.runRoot, 'netns', id))) found.push('netns');
  if (ip && rulesFor(ip).length > 0) found.push('iptables rules');
  if (ip && ls(join(inst.root, 'cni', 'networks')).some((n) => existsSync(join(inst.root, 'cni', 'networks', n, ip)))) found.push('IPAM reservation');
  if (listMounts().some((m) => m.mountPoint === join(inst.root, 'containers', id, 'rootfs'))) found.push('rootfs mount');
  if (existsSync(join(inst.runRoot, 'runtime', id))) found.push('runtime state');
  return found;
}

/**
 * Runs `berth args` with env until it parks at point, then SIGKILLs its process group (as a
 * terminal's ^C-then-kill or a supervisor would). Returns the parked process's pid.
 */
async function killAt(inst: Instance, point: string, args: string[]): Promise<void> {
  const parkFile = join(inst.base, `parked-${point}`);
  const child = spawn(BERTH, args, { env: { ...inst.env, BERTH_PARK_AT: point, BERTH_PARK_FILE: parkFile }, stdio: 'ignore', detached: true });
  const exited = new Promise((r) => child.once('exit', r));
  await until(`berth ${args[0]} to reach ${point}`, () => existsSync(parkFile) || child.exitCode !== null);
  assert.ok(existsSync(parkFile), `berth ${args.join(' ')} exited (${child.exitCode}) before reaching ${point}`);
  process.kill(-child.pid!, 'SIGKILL');
  await exited;
}

function inspect(inst: Instance, ref: string): Promise<Record<string, any>> {
  return ok(inst, ['inspect', ref]).then((s) => JSON.parse(s)[0]);
}

test('a stop killed right after it recorded the exit: the next look releases the network, mounts and runtime state', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const id = (await ok(inst, ['run', '-d', '--name', 'a', '-p', '127.0.0.1::80', img, 'sleep', '1000'])).trim();
  const ip: string = (await inspect(inst, id)).NetworkSettings.IPAddress;
  assert.ok(ip, 'the container has an address');
  assert.deepEqual(held(inst, id, ip), ['netns', 'iptables rules', 'IPAM reservation', 'rootfs mount', 'runtime state']);

  await killAt(inst, 'exit-recorded', ['stop', '-t', '1', 'a']);
  assert.deepEqual(held(inst, id, ip), ['netns', 'iptables rules', 'IPAM reservation', 'rootfs mount', 'runtime state'], 'the kill came before the release');

  assert.match(await ok(inst, ['ps', '-a']), /Exited \(137\)/);
  assert.deepEqual(held(inst, id, ip), [], 'ps finished the release');
  // Started again, it gets a fresh run; removed, nothing stays.
  await ok(inst, ['start', 'a']);
  await ok(inst, ['rm', '-f', 'a']);
  assert.deepEqual(held(inst, id, ip), []);
});

test('an rm -f killed while removing: shown as in progress while its remover lives, finished by the next look once it died', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const id = (await ok(inst, ['run', '-d', '--name', 'b', img, 'sleep', '1000'])).trim();
  const ip: string = (await inspect(inst, id)).NetworkSettings.IPAddress;

  const parkFile = join(inst.base, 'parked-removing');
  const remover = spawn(BERTH, ['rm', '-f', 'b'], { env: { ...inst.env, BERTH_PARK_AT: 'removing', BERTH_PARK_FILE: parkFile }, stdio: 'ignore', detached: true });
  const exited = new Promise((r) => remover.once('exit', r));
  // A failed check must not leave it parked: the test file would never end.
  t.after(() => {
    try {
      process.kill(-remover.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  });
  await until('rm to park while removing', () => existsSync(parkFile));
  // Its remover still runs: others leave the removal to it.
  assert.match(await ok(inst, ['ps', '-a']), /Removal In Progress/);
  const again = await inst.run(['rm', '-f', 'b']);
  assert.equal(again.code, 125);
  assert.equal(again.stderr, 'berth: removal of container b is already in progress\n');
  process.kill(-remover.pid!, 'SIGKILL');
  await exited;

  assert.equal(await ok(inst, ['ps', '-aq']), '', 'the next look finished the removal');
  assert.deepEqual(held(inst, id, ip), []);
  assert.deepEqual(ls(join(inst.root, 'containers')), []);
  const gone = await inst.run(['rm', 'b']);
  assert.match(gone.stderr, /no such container: b/);
});

test("conmon's exit command killed after recording the exit: the next look releases; killed before: the exit time is the exit file's", async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  // conmon passes its environment to the exit command it runs: that one parks.
  const parkFile = join(inst.base, 'parked-exit-recorded');
  const env = { BERTH_PARK_AT: 'exit-recorded', BERTH_PARK_FILE: parkFile };
  const id = (await inst.run(['run', '-d', '--name', 'c', img, 'sh', '-c', 'sleep 0.5; exit 3'], { env })).stdout.trim();
  const ip: string = (await inspect(inst, id)).NetworkSettings.IPAddress;
  await until('the exit command to park', () => existsSync(parkFile));
  process.kill(Number(readFileSync(parkFile, 'utf8')), 'SIGKILL');
  assert.ok(held(inst, id, ip).length > 0, 'the kill came before the release');
  assert.match(await ok(inst, ['ps', '-a']), /Exited \(3\)/);
  assert.deepEqual(held(inst, id, ip), []);

  // Killed before it recorded anything: the exit is noticed seconds later, dated when it happened.
  const parkEarly = join(inst.base, 'parked-monitor-exit');
  const early = await inst.run(['run', '-d', '--name', 'd', '--network', 'none', img, 'sh', '-c', 'sleep 0.3; exit 4'], {
    env: { BERTH_PARK_AT: 'monitor-exit', BERTH_PARK_FILE: parkEarly },
  });
  assert.equal(early.code, 0, early.stderr);
  const startedBy = Date.now();
  await until('the exit command to park', () => existsSync(parkEarly));
  process.kill(Number(readFileSync(parkEarly, 'utf8')), 'SIGKILL');
  await sleep(3000);
  const d = await inspect(inst, 'd');
  assert.equal(d.State.ExitCode, 4);
  const finished = Date.parse(d.State.FinishedAt);
  assert.ok(finished >= startedBy - 1000 && finished <= startedBy + 1500, `FinishedAt ${d.State.FinishedAt} is when the process exited, not when it was noticed`);
  await ok(inst, ['rm', '-f', 'c', 'd']);
});
