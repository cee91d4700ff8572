import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { PassThrough, Writable } from 'node:stream';
import { attach, attachSocketPath, createContainer, parseDetachKeys, resize, waitExitCode } from '../../src/monitor/index.js';
import { DetachMatcher } from '../../src/monitor/attach.js';
import { isBerthError } from '../../src/errors/index.js';
import { Sandbox, alive, collector, within } from './fixture.js';

/** A session's end: attach resolves once connected, its done when the session ends. */
const attachDone = (...a: Parameters<typeof attach>) => attach(...a).then((x) => x.done);

const sb = new Sandbox();
after(() => sb.cleanup());

test('detach keys parse like docker', () => {
  assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [16, 17]);
  assert.deepEqual([...parseDetachKeys('a,ctrl-[,ctrl-@')], [97, 27, 0]);
  assert.equal(parseDetachKeys('').length, 0);
  assert.throws(() => parseDetachKeys('ctrl-pq'), (e: unknown) => isBerthError(e, 'InvalidArgument'));
});

test('the detach matcher holds back a partial sequence and lets a broken one through', () => {
  const m = new DetachMatcher(Buffer.from([16, 17]));
  assert.deepEqual(m.feed(Buffer.from('ab\x10')), { forward: Buffer.from('ab'), detach: false });
  assert.deepEqual(m.feed(Buffer.from('c')), { forward: Buffer.from('\x10c'), detach: false });
  assert.deepEqual(m.feed(Buffer.from('\x10\x10')), { forward: Buffer.from('\x10'), detach: false });
  assert.deepEqual(m.feed(Buffer.from('\x11rest')), { forward: Buffer.alloc(0), detach: true });
});

test('attach separates stdout from stderr and delivers stdin, EOF included', async () => {
  const c = await sb.bundle({ args: ['/bin/sh', '-c', 'cat; echo done >&2; exit 4'] }, { stdin: true });
  await createContainer(c.opts);
  const stdin = new PassThrough();
  const stdout = collector();
  const stderr = collector();
  const session = attachDone(attachSocketPath(c.opts.socketDir, c.id), { stdin, stdout, stderr });
  await sb.runc('start', c.id);
  stdin.write('hello\n');
  await stdout.waitFor(/hello\n/);
  stdin.end('world\n');
  assert.equal(await within(session, 10000, 'attach'), 'exited');
  assert.equal(stdout.text(), 'hello\nworld\n');
  assert.equal(stderr.text(), 'done\n');
  assert.equal(await waitExitCode(c.opts.exitDir, c.id, AbortSignal.timeout(10000)), 4);
});

test('a megabyte through cat arrives whole: sends wait for a writable socket, reads for a drained stdout', async () => {
  const c = await sb.bundle({ args: ['/bin/cat'] }, { stdin: true });
  await createContainer(c.opts);
  await sb.runc('start', c.id);
  const data = Buffer.alloc(1 << 20);
  for (let i = 0; i < data.length; i++) data[i] = 97 + (i % 26);
  const stdin = new PassThrough();
  // A slow reader (high-water mark 1 KiB, every write answered a tick later) that still takes everything.
  const chunks: Buffer[] = [];
  const stdout = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      setImmediate(cb);
    },
  });
  const session = attachDone(attachSocketPath(c.opts.socketDir, c.id), { stdin, stdout, stderr: collector() });
  stdin.end(data);
  assert.equal(await within(session, 60000, 'attach'), 'exited');
  assert.equal(Buffer.concat(chunks).equals(data), true);
  assert.equal(await waitExitCode(c.opts.exitDir, c.id, AbortSignal.timeout(10000)), 0);
});

test('detach keys end the session, the container keeps running with stdin open', async () => {
  const c = await sb.bundle({ args: ['/bin/cat'] }, { stdin: true, leaveStdinOpen: true });
  await createContainer(c.opts);
  await sb.runc('start', c.id);
  const socket = attachSocketPath(c.opts.socketDir, c.id);
  const stdin = new PassThrough();
  const stdout = collector();
  const first = attachDone(socket, { stdin, stdout, stderr: collector() });
  stdin.write('one\n');
  await stdout.waitFor(/one\n/);
  stdin.write('\x10\x11');
  assert.equal(await within(first, 10000, 'detach'), 'detached');
  assert.equal(JSON.parse((await sb.runc('state', c.id)).stdout).status, 'running');

  const stdin2 = new PassThrough();
  const stdout2 = collector();
  const second = attachDone(socket, { stdin: stdin2, stdout: stdout2, stderr: collector() });
  stdin2.write('two\n');
  await stdout2.waitFor(/two\n/);
  const waiting = waitExitCode(c.opts.exitDir, c.id, AbortSignal.timeout(10000));
  await sb.runc('kill', c.id, 'KILL');
  assert.equal(await within(second, 10000, 'attach end'), 'exited');
  assert.equal(await waiting, 137);
  assert.doesNotMatch(stdout.text(), /two/);
});

