// The container lifecycle through the library, as berthd will drive it (real runc, conmon,
// overlayfs and CNI): reconciliation, the incarnation guards, and exits that happen while
// no berth process runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { BERTH, isAlive, listMounts, listProcesses, newInstance, spawnSleeper, spawnZombie, startTimeOf, type Instance } from '../helpers/index.js';
import { isBerthError } from '../../src/errors/index.js';
import { openEngine, type TestEngine } from './engine.js';
import { cgroupDirs } from '../oci/fixture.js';

const dirsOf = (inst: Instance) => ({ root: inst.root, runRoot: inst.runRoot, configDir: inst.configDir });
const mountsUnder = (inst: Instance) => listMounts().filter((m) => m.mountPoint.startsWith(inst.base));
/** conmon's exit command, as the CLI wires it: bin/berth over the same dirs. */
const cleanupCommand = (inst: Instance) => [BERTH, '--root', inst.root, '--runroot', inst.runRoot, '--config-dir', inst.configDir, 'container-cleanup'];

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A pid that no process has (one that just exited). */
function deadPid(): number {
  const r = spawnSync('true');
  return r.pid!;
}

async function setup(t: Parameters<typeof newInstance>[0], o: Parameters<typeof openEngine>[1] = {}): Promise<{ inst: Instance; e: TestEngine; img: string }> {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const e = await openEngine(dirsOf(inst), o);
  t!.after(() => e.close());
  return { inst, e, img };
}

test('lifecycle: create, start, exec, execSync, stop, start again, remove', async (t) => {
  const { inst, e, img } = await setup(t, {});
  const m = e.containers;
  const c = await m.create({ image: img, command: ['sh', '-c', 'trap "exit 3" TERM; echo hi; while true; do sleep 0.1; done'], network: { mode: 'none' }, labels: { a: 'b' } });
  assert.equal(c.state, 'created');
  assert.equal(c.config.hostname, c.id.slice(0, 12), 'the hostname is decided once, at creation');
  assert.deepEqual(c.config.args, ['sh', '-c', 'trap "exit 3" TERM; echo hi; while true; do sleep 0.1; done']);
  const running = await m.start(c.id);
  assert.equal(running.state, 'running');
  assert.ok(running.pid && isAlive(running.pid));
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const r = await m.exec(c.id, { command: ['sh', '-c', 'echo $FOO; hostname'], env: ['FOO=bar'] }, { stdout: out, stderr: out });
  assert.equal(r.exitCode, 0);
  assert.equal(text, `bar\n${c.id.slice(0, 12)}\n`);
  await assert.rejects(m.exec(c.id, { command: ['true'], env: ['NOVALUE'] }), (err: unknown) => isBerthError(err, 'InvalidArgument'));
  const sync = await m.runtime.execSync(c.id, { ...(JSON.parse(readFileSync(join(m.paths(c).dir, 'config.json'), 'utf8')).process), args: ['sh', '-c', 'echo out; echo err >&2; exit 4'] });
  assert.deepEqual([sync.exitCode, sync.stdout.toString(), sync.stderr.toString()], [4, 'out\n', 'err\n']);
  // An aborted exec ends its process and returns promptly.
  const ac = new AbortController();
  const t0 = Date.now();
  setTimeout(() => ac.abort(), 300);
  const aborted = await m.exec(c.id, { command: ['sleep', '30'] }, { stdout: new PassThrough(), stderr: new PassThrough() }, { signal: ac.signal });
  assert.ok(Date.now() - t0 < 10_000, 'the aborted exec did not run on');
  assert.equal(aborted.exitCode, 137);
  // The runtime facade's other verbs: new limits for a running container, a reopened log.
  await m.runtime.updateResources(c.id, { pids: { limit: 42 } });
  const pidsMax = new PassThrough();
  let limit = '';
  pidsMax.on('data', (d) => (limit += d));
  await m.exec(c.id, { command: ['cat', '/sys/fs/cgroup/pids/pids.max'] }, { stdout: pidsMax, stderr: pidsMax });
  assert.equal(limit.trim(), '42');
  m.runtime.reopenLog(c.id);
  assert.equal((await m.runtime.state(c.id))?.status, 'running');
  const stopped = await m.stop(c.id, { timeout: 10 });
  assert.deepEqual([stopped.state, stopped.exitCode], ['stopped', 3]);
  assert.deepEqual(mountsUnder(inst), [], 'released: rootfs unmounted');
  assert.equal(existsSync(m.runtime.stateDir(c.id)), false, 'released: runtime state deleted');
  const again = await m.start(c.id);
  assert.equal(again.state, 'running');
  assert.notEqual(again.conmonPid, running.conmonPid, 'a new incarnation has a new monitor');
  await m.remove(c.id, { force: true });
  assert.deepEqual(e.containers.records.all(), []);
  assert.deepEqual(mountsUnder(inst), []);
  assert.equal(existsSync(m.paths(c).dir), false);

  // An aborted stop stops waiting (the stop signal stays sent); an aborted start starts nothing.
  const stubborn = await m.create({ image: img, command: ['sleep', '1000'], network: { mode: 'none' } });
  await assert.rejects(m.start(stubborn.id, { signal: AbortSignal.abort() }));
  assert.equal((await m.get(stubborn.id)).state, 'created');
  await m.start(stubborn.id);
  const s0 = Date.now();
  await assert.rejects(m.stop(stubborn.id, { timeout: 60, signal: AbortSignal.timeout(300) }));
  assert.ok(Date.now() - s0 < 10_000, 'the aborted stop returned before its timeout');
  assert.equal((await m.get(stubborn.id)).state, 'running', 'PID 1 ignores TERM: still running');
  await m.remove(stubborn.id, { force: true });
});

