// pause and unpause through the CLI with real runc and cgroups: the processes are really
// frozen (the freezer cgroup says FROZEN and a counter stops), the state shows in ps and
// inspect from later processes, unpause resumes, and stop, kill and rm -f end a paused
// container with conmon recording the exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { berthFails, berthOk, isAlive, newInstance, type Instance } from '../helpers/index.js';

// Written by rename, so that a reader never sees the file half written.
const COUNTER = 'i=0; while :; do i=$((i+1)); echo $i > /tmp/next; mv /tmp/next /tmp/count; sleep 0.05; done';

const ok = berthOk;
const failsWith = berthFails;

/** The freezer state of the process' cgroup (v1 freezer.state, else v2 cgroup.freeze). */
function freezerState(pid: number): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:freezer:/.test(l));
  if (v1) return readFileSync(`/sys/fs/cgroup/freezer${v1.split(':')[2]}/freezer.state`, 'utf8').trim();
  const v2 = lines.find((l) => l.startsWith('0::'))!;
  return readFileSync(`/sys/fs/cgroup${v2.slice(3)}/cgroup.freeze`, 'utf8').trim() === '1' ? 'FROZEN' : 'THAWED';
}

const count = (pid: number) => Number(readFileSync(`/proc/${pid}/root/tmp/count`, 'utf8').trim());

async function inspect(inst: Instance, name: string): Promise<{ Status: string; Paused: boolean; Running: boolean; Pid: number; ConmonPid: number; ExitCode: number }> {
  return JSON.parse(await ok(inst, ['inspect', '-f', '{{json .State}}', name]));
}

async function counting(inst: Instance, name: string): Promise<{ pid: number; conmonPid: number }> {
  await ok(inst, ['run', '-d', '--network', 'none', '--name', name, await inst.importBusybox(), 'sh', '-c', COUNTER]);
  const s = await inspect(inst, name);
  for (const deadline = Date.now() + 10_000; ; await sleep(50)) {
    try {
      if (count(s.Pid) > 0) break;
    } catch {
      // Not written yet.
    }
    assert.ok(Date.now() < deadline, 'the counter never started');
  }
  return { pid: s.Pid, conmonPid: s.ConmonPid };
}

test('pause freezes the processes, unpause resumes them, and the state is seen by later commands', async (t) => {
  const inst = await newInstance(t);
  const { pid } = await counting(inst, 'frozen');

  assert.equal(await ok(inst, ['pause', 'frozen']), 'frozen\n');
  assert.equal(freezerState(pid), 'FROZEN');
  const at = count(pid);
  await sleep(500);
  assert.equal(count(pid), at, 'the counter advanced while paused');

  // Every command is a new process: the state is read back from the store and the runtime.
  let s = await inspect(inst, 'frozen');
  assert.deepEqual([s.Status, s.Paused, s.Running], ['paused', true, false]);
  assert.match(await ok(inst, ['ps']), /^[0-9a-f]{12} +busybox-test +"sh -c i=0; while :;…" +.+ ago +Paused +frozen\n/m);
  assert.equal(await ok(inst, ['ps', '--filter', 'status=paused', '--format', '{{.Names}} {{.State}}']), 'frozen paused\n');
  assert.equal(await ok(inst, ['ps', '--filter', 'status=running', '-q']), '');
  await sleep(2500); // past the monitor sweep of any watcher: still paused, not taken for dead
  assert.equal((await inspect(inst, 'frozen')).Status, 'paused');

  await failsWith(inst, ['pause', 'frozen'], /^berth: "[0-9a-f]{64}" is already paused: container state improper\n$/);
  await failsWith(inst, ['exec', 'frozen', 'true'], /^berth: container frozen is paused, unpause the container before exec\n$/);
  const rmPaused = await inst.run(['rm', 'frozen']);
  assert.equal(rmPaused.code, 2, 'podman: 2 for a paused or running container');
  assert.match(rmPaused.stderr, /container is paused: stop the container before removing or force remove/);

  assert.equal(await ok(inst, ['container', 'unpause', 'frozen']), 'frozen\n');
  assert.equal(freezerState(pid), 'THAWED');
  const resumed = count(pid);
  await sleep(500);
  assert.ok(count(pid) > resumed, 'the counter did not resume');
  s = await inspect(inst, 'frozen');
  assert.deepEqual([s.Status, s.Paused, s.Running], ['running', false, true]);
  await failsWith(inst, ['unpause', 'frozen'], /^berth: "[0-9a-f]{64}" is not paused, can't unpause: container state improper\n$/);

  const until = new Date(Date.now() + 1000).toISOString();
  const events = await ok(inst, ['events', '--since', '1m', '--until', until, '--filter', 'container=frozen', '--format', '{{.Action}}']);
  assert.deepEqual(events.trim().split('\n').filter((a) => a.includes('pause')), ['pause', 'unpause']);

  // Only a running container pauses.
  await ok(inst, ['create', '--network', 'none', '--name', 'idle', await inst.importBusybox(), 'true']);
  await failsWith(inst, ['pause', 'idle'], /^berth: "created" is not running, can't pause: container state improper\n$/);
  await failsWith(inst, ['unpause', 'idle'], /is not paused, can't unpause/);
  await ok(inst, ['rm', '-f', 'frozen', 'idle']);
});

test('stop, kill and rm -f end a paused container, and conmon records the exit', async (t) => {
  const inst = await newInstance(t);
  const ends = async (name: string, pid: number, conmonPid: number) => {
    for (const deadline = Date.now() + 10_000; isAlive(pid) || isAlive(conmonPid); await sleep(50)) assert.ok(Date.now() < deadline, `${name}: a process outlived the end`);
  };

  const a = await counting(inst, 'stopped');
  await ok(inst, ['pause', 'stopped']);
  await ok(inst, ['stop', '-t', '1', 'stopped']);
  await ends('stopped', a.pid, a.conmonPid);
  let s = await inspect(inst, 'stopped');
  // sh as PID 1 ignores SIGTERM: the SIGKILL after the timeout ended it.
  assert.deepEqual([s.Status, s.Paused, s.ExitCode], ['exited', false, 137]);
  await failsWith(inst, ['pause', 'stopped'], /^berth: "exited" is not running, can't pause: container state improper\n$/);
  // It starts again, unpaused.
  await ok(inst, ['start', 'stopped']);
  s = await inspect(inst, 'stopped');
  assert.deepEqual([s.Status, s.Paused], ['running', false]);

  const b = await counting(inst, 'killed');
  // --all pauses what runs (both), and says which.
  const paused = (await ok(inst, ['pause', '--all'])).trim().split('\n').sort();
  assert.equal(paused.length, 2);
  assert.equal(await ok(inst, ['ps', '--filter', 'status=paused', '-q']).then((o) => o.trim().split('\n').length), 2);
  await ok(inst, ['kill', 'killed']);
  await ends('killed', b.pid, b.conmonPid);
  s = await inspect(inst, 'killed');
  assert.deepEqual([s.Status, s.ExitCode], ['exited', 137]);

  const c = await inspect(inst, 'stopped');
  await ok(inst, ['rm', '-f', 'stopped', 'killed']);
  await ends('removed', c.Pid, c.ConmonPid);
  assert.equal(await ok(inst, ['ps', '-aq']), '');
});