test('TTY: output arrives through the attach socket and resize reaches the terminal', async () => {
  const c = await sb.bundle({ args: ['/bin/sh', '-c', 'while true; do stty size; sleep 0.1; done'], terminal: true });
  const { conmonPid } = await createContainer(c.opts);
  const stdout = collector();
  const abort = new AbortController();
  const session = attachDone(attachSocketPath(c.opts.socketDir, c.id), { stdout, stderr: collector(), signal: abort.signal });
  await sb.runc('start', c.id);
  // A new PTY is 0x0, which busybox stty reports as an error; any output means it runs.
  await stdout.waitFor(/\r\n/);
  resize(c.bundle, { rows: 40, cols: 123 });
  await stdout.waitFor(/40 123\r\n/);
  resize(c.opts.persistDir, { rows: 17, cols: 33 }); // through the link to <bundle>/ctl
  await stdout.waitFor(/17 33\r\n/);
  abort.abort();
  assert.equal(await within(session, 10000, 'abort'), 'detached');
  await sb.runc('kill', c.id, 'KILL');
  await waitExitCode(c.opts.exitDir, c.id, AbortSignal.timeout(10000));
  // conmon writes the exit file shortly before it exits; once it is gone nobody reads ctl.
  for (let i = 0; i < 100 && alive(conmonPid); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(alive(conmonPid), false);
  assert.throws(() => resize(c.opts.persistDir, { rows: 1, cols: 1 }), (e: unknown) => isBerthError(e, 'FailedPrecondition'));
});

test('open sessions hold no threads: with 8 attached, file reads and timers go on', async () => {
  const sessions: { id: string; exitDir: string; stdin: PassThrough; stdout: ReturnType<typeof collector>; abort: AbortController; done: Promise<string> }[] = [];
  // Each check bounds a read of a small file and a short timer: a session that holds one of
  // libuv's 4 threadpool threads would stall the read once 4 are open.
  const responsive = async (what: string) => {
    await within(readFile('/proc/self/stat'), 200, `fs.promises.readFile with ${what}`);
    await within(new Promise((r) => setTimeout(r, 5)), 200, `setTimeout with ${what}`);
  };
  try {
    for (let i = 0; i < 8; i++) {
      const c = await sb.bundle({ args: ['/bin/cat'] }, { stdin: true });
      await createContainer(c.opts);
      await sb.runc('start', c.id);
      const stdin = new PassThrough();
      const stdout = collector();
      const abort = new AbortController();
      const done = attachDone(attachSocketPath(c.opts.socketDir, c.id), { stdin, stdout, stderr: collector(), signal: abort.signal });
      sessions.push({ id: c.id, exitDir: c.opts.exitDir, stdin, stdout, abort, done });
      stdin.write(`ping ${i}\n`);
      await stdout.waitFor(new RegExp(`ping ${i}\n`));
      await responsive(`${i + 1} sessions open`);
    }
    // Every session still carries stdin and output both ways while the others are open.
    for (const [i, x] of sessions.entries()) x.stdin.write(`again ${i}\n`);
    for (const [i, x] of sessions.entries()) await x.stdout.waitFor(new RegExp(`again ${i}\n`));
    await responsive('8 sessions open');
  } finally {
    for (const x of sessions) x.abort.abort();
  }
  for (const x of sessions) assert.equal(await within(x.done, 10000, 'detach'), 'detached');
  // The last client gone, conmon closes the container's stdin: cat ends.
  for (const x of sessions) assert.equal(await waitExitCode(x.exitDir, x.id, AbortSignal.timeout(10000)), 0);
});

test('a failing stdin or a destroyed output stream ends nothing but the session', async () => {
  const c = await sb.bundle({ args: ['/bin/sh', '-c', 'while true; do echo tick; sleep 0.05; done'] }, { stdin: true });
  await createContainer(c.opts);
  await sb.runc('start', c.id);
  const stdin = new PassThrough();
  const stdout = collector();
  const session = attachDone(attachSocketPath(c.opts.socketDir, c.id), { stdin, stdout, stderr: collector() });
  await stdout.waitFor(/tick\n/);
  stdin.destroy(new Error('stdin broke'));
  await new Promise((r) => setTimeout(r, 100));
  // Output goes on after stdin failed: two more ticks arrive.
  const ticks = stdout.text().split('tick\n').length - 1;
  await stdout.waitFor(new RegExp(`(tick\n){${ticks + 2}}`));
  // A client that went away: writes to the destroyed stream must neither throw nor go on.
  (stdout as unknown as Writable).destroy();
  assert.equal(await within(session, 10000, 'session end'), 'detached');
  assert.equal(JSON.parse((await sb.runc('state', c.id)).stdout).status, 'running', 'the container keeps running');
  const waiting = waitExitCode(c.opts.exitDir, c.id, AbortSignal.timeout(10000));
  await sb.runc('kill', c.id, 'KILL');
  assert.equal(await waiting, 137);
});

test('attaching to a container without a monitor fails cleanly', async () => {
  await assert.rejects(attachDone(attachSocketPath(sb.socketDir, 'nope'), { stdout: collector(), stderr: collector() }), (e: unknown) => isBerthError(e, 'FailedPrecondition'));
});