test('an aborted create leaves nothing behind', async (t) => {
  const { inst, e, img } = await setup(t);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(e.containers.create({ image: img, command: ['true'], network: { mode: 'none' } }, { signal: ac.signal }));
  // Aborted midway: after the row and the rootfs exist.
  const mid = new AbortController();
  const made = e.containers.create({ image: img, command: ['true'], network: { mode: 'none' } }, { signal: mid.signal });
  await until('the creation has a row', () => e.containers.records.all().length > 0, 10_000).catch(() => {});
  mid.abort();
  await made.then((c) => e.containers.remove(c.id, { force: true }), () => {});
  assert.deepEqual(e.containers.records.all(), []);
  assert.deepEqual(mountsUnder(inst), []);
  assert.deepEqual(listProcesses().filter((p) => p.cmdline[0]?.endsWith('conmon') && p.cmdline.join(' ').includes(inst.base)), []);
});

test('an exit while no berth process runs: the creator is killed, the container exits, a new manager sees it', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const creator = fileURLToPath(new URL('./creator.js', import.meta.url));
  const child = spawn(process.execPath, [creator, JSON.stringify({ dirs: dirsOf(inst), image: img, command: ['sh', '-c', 'sleep 1; exit 7'] })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const id = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`creator exited (${code}) before printing an id`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const e = await openEngine(dirsOf(inst));
  t.after(() => e.close());
  // The container outlived its creator; its monitor records the exit in the exit file.
  const exitFile = join(e.containers.runtime.dirs.exitDir, id);
  await until('conmon recorded the exit', () => existsSync(exitFile));
  assert.equal(e.containers.records.byId(id)?.state, 'running', 'nobody has recorded the exit yet');
  const c = await e.containers.get(id);
  assert.deepEqual([c.state, c.exitCode], ['stopped', 7]);
  assert.deepEqual(mountsUnder(inst), [], 'the next look released the rootfs');
  assert.equal(existsSync(e.containers.runtime.stateDir(id)), false, 'and the runtime state');
  assert.equal(await e.containers.wait(id), 7);
});

test('reconciliation: interrupted creations are removed, an interrupted restart goes back to stopped', async (t) => {
  const { inst, e, img } = await setup(t);
  const m = e.containers;
  const image = e.images.resolve(img);
  const creating = (id: string, name: string, creator: string) =>
    m.records.insertCreating({ id: id.repeat(64), name, imageId: image.id, imageName: null, config: { image: img }, creator, createdAt: Date.now() });
  // A creator that died right after writing its row.
  await creating('f', 'orphaned', `${deadPid()}-1`);
  // One whose pid now names another process (a reused pid: same pid, another start time).
  const other = spawnSleeper(t);
  await creating('d', 'reused-pid', `${other.pid}-${other.startTime + 1}`);
  // One whose creator is a zombie: it exited, its parent has not reaped it.
  const zombie = await spawnZombie(t);
  await creating('c', 'zombie', `${zombie.pid}-${zombie.startTime}`);
  // A row from before start times were recorded names a pid only: a live pid keeps it.
  await creating('b', 'old-row', `${other.pid}-0`);
  e.store.db.prepare('UPDATE containers SET cleanup_owner = NULL WHERE id = ?').run('b'.repeat(64));
  // A creation in progress (its creator lives: this process) is left alone.
  await creating('e', 'in-progress', `${process.pid}-${startTimeOf(process.pid)}`);
  // The next command: `ps -a` in another process.
  const ps = await inst.run(['ps', '-a', '--format', '{{.Names}}']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.deepEqual(ps.stdout.split('\n').filter(Boolean).sort(), ['in-progress', 'old-row']);
  for (const id of ['f', 'd', 'c']) assert.equal(m.records.byId(id.repeat(64)), undefined, `${id}: removed`);
  assert.deepEqual((await m.list({ all: true })).map((c) => c.name).sort(), ['in-progress', 'old-row']);
  await m.records.delete('e'.repeat(64));
  await m.records.delete('b'.repeat(64));

  const c = await m.create({ image: img, command: ['sh', '-c', 'exit 0'], network: { mode: 'none' } });
  await m.start(c.id);
  assert.equal(await m.wait(c.id), 0);
  // A restart whose process died after claiming the row.
  assert.ok(await m.records.claimForRecreate(c.id, `${deadPid()}-1`));
  const back = await m.get(c.id);
  assert.deepEqual([back.state, back.exitCode], ['stopped', 0]);
  const restarted = await m.start(c.id);
  assert.ok(['running', 'stopped'].includes(restarted.state));
  assert.equal(await m.wait(c.id), 0);
});

test('a removal whose process died is finished by the next command; a living remover is left alone', async (t) => {
  const { inst, e, img } = await setup(t);
  const m = e.containers;
  const make = async (name: string) => (await m.create({ image: img, name, command: ['sleep', '1000'], network: { mode: 'none' } })).id;
  const [reused, old, live] = [await make('reused'), await make('old'), await make('live')];
  // Removers killed right after marking their rows: one whose pid now names another
  // process, and a row from before owners were recorded.
  const other = spawnSleeper(t);
  await m.records.markRemoving(reused, `${other.pid}-${other.startTime + 1}`);
  await m.records.markRemoving(old, 'none');
  e.store.db.prepare('UPDATE containers SET cleanup_owner = NULL WHERE id = ?').run(old);
  await m.records.markRemoving(live, `${process.pid}-${startTimeOf(process.pid)}`);
  const ps = await inst.run(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.equal(ps.stdout, 'live Removal In Progress\n');
  for (const id of [reused, old]) {
    assert.equal(m.records.byId(id), undefined);
    assert.equal(existsSync(e.containers.runtime.stateDir(id)), false, 'runtime state released');
    assert.equal(mountsUnder(inst).some((mt) => mt.mountPoint.includes(id)), false, 'rootfs unmounted');
  }
  assert.equal((await m.get(live)).state, 'removing');
  // Now its remover dies too.
  await m.records.markRemoving(live, `${deadPid()}-1`);
  assert.deepEqual(await m.list({ all: true }), []);
  assert.deepEqual(mountsUnder(inst), []);
});

test('a monitor that vanished: the container is stopped with -1 and the reason, and released', async (t) => {
  const { inst, e, img } = await setup(t);
  const m = e.containers;
  const c = await m.start((await m.create({ image: img, command: ['sleep', '1000'], network: { mode: 'none' } })).id);
  process.kill(c.conmonPid!, 'SIGKILL');
  await until('conmon is gone', () => !isAlive(c.conmonPid!));
  const seen = await m.get(c.id);
  assert.equal(seen.state, 'stopped');
  assert.equal(seen.exitCode, -1);
  assert.match(seen.error ?? '', /monitor \(conmon\) died/);
  await until('the orphaned process was killed', () => !isAlive(c.pid!));
  assert.deepEqual(mountsUnder(inst), []);
});

test('incarnation guard: exits reported by an earlier monitor do not stop the current one', async (t) => {
  const { inst, e, img } = await setup(t, { cleanupCommand: undefined });
  const m = e.containers;
  const c = await m.start((await m.create({ image: img, command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'], network: { mode: 'none' } })).id);
  const first = c.conmonPid!;
  const now = await m.restart(c.id, { timeout: 5 });
  assert.equal(now.state, 'running');
  // The old monitor's report, late: its exit command, and the table's own guard.
  await m.recordMonitorExit(c.id, first);
  assert.equal(await m.records.recordExit(c.id, { code: 0, oomKilled: false, monitorPid: first, at: Date.now(), owner: 'test' }), false);
  assert.equal((await m.get(c.id)).state, 'running');
  await m.remove(c.id, { force: true });

  // End to end: real exit commands of old monitors racing restarts.
  const w = await openEngine(dirsOf(inst), { cleanupCommand: cleanupCommand(inst) });
  t.after(() => w.close());
  const d = await w.containers.start((await w.containers.create({ image: img, command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'], network: { mode: 'none' } })).id);
  const monitors = [d.conmonPid!];
  for (let i = 0; i < 3; i++) monitors.push((await w.containers.restart(d.id, { timeout: 5 })).conmonPid!);
  const current = monitors.pop()!;
  await until('the old monitors and their exit commands are done', () =>
    !monitors.some(isAlive) && !listProcesses().some((p) => !p.cmdline[0]?.endsWith('conmon') && p.cmdline.includes('container-cleanup') && p.cmdline.includes(d.id)),
  ).catch((err) => {
    const left = listProcesses().filter((p) => monitors.includes(p.pid) || p.cmdline.includes(d.id));
    throw new Error(`${(err as Error).message}: ${JSON.stringify(left.map((p) => [p.pid, isAlive(p.pid), p.cmdline.join(' ')]))}`);
  });
  const after = await w.containers.get(d.id);
  assert.deepEqual([after.state, after.conmonPid], ['running', current]);
  await w.containers.remove(d.id, { force: true });
});

test("the network sweep leaves other owners' namespaces (a pod's) and takes orphans", async (t) => {
  const podId = randomBytes(32).toString('hex');
  const { inst, e, img } = await setup(t, { networkOwners: [(id) => id === podId] });
  const net = e.network;
  try {
    const pod = await net.setup(podId);
    const orphan = await net.setup(randomBytes(32).toString('hex'));
    const c = await e.containers.create({ image: img, command: ['true'] });
    assert.ok(existsSync(pod.netns), "the pod's netns survived the container's create");
    assert.ok((await net.status(podId))?.attachments.length, 'and so did its attachment');
    assert.equal(existsSync(orphan.netns), false, 'an owner-less netns was swept');
    assert.ok(c.network?.attachments.length);
    await e.containers.remove(c.id, { force: true });
    await net.teardown(podId);
    assert.equal(existsSync(join(inst.runRoot, 'netns', podId)), false);
  } finally {
    // Before the instance goes: what a failure above left attached.
    await net.sweep(() => false).catch(() => undefined);
  }
});

test('a CRI-shaped spec: joined namespaces, cgroup parent, own log path, sysctls, devices, oom score, groups', async (t) => {
  const { inst, e, img } = await setup(t);
  const m = e.containers;
  const parent = `/berth-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  t.after(() => {
    for (const d of cgroupDirs(parent)) rmdirSync(d);
  });
  // The "sandbox" whose namespaces the next container joins.
  const sandbox = await m.start((await m.create({ image: img, command: ['sleep', '1000'], hostname: 'podhost', network: { mode: 'none' } })).id);
  const ns = (type: string) => `/proc/${sandbox.pid}/ns/${type}`;
  const logPath = join(inst.base, 'logs', 'ctr-0.log');
  const c = await m.create({
    image: img,
    command: ['sh', '-c', [
      'hostname', 'cat /proc/self/oom_score_adj', 'cat /proc/sys/kernel/shm_rmid_forced', 'ls /dev/xnull', 'id -G',
      'ps -o pid,args | grep -c "[s]leep 1000"', 'echo done', 'exec sleep 999',
    ].join('; ')],
    namespaces: { network: ns('net'), ipc: ns('ipc'), uts: ns('uts'), pid: ns('pid') },
    cgroupParent: parent,
    logPath,
    sysctls: { 'kernel.shm_rmid_forced': '1' },
    devices: [{ hostPath: '/dev/null', containerPath: '/dev/xnull', permissions: 'rw' }],
    resources: { oomScoreAdj: 300, cpuShares: 256 },
    security: { supplementalGroups: [4242] },
    annotations: { 'io.kubernetes.pod.name': 'p' },
    stdin: true,
    stdinOnce: true,
  });
  assert.equal(c.config.hostname, undefined, 'no hostname of its own in a joined UTS namespace');
  assert.equal(m.paths(c).logPath, logPath);
  const started = await m.start(c.id);
  let lines: string[] = [];
  await until('the container wrote its findings', async () => {
    lines = [];
    for await (const l of m.logs(await m.get(c.id), {})) lines.push(l.text.toString());
    return lines.includes('done');
  });
  const cgroups = readFileSync(`/proc/${started.pid}/cgroup`, 'utf8');
  assert.match(cgroups, new RegExp(`:pids:${parent}/${c.id}$`, 'm'), 'the cgroup is under the parent');
  assert.equal(lines[0], 'podhost', `the sandbox's UTS namespace: ${JSON.stringify(lines)}`);
  assert.equal(lines[1], '300');
  assert.equal(lines[2], '1');
  assert.equal(lines[3], '/dev/xnull');
  assert.match(lines[4], /\b4242\b/);
  assert.equal(lines[5], '1', "the sandbox's pid namespace: its sleep is visible");
  await m.remove(c.id, { force: true });
  assert.ok(existsSync(logPath), "a caller-given log is the caller's: it stays");
  await m.remove(sandbox.id, { force: true });
});

test('rows stored before ContainerSpec read as the spec they meant', async (t) => {
  const { e, img } = await setup(t);
  const id = randomBytes(32).toString('hex');
  const old = {
    image: img, name: 'old', command: ['sleep', '1'], user: 'tester', tty: false, stdin: true,
    mounts: [{ source: '/srv', destination: '/data', readOnly: true }], tmpfs: [{ destination: '/run', options: ['size=1m'] }],
    readOnly: true, memory: 8 << 20, cpus: 0.5, pidsLimit: 9, capAdd: [], capDrop: ['MKNOD'], privileged: false, noNewPrivileges: true,
    seccomp: false, ulimits: [], network: 'a,b', publish: [], addHosts: [], init: false, autoRemove: true, labels: {}, args: ['sleep', '1'],
  };
  e.store.db.prepare("INSERT INTO containers (id, name, image_id, config, state, created_at) VALUES (?, 'old', NULL, ?, 'stopped', 0)").run(id, JSON.stringify(old));
  const c = e.containers.records.byId(id)!;
  assert.deepEqual(c.config.security, { user: 'tester', capAdd: [], capDrop: ['MKNOD'], privileged: false, noNewPrivileges: true, seccomp: 'unconfined', readOnlyRootfs: true });
  assert.deepEqual(c.config.resources, { memory: 8 << 20, cpuQuota: 50_000, cpuPeriod: 100_000, pids: 9 });
  assert.deepEqual(c.config.mounts, [{ type: 'bind', source: '/srv', destination: '/data', readOnly: true }, { type: 'tmpfs', destination: '/run', options: ['size=1m'] }]);
  assert.deepEqual(c.config.network?.networks, ['a', 'b']);
  assert.equal(c.config.removeOnExit, true);
  assert.equal(c.config.hostname, id.slice(0, 12));
  await e.containers.records.delete(id);
});

test('watchExits: exits are recorded as conmon writes them, also those from before the watch, without any look', async (t) => {
  const { e, img } = await setup(t, { cleanupCommand: undefined });
  const m = e.containers;
  // One that exits before the watch starts: nobody records it (no exit command here).
  const early = await m.start((await m.create({ image: img, command: ['sh', '-c', 'exit 7'], network: { mode: 'none' } })).id);
  await until('the early one exited', () => m.runtime.exitCodeNow(early.id) !== undefined);
  assert.equal(m.records.byId(early.id)!.state, 'running', 'nothing recorded it yet');
  const seen: { id: string; code: number | null; at: number }[] = [];
  const watch = m.watchExits((c) => seen.push({ id: c.id, code: c.exitCode, at: Date.now() }));
  t.after(() => watch.close());
  await until('the early exit is recorded', () => seen.some((s) => s.id === early.id));
  const late = await m.start((await m.create({ image: img, command: ['sh', '-c', 'sleep 0.5; exit 5'], network: { mode: 'none' } })).id);
  await until('the late exit is recorded', () => seen.some((s) => s.id === late.id));
  const row = m.records.byId(late.id)!;
  assert.deepEqual([row.state, row.exitCode, row.released], ['stopped', 5, true]);
  assert.ok(seen.find((s) => s.id === late.id)!.at - row.finishedAt! < 2000, 'recorded within moments of the exit');
  assert.deepEqual(seen.map((s) => [s.id, s.code]), [[early.id, 7], [late.id, 5]]);
  watch.close();
  await m.remove(early.id);
  await m.remove(late.id);
});
