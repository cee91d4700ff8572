// OciRuntime against the real runc: state, start, kill, delete, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isBerthError } from '../../src/errors/index.js';
import { buildSpec, OciRuntime, runtimeErrorMessage as errorMessage } from '../../src/oci/index.js';
import { runcCreate, suiteSandbox } from './fixture.js';

const sb = suiteSandbox();
const runtime = new OciRuntime({ path: 'runc', args: [] }, sb.stateRoot);

let seq = 0;
async function create(cmd: string[]): Promise<string> {
  const id = `oci-rt-${process.pid}-${++seq}`;
  const spec = await buildSpec({ id, rootfs: sb.rootfs, image: { Cmd: cmd }, cgroupsPath: `${sb.cgroupParent}/${id}` });
  runcCreate(sb, id, spec);
  return id;
}

async function waitFor(id: string, status: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await runtime.state(id))?.status === status) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`container ${id} never became ${status}`);
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function isCode(code: string, message?: RegExp) {
  return (e: unknown) => {
    assert.ok(isBerthError(e), `expected BerthError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  };
}

test('binary, globalArgs, version', async () => {
  assert.ok(runtime.binary().startsWith('/'));
  assert.ok(existsSync(runtime.binary()));
  assert.deepEqual(new OciRuntime({ path: 'runc', args: ['--debug'] }, '/r').globalArgs(), ['--root', '/r', '--debug']);
  assert.match(await runtime.version(), /^runc version \S+$/);
});

test('a missing runtime is Unavailable with advice', async () => {
  const missing = new OciRuntime({ path: 'no-such-runtime-berth', args: [] }, sb.stateRoot);
  const expected = isCode('Unavailable', /^OCI runtime "no-such-runtime-berth" not found: install it \(apt-get install no-such-runtime-berth\) or set \[runtime\] path in berth\.toml$/);
  assert.throws(() => missing.binary(), expected);
  await assert.rejects(missing.state('x'), expected);
  assert.throws(() => new OciRuntime({ path: '/nonexistent/runc', args: [] }, sb.stateRoot).binary(), isCode('Unavailable'));
});

test('lifecycle: created → running → stopped → deleted', async () => {
  const id = await create(['/bin/sleep', '1000']);
  const created = await runtime.state(id);
  assert.equal(created?.status, 'created');
  assert.ok(created!.pid > 0);
  assert.ok(existsSync(join('/sys/fs/cgroup/memory', sb.cgroupParent, id)));

  await runtime.start(id);
  const running = await runtime.state(id);
  assert.deepEqual(running, { status: 'running', pid: created!.pid });
  await assert.rejects(runtime.start(id), isCode('FailedPrecondition', /^runc: /));

  // sleep is pid 1 of its namespace: TERM has no handler there and is ignored, KILL is not.
  await runtime.kill(id, 'SIGKILL');
  await waitFor(id, 'stopped');
  assert.equal((await runtime.state(id))!.pid, 0);
  await assert.rejects(runtime.kill(id, 'KILL'), isCode('FailedPrecondition', /not running/));

  await runtime.delete(id);
  assert.equal(await runtime.state(id), null);
  assert.equal(existsSync(join('/sys/fs/cgroup/memory', sb.cgroupParent, id)), false, 'cgroup removed');
  await runtime.delete(id); // already gone: no error
  await runtime.delete(id, { force: true });
});

test('kill accepts names and numbers, with --all; bad signals are refused', async () => {
  const id = await create(['/bin/sh', '-c', 'trap "exit 7" USR1; /bin/busybox sleep 1000 & wait']);
  await runtime.start(id);
  // Signal only once the shell runs (start may return before runc's init has exec'd it) and
  // has its handler (SigCgt bit 9 = USR1): pid 1 drops signals it does not catch.
  const pid = (await runtime.state(id))!.pid;
  await until(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/bin/sh'), 'the shell');
  const sigCgt = () => BigInt(`0x${/^SigCgt:\s*(\w+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]}`);
  await until(() => (sigCgt() & 0x200n) !== 0n, 'the USR1 trap');
  await assert.rejects(runtime.kill(id, 'SIGNOPE'), isCode('InvalidArgument', /invalid signal/));
  await assert.rejects(runtime.kill(id, 0), isCode('InvalidArgument'));
  // The shell traps USR1 (signal 10) and exits.
  await runtime.kill(id, 10);
  await waitFor(id, 'stopped');
  await runtime.delete(id);

  // pid 1 (sleep) ignores TERM, its background sibling does not: --all reaches both.
  const all = await create(['/bin/sh', '-c', '/bin/busybox sleep 1000 & exec /bin/busybox sleep 1000']);
  await runtime.start(all);
  const procs = join('/sys/fs/cgroup/pids', sb.cgroupParent, all, 'cgroup.procs');
  const count = () => readFileSync(procs, 'utf8').trim().split('\n').filter(Boolean).length;
  await until(() => count() === 2, 'two processes');
  await runtime.kill(all, 'TERM', { all: true });
  await until(() => count() === 1, 'the child killed');
  assert.equal((await runtime.state(all))?.status, 'running');
  await runtime.kill(all, 'KILL');
  await waitFor(all, 'stopped');
  await runtime.delete(all);
});

test('force delete removes a running container; unknown ids', async () => {
  const id = await create(['/bin/sleep', '1000']);
  await runtime.start(id);
  await assert.rejects(runtime.delete(id), isCode('FailedPrecondition'));
  await runtime.delete(id, { force: true });
  assert.equal(await runtime.state(id), null);
  assert.equal(await runtime.state('never-created'), null);
  await assert.rejects(runtime.start('never-created'), isCode('NotFound', /^runc: container does not exist$/));
  await assert.rejects(runtime.kill('never-created', 'KILL'), isCode('NotFound'));
});

test('errorMessage reads logrus text and JSON lines', () => {
  assert.equal(errorMessage('time="2024-01-01T00:00:00Z" level=error msg="container \\"x\\" does not exist"\n'), 'container "x" does not exist');
  assert.equal(errorMessage('time="t" level=warning msg="w"\ntime="t" level=error msg=plain\n'), 'plain');
  assert.equal(errorMessage('{"level":"error","msg":"boom","time":"t"}\n'), 'boom');
  assert.equal(errorMessage('something odd\n'), 'something odd');
});
