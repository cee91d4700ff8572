import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createContainer, execInContainer, readExitCode, readLog, waitExitCode, RuntimeError, type ExecOptions } from '../../src/monitor/index.js';
import { isBerthError } from '../../src/errors/index.js';
import { Sandbox, alive, collector, within, RUNC, type Ctr } from './fixture.js';

const sb = new Sandbox();
let ctr: Ctr;
let n = 0;

before(async () => {
  ctr = await sb.bundle({ args: ['/bin/sleep', '1000'] });
  await createContainer(ctr.opts);
  await sb.runc('start', ctr.id);
});
after(() => sb.cleanup());

function execOpts(args: string[], o: Partial<ExecOptions> = {}): ExecOptions {
  const execId = `exec${++n}`;
  const dir = join(sb.dir, 'execs', execId);
  sb.trackConmon(join(dir, 'conmon.pid'));
  return {
    conmon: 'conmon',
    runtime: RUNC,
    runtimeArgs: ['--root', sb.runcRoot],
    id: ctr.id,
    execId,
    processSpec: { args, cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } },
    persistDir: dir,
    socketDir: sb.socketDir,
    exitDir: join(dir, 'exits'),
    terminal: false,
    stdin: false,
    detach: false,
    ...o,
  };
}

test('attached exec streams stdout and stderr and returns the exit code', async () => {
  const stdout = collector();
  const stderr = collector();
  const r = await within(execInContainer(execOpts(['/bin/sh', '-c', 'echo out; echo err >&2; exit 5'], { attach: { stdout, stderr } })), 15000, 'exec');
  assert.equal(r.exitCode, 5);
  assert.ok(r.pid > 0);
  assert.equal(stdout.text(), 'out\n');
  assert.equal(stderr.text(), 'err\n');
});

test('attached exec with stdin and a log file', async () => {
  const stdin = new PassThrough();
  const stdout = collector();
  const o = execOpts(['/bin/cat'], { stdin: true, attach: { stdin, stdout, stderr: collector() } });
  o.logPath = join(o.persistDir, 'exec.log');
  stdin.end('through cat\n');
  const r = await within(execInContainer(o), 15000, 'exec');
  assert.equal(r.exitCode, 0);
  assert.equal(stdout.text(), 'through cat\n');
  const lines = [];
  for await (const l of readLog(o.logPath, {})) lines.push(l.text.toString());
  assert.deepEqual(lines, ['through cat']);
  assert.equal(readExitCode(o.exitDir, ctr.id), 0, 'exit file named after the container id');
});

test('exec with a TTY', async () => {
  const stdout = collector();
  const r = await within(execInContainer(execOpts(['/bin/sh', '-c', 'tty; exit 2'], { terminal: true, attach: { stdout, stderr: collector() } })), 15000, 'exec');
  assert.equal(r.exitCode, 2);
  assert.match(stdout.text(), /^\/dev\/pts\/\d+\r\n$/);
});

test('detached exec resolves once started; its exit code lands in its exit dir', async () => {
  const o = execOpts(['/bin/sh', '-c', 'sleep 0.5; exit 9'], { detach: true });
  const r = await within(execInContainer(o), 15000, 'exec');
  assert.equal(r.exitCode, undefined);
  assert.ok(alive(r.pid), 'the exec process runs after the call returned');
  assert.equal(await waitExitCode(o.exitDir, ctr.id, AbortSignal.timeout(10000)), 9);
});

test('an exec ends when its process exits, even if a background child holds stdio', async () => {
  const stdout = collector();
  const started = Date.now();
  const r = await within(execInContainer(execOpts(['/bin/sh', '-c', '/bin/busybox sleep 30 & echo started'], { attach: { stdout, stderr: collector() } })), 15000, 'exec');
  assert.equal(r.exitCode, 0);
  assert.equal(stdout.text(), 'started\n');
  assert.ok(Date.now() - started < 10000, 'did not wait for the background child');
});

test('exec of a missing executable rejects with the runtime message', async () => {
  await assert.rejects(execInContainer(execOpts(['/nosuch'], { attach: { stdout: collector(), stderr: collector() } })), (e: unknown) => {
    assert.ok(e instanceof RuntimeError, String(e));
    assert.match(e.message, /nosuch/);
    assert.equal(e.exitCodeHint, 127);
    return true;
  });
});

test('exec timeout kills the process and rejects DeadlineExceeded', async () => {
  const o = execOpts(['/bin/sleep', '30'], { timeout: 1, attach: { stdout: collector(), stderr: collector() } });
  const started = Date.now();
  await assert.rejects(within(execInContainer(o), 15000, 'exec'), (e: unknown) => isBerthError(e, 'DeadlineExceeded'));
  assert.ok(Date.now() - started < 10000);
  assert.ok(existsSync(o.exitDir));
});
