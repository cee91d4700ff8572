// Child processes started by the addon's posix_spawn: exit codes and signals, the error
// for a binary that is not there, the fd map, environment, cwd and session, pipes, and
// that every child is reaped (no zombie left behind).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { commandFailed, execFileAsync, runProcess, spawnProcess } from '../../src/sys/index.js';

function readAll(s: Readable | undefined): Promise<string> {
  assert.ok(s, 'a pipe');
  return new Promise((resolve, reject) => {
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    s.on('error', reject);
    s.on('close', () => resolve(text));
  });
}

/** Our children that are zombies (exited, not reaped). */
function zombieChildren(): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[1]) === process.pid && f[0] === 'Z') found.push(Number(name));
  }
  return found;
}

/** Fields after the command name of /proc/PID/stat: [state, ppid, pgrp, session, …]. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

test('exit codes and signals come back as code or signal', async () => {
  assert.deepEqual(await (await spawnProcess('sh', ['-c', 'exit 7'])).exited, { code: 7, signal: null });
  assert.deepEqual(await (await spawnProcess('true', [])).exited, { code: 0, signal: null });
  assert.deepEqual(await (await spawnProcess('sh', ['-c', 'kill -USR1 $$'])).exited, { code: null, signal: 'SIGUSR1' });

  const sleeper = await spawnProcess('sleep', ['30']);
  assert.ok(sleeper.pid > 0);
  assert.equal(statFields(sleeper.pid)[1], String(process.pid), 'our child');
  assert.equal(sleeper.kill(), true);
  assert.deepEqual(await sleeper.exited, { code: null, signal: 'SIGTERM' });
  assert.deepEqual(sleeper.exitStatus, { code: null, signal: 'SIGTERM' });
  assert.equal(sleeper.kill('SIGKILL'), false, 'no signal once it is gone (its pid may be reused)');
  const t = await spawnProcess('true', []);
  assert.throws(() => t.kill('SIGNOPE' as NodeJS.Signals), { code: 'ERR_UNKNOWN_SIGNAL' });
  await t.exited;
});

test('the child starts with default signal dispositions and nothing blocked', async () => {
  // Node ignores SIGPIPE; an ignored signal would stay ignored across exec.
  const p = await spawnProcess('grep', ['-E', '^Sig(Blk|Ign)', '/proc/self/status'], { stdio: ['ignore', 'from-child', 'ignore'] });
  const out = await readAll(p.stdout);
  assert.match(out, /^SigBlk:\s+0+$/m);
  // glibc's posix_spawn leaves its two internal signals (32, 33: below SIGRTMIN, never a
  // program's to use) ignored; every other signal has its default action.
  const ignored = BigInt('0x' + /^SigIgn:\s+([0-9a-f]+)$/m.exec(out)![1]);
  assert.equal(ignored & ~((1n << 31n) | (1n << 32n)), 0n, `ignored: ${ignored.toString(16)}`);
  assert.deepEqual(await p.exited, { code: 0, signal: null });
});

test('a binary that is not there fails with ENOENT and a clear message', async () => {
  await assert.rejects(spawnProcess('no-such-binary-berth', ['x']), (e: NodeJS.ErrnoException & { spawnargs: string[] }) => {
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.syscall, 'spawn no-such-binary-berth');
    assert.equal(e.path, 'no-such-binary-berth');
    assert.deepEqual(e.spawnargs, ['x']);
    assert.match(e.message, /^cannot run no-such-binary-berth: not found in PATH \(/);
    return true;
  });
  await assert.rejects(spawnProcess('/nonexistent/bin/x', []), { code: 'ENOENT', message: 'cannot run /nonexistent/bin/x: no such executable file' });
  // Looked up in the child's PATH, as execvp does.
  await assert.rejects(spawnProcess('sh', [], { env: { PATH: '/nonexistent' } }), { code: 'ENOENT', message: 'cannot run sh: not found in PATH (/nonexistent)' });
  // A missing working directory says so.
  await assert.rejects(spawnProcess('true', [], { cwd: '/nonexistent-dir-berth' }), { code: 'ENOENT', message: /working directory \/nonexistent-dir-berth/ });
  await assert.rejects(runProcess('no-such-binary-berth', []), { code: 'ENOENT' });
  await assert.rejects(execFileAsync('no-such-binary-berth', []), { code: 'ENOENT' });
});

test('the fd map gives the child exactly the fds asked for, even when they cross', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-spawn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a'), 'A');
  writeFileSync(join(dir, 'b'), 'B');
  const a = openSync(join(dir, 'a'), 'r');
  const b = openSync(join(dir, 'b'), 'r');
  t.after(() => (closeSync(a), closeSync(b)));
  // The child's fd a is our b and its fd b our a: the dups must not clobber each other.
  const stdio: ('ignore' | 'from-child' | number)[] = Array.from({ length: Math.max(a, b) + 1 }, () => 'ignore');
  stdio[1] = 'from-child';
  stdio[a] = b;
  stdio[b] = a;
  const p = await spawnProcess('readlink', [`/proc/self/fd/${a}`, `/proc/self/fd/${b}`], { stdio });
  assert.equal(await readAll(p.stdout), `${realpathSync(join(dir, 'b'))}\n${realpathSync(join(dir, 'a'))}\n`);
  assert.equal((await p.exited).code, 0);

  // Nothing else is open in the child: ls sees 0-2, its own directory fd (3) and 5.
  const q = await spawnProcess('ls', ['/proc/self/fd'], { stdio: ['ignore', 'from-child', 'ignore', 'ignore', 'ignore', a] });
  // fd 3 and 4 are /dev/null in the child; ls's directory then takes 6.
  assert.deepEqual((await readAll(q.stdout)).split('\n').filter(Boolean).map(Number).sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6]);
  const r = await spawnProcess('ls', ['/proc/self/fd'], { stdio: ['ignore', 'from-child'] });
  // fd 2 was not asked for: ls gets 2 for its directory.
  assert.deepEqual((await readAll(r.stdout)).split('\n').filter(Boolean).map(Number).sort(), [0, 1, 2]);
  assert.equal(readlinkSync(`/proc/self/fd/${a}`), realpathSync(join(dir, 'a')), 'our fds are as they were');
  await Promise.all([q.exited, r.exited]);
});

test('env, cwd and pipes both ways', async (t) => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'berth-spawn-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH, ONE: '1', SPACED: 'a b=c', EMPTY: '', GONE: undefined };
  const e = await spawnProcess('env', [], { env, stdio: ['ignore', 'from-child', 'ignore'] });
  assert.deepEqual((await readAll(e.stdout)).split('\n').filter(Boolean).sort(), [`EMPTY=`, 'ONE=1', `PATH=${process.env.PATH}`, 'SPACED=a b=c']);

  const c = await spawnProcess('pwd', [], { cwd: dir, stdio: ['ignore', 'from-child', 'ignore'] });
  assert.equal(await readAll(c.stdout), `${dir}\n`);

  // stdin, stdout, stderr and an extra pipe the child writes to (fd 3) and one it reads (fd 4).
  const p = await spawnProcess('sh', ['-c', 'read x; echo "got $x"; echo oops >&2; echo three >&3; read y <&4; echo "four $y"'], {
    stdio: ['to-child', 'from-child', 'from-child', 'from-child', 'to-child'],
  });
  const out = readAll(p.stdout);
  const err = readAll(p.stderr);
  const three = readAll(p.stdio[3] as Readable);
  p.stdin!.end('hello\n');
  (p.stdio[4] as NodeJS.WritableStream).end('x\n');
  assert.equal(await out, 'got hello\nfour x\n');
  assert.equal(await err, 'oops\n');
  assert.equal(await three, 'three\n');
  assert.equal((await p.exited).code, 0);
  await Promise.all([e.exited, c.exited]);
});

test('detached: a session of its own; otherwise ours', async () => {
  const own = statFields(process.pid)[3];
  const d = await spawnProcess('sleep', ['30'], { detached: true });
  const n = await spawnProcess('sleep', ['30']);
  try {
    assert.equal(statFields(d.pid)[3], String(d.pid), 'session leader');
    assert.equal(statFields(d.pid)[2], String(d.pid), 'group leader');
    assert.equal(statFields(n.pid)[3], own);
  } finally {
    d.kill('SIGKILL');
    n.kill('SIGKILL');
  }
  await Promise.all([d.exited, n.exited]);
});

test('runProcess: input, output caps, timeouts and aborts', async () => {
  const r = await runProcess('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'in\n' });
  assert.equal(r.stdout.toString(), 'in\n');
  assert.equal(r.stderr.toString(), 'err\n');
  assert.equal(r.code, 3);
  const failed = commandFailed('sh', ['-c', 'x'], r) as NodeJS.ErrnoException & { stderr: string; killed: boolean };
  assert.equal(failed.code, 3 as unknown as string);
  assert.equal(failed.stderr, 'err\n');
  assert.equal(failed.killed, false);

  // No input: stdin is /dev/null, so a reader sees its end at once.
  assert.equal((await runProcess('cat', [])).code, 0);
  // Input the child never reads (it exits first) is no error.
  assert.equal((await runProcess('true', [], { input: 'x'.repeat(1 << 20) })).code, 0);

  const big = await runProcess('sh', ['-c', 'yes | head -c 3000000; sleep 30'], { maxBuffer: 1000, killSignal: 'SIGKILL' });
  assert.equal(big.overflowed, true);
  assert.equal(big.stdout.length, 1000);
  assert.equal(big.signal, 'SIGKILL');

  const started = Date.now();
  const slow = await runProcess('sleep', ['30'], { timeout: 100 });
  assert.equal(slow.timedOut, true);
  assert.equal(slow.signal, 'SIGTERM');
  assert.ok(Date.now() - started < 10_000);
  await assert.rejects(execFileAsync('sleep', ['30'], { timeout: 100 }), { killed: true, signal: 'SIGTERM' });

  const ac = new AbortController();
  const running = runProcess('sleep', ['30'], { signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  const aborted = await running;
  assert.equal(aborted.aborted, true);
  assert.equal(aborted.signal, 'SIGTERM');
  // An aborted signal starts nothing.
  const dir = mkdtempSync(join(tmpdir(), 'berth-spawn-'));
  try {
    await assert.rejects(runProcess('touch', [join(dir, 'ran')], { signal: AbortSignal.abort(new Error('stop')) }), { message: 'stop' });
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(await execFileAsync('echo', ['hi']), { stdout: 'hi\n', stderr: '' });
});

test('every child is reaped, awaited or not: no zombie is left', async () => {
  // Children nobody waits for, one that leaves a grandchild behind (as conmon does), and
  // one let go of with unref.
  const pids = [(await spawnProcess('true', [])).pid, (await spawnProcess('sh', ['-c', 'exit 4'])).pid, (await spawnProcess('sh', ['-c', 'sleep 0.2 & exit 0'], { detached: true })).pid];
  const u = await spawnProcess('sh', ['-c', 'exit 0']);
  u.unref();
  pids.push(u.pid);
  const deadline = Date.now() + 10_000;
  while (pids.some((pid) => { try { readFileSync(`/proc/${pid}/stat`); return true; } catch { return false; } })) {
    assert.ok(Date.now() < deadline, `still there: ${pids.filter((pid) => { try { return statFields(pid)[0]; } catch { return false; } }).join(' ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(zombieChildren(), []);
});
