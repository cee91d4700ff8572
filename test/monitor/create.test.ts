import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createContainer, readExitCode, waitExitCode, readLog, RuntimeError, type LogLine } from '../../src/monitor/index.js';
import { isBerthError } from '../../src/errors/index.js';
import { Sandbox, alive, within } from './fixture.js';

const run = promisify(execFile);
const sb = new Sandbox();
after(() => sb.cleanup());

async function collect(it: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of it) out.push(l);
  return out;
}

test('create reports the pid; output lands in the CRI log; exit code 3 is recorded', async () => {
  const c = await sb.bundle({ args: ['/bin/sh', '-c', 'echo hello; echo oops >&2; printf part; sleep 0.3; echo rest; exit 3'] });
  const { pid, conmonPid } = await createContainer(c.opts);
  assert.ok(pid > 0 && alive(pid), 'container init exists');
  assert.ok(alive(conmonPid), 'conmon runs');
  assert.equal(Number(readFileSync(c.opts.pidFile, 'utf8')), pid);
  const state = JSON.parse((await sb.runc('state', c.id)).stdout);
  assert.equal(state.status, 'created');
  assert.equal(readExitCode(c.opts.exitDir, c.id), undefined);
  await sb.runc('start', c.id);
  assert.equal(await waitExitCode(c.opts.exitDir, c.id, AbortSignal.timeout(10000)), 3);
  assert.equal(readExitCode(c.opts.exitDir, c.id), 3);
  assert.equal(readFileSync(join(c.opts.persistDir, 'exit'), 'utf8'), '3');

  const raw = readFileSync(c.opts.logPath, 'utf8');
  assert.match(raw, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d stdout F hello$/m);
  assert.match(raw, / stderr F oops$/m);
  assert.match(raw, / stdout P part$/m, 'a line without newline is written as partial');
  const lines = await collect(readLog(c.opts.logPath, {}));
  const text = lines.map((l) => `${l.stream}:${l.text.toString()}`);
  assert.deepEqual(text.filter((t) => t.startsWith('stdout')), ['stdout:hello', 'stdout:partrest']);
  assert.deepEqual(text.filter((t) => t.startsWith('stderr')), ['stderr:oops']);
});

test('exit code 0, and 137 after SIGKILL', async () => {
  const ok = await sb.bundle({ args: ['/bin/true'] });
  await createContainer(ok.opts);
  await sb.runc('start', ok.id);
  assert.equal(await waitExitCode(ok.opts.exitDir, ok.id, AbortSignal.timeout(10000)), 0);

  const long = await sb.bundle({ args: ['/bin/sleep', '1000'] });
  const { pid } = await createContainer(long.opts);
  await sb.runc('start', long.id);
  const waiting = waitExitCode(long.opts.exitDir, long.id, AbortSignal.timeout(10000));
  await sb.runc('kill', long.id, 'KILL');
  assert.equal(await waiting, 137);
  assert.equal(alive(pid), false);
});

test('a missing executable rejects with the runtime message', async () => {
  const c = await sb.bundle({ args: ['nosuch'] });
  await assert.rejects(createContainer(c.opts), (e: unknown) => {
    assert.ok(e instanceof RuntimeError, String(e));
    assert.match(e.message, /exec: "nosuch": executable file not found in \$PATH/);
    assert.equal(e.exitCodeHint, 127);
    assert.ok(isBerthError(e, 'NotFound'));
    return true;
  });
  assert.equal(existsSync(join(c.opts.socketDir, c.id)), false, 'no stale attach symlink');
});

test('a missing conmon binary is reported as unavailable', async () => {
  const c = await sb.bundle({ args: ['/bin/true'] }, { conmon: 'conmon-does-not-exist' });
  await assert.rejects(createContainer(c.opts), (e: unknown) => isBerthError(e, 'Unavailable') && /conmon not found/.test((e as Error).message));
});

test('the container survives the death of the process that created it', async () => {
  const c = await sb.bundle({ args: ['/bin/sleep', '1000'] });
  const monitor = new URL('../../src/monitor/index.js', import.meta.url).href;
  const script = `const m = await import(${JSON.stringify(monitor)}); const r = await m.createContainer(JSON.parse(process.argv[1])); console.log(JSON.stringify(r));`;
  const { stdout } = await within(run(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(c.opts)]), 20000, 'creator');
  const { pid, conmonPid } = JSON.parse(stdout) as { pid: number; conmonPid: number };
  // The creator has exited (run resolved); conmon and the container live on.
  assert.ok(alive(conmonPid), 'conmon outlived its creator');
  assert.ok(alive(pid), 'container outlived its creator');
  await sb.runc('start', c.id);
  const state = JSON.parse((await sb.runc('state', c.id)).stdout);
  assert.equal(state.status, 'running');
  const waiting = waitExitCode(c.opts.exitDir, c.id, AbortSignal.timeout(10000));
  // sleep as pid 1 ignores SIGTERM (no handler), so stop it with SIGKILL.
  await sb.runc('kill', c.id, 'KILL');
  assert.equal(await waiting, 137);
});

test('the exit command runs after the exit file is written', async () => {
  const c = await sb.bundle({ args: ['/bin/sh', '-c', 'exit 7'] });
  const marker = join(c.opts.persistDir, 'marker');
  const exitFile = join(c.opts.exitDir, c.id);
  c.opts.exitCommand = ['sh', '-c', `if [ -f ${exitFile} ]; then echo "after $(cat ${exitFile})"; else echo before; fi > ${marker}.tmp; mv ${marker}.tmp ${marker}`];
  await createContainer(c.opts);
  const appeared = new Promise<void>((resolve) => {
    const w = watch(c.opts.persistDir, () => {
      if (existsSync(marker)) {
        w.close();
        resolve();
      }
    });
    if (existsSync(marker)) {
      w.close();
      resolve();
    }
  });
  await sb.runc('start', c.id);
  await within(appeared, 10000, 'exit command');
  assert.equal(readFileSync(marker, 'utf8').trim(), 'after 7');
});
