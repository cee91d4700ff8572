// The monitor's promises: containers outlive the berth process that started them, exit
// codes are recorded while no berth runs, and concurrent commands keep the store whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, newInstance, listMounts, isAlive, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[], input?: string): Promise<string> {
  const r = await inst.run(args, { input });
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a container survives the berth process being killed mid-run; wait gets its code', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const child = spawn(BERTH, ['run', '--name', 'orphan', img, 'sh', '-c', 'sleep 2; exit 7'], { env: inst.env, stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const s = (await inst.run(['inspect', '-f', '{{.State.Status}}', 'orphan'])).stdout.trim();
    if (s === 'running') break;
    await sleep(50);
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const pid = Number((await ok(inst, ['inspect', '-f', '{{.State.Pid}}', 'orphan'])).trim());
  assert.ok(pid > 0 && isAlive(pid), 'container still running after berth was killed');
  assert.equal((await ok(inst, ['wait', 'orphan'])).trim(), '7');
});

test('an exit that happens while no berth process runs is recorded and cleaned up', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '-d', '--name', 'quick', img, 'sh', '-c', 'sleep 0.5; exit 4']);
  await sleep(2500);
  assert.match(await ok(inst, ['ps', '-a']), /Exited \(4\)/);
  assert.equal((await ok(inst, ['inspect', '-f', '{{.State.ExitCode}}', 'quick'])).trim(), '4');
  assert.equal(listMounts().filter((m) => m.mountPoint.startsWith(inst.base)).length, 0, 'conmon exit command unmounted the rootfs');
  // A detached --rm container removes itself on exit.
  await ok(inst, ['run', '-d', '--rm', '--name', 'ephemeral', img, 'true']);
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    gone = !(await ok(inst, ['ps', '-a', '--format', '{{.Names}}'])).includes('ephemeral');
    if (!gone) await sleep(50);
  }
  assert.ok(gone, '--rm container removed after it exited');
});

test('20 concurrent commands on one store: no lost, duplicated or half-created containers', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => inst.run(['run', '--name', `c${i}`, img, 'sh', '-c', `exit ${i % 5}`])));
  runs.forEach((r, i) => assert.equal(r.code, i % 5, `c${i}: ${r.stderr}`));
  const names = (await ok(inst, ['ps', '-a', '--format', '{{.Names}}'])).trim().split('\n').sort();
  assert.deepEqual(names, Array.from({ length: 20 }, (_, i) => `c${i}`).sort());
  // The same name from 10 processes at once: exactly one wins.
  const same = await Promise.all(Array.from({ length: 10 }, () => inst.run(['create', '--name', 'contested', img, 'true'])));
  assert.equal(same.filter((r) => r.code === 0).length, 1);
  for (const r of same.filter((r) => r.code !== 0)) assert.match(r.stderr, /already in use/);
  const rm = await Promise.all(names.map((n) => inst.run(['rm', n])));
  rm.forEach((r) => assert.equal(r.code, 0, r.stderr));
  assert.equal((await ok(inst, ['ps', '-a', '--format', '{{.Names}}'])).trim(), 'contested');
});

test('logs: CRI file, --tail, --since, timestamps, follow until exit', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '--name', 'talker', img, 'sh', '-c', 'echo oops >&2; sleep 0.2; for i in 1 2 3 4 5; do echo line$i; done; printf partial']);
  const path = (await ok(inst, ['inspect', '-f', '{{.LogPath}}', 'talker'])).trim();
  const raw = (await import('node:fs')).readFileSync(path, 'utf8').split('\n').filter(Boolean);
  assert.match(raw[1], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) stdout F line1$/);
  assert.ok(raw.some((l) => / stderr F oops$/.test(l)));
  const logs = await inst.run(['logs', 'talker']);
  // Like docker: an unfinished last line is printed as it is, without a newline.
  assert.equal(logs.stdout, 'line1\nline2\nline3\nline4\nline5\npartial');
  assert.equal(logs.stderr, 'oops\n');
  assert.equal((await inst.run(['logs', '--tail', '1', 'talker'])).stdout, 'partial');
  assert.equal((await inst.run(['logs', '--tail', '3', 'talker'])).stdout, 'line4\nline5\npartial');
  // Lines of both streams count.
  assert.equal((await inst.run(['logs', '--tail', '7', 'talker'])).stderr, 'oops\n');
  assert.equal((await inst.run(['logs', '--tail', '6', 'talker'])).stderr, '');
  assert.equal((await inst.run(['logs', '--since', '2000-01-01T00:00:00Z', 'talker'])).stdout.split('\n').length, 6);
  assert.equal((await inst.run(['logs', '--since', '1m', '--until', '2000-01-01T00:00:00Z', 'talker'])).stdout, '');
  assert.match((await inst.run(['logs', '-t', 'talker'])).stdout.split('\n')[0], /^\d{4}-\d\d-\d\dT\S+ line1$/);
  // --log-opt max-size: conmon keeps the file under the limit; the latest lines survive.
  await ok(inst, ['run', '--log-opt', 'max-size=4k', '--name', 'big', img, 'sh', '-c', 'i=0; while [ $i -lt 500 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done']);
  const bigPath = (await ok(inst, ['inspect', '-f', '{{.LogPath}}', 'big'])).trim();
  assert.ok((await import('node:fs')).statSync(bigPath).size <= 4096 + 512, 'log file kept near its size limit');
  assert.match(await ok(inst, ['logs', '--tail', '1', 'big']), /^line-499-padding/);
  await ok(inst, ['run', '-d', '--name', 'slow', img, 'sh', '-c', 'echo a; sleep 1; echo b']);
  const t0 = Date.now();
  const follow = await inst.run(['logs', '-f', 'slow']);
  assert.equal(follow.stdout, 'a\nb\n');
  assert.ok(Date.now() - t0 >= 500, 'followed until the container exited');
});

test('attach relays stdin and output; -i -t runs on a real PTY with its window size', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  assert.equal(await ok(inst, ['run', '--rm', '-i', img, 'sh', '-c', 'read x; echo got:$x'], 'hello\n'), 'got:hello\n');
  // Attached, detached with the keys, attached again: stdin still reaches the container
  // (as docker keeps the stdin of `run -d -i` open across sessions).
  await ok(inst, ['run', '-d', '-i', '--name', 'relay', img, 'cat']);
  const attachAndDetach = (line: string) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(BERTH, ['attach', 'relay'], { env: inst.env, stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (d) => {
        out += d;
        // ctrl-p ctrl-q once the echo came back.
        if (out.includes(line)) c.stdin.write('\x10\x11');
      });
      c.on('close', (code) => resolve({ code, out }));
      c.stdin.write(`${line}\n`);
    });
  assert.deepEqual(await attachAndDetach('one'), { code: 0, out: 'one\n' });
  assert.deepEqual(await attachAndDetach('two'), { code: 0, out: 'two\n' }, 'a second attach after a detach gets through');
  // A real terminal via script(1): the container sees a TTY with the terminal's size.
  const cmd = `stty rows 33 cols 111; ${BERTH} run --rm -it ${img} sh -c 'tty; stty size'`;
  const r = await new Promise<string>((resolve) => {
    const c = spawn('script', ['-qec', cmd, '/dev/null'], { env: inst.env, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('close', () => resolve(out));
  });
  assert.match(r, /\/dev\/pts\/\d+/);
  assert.match(r, /33 111/);
  // exec -it too: the size from the start, and no attach symlink left per exec.
  await ok(inst, ['run', '-d', '--name', 'sized', img, 'sleep', '600']);
  const socketDir = join(inst.runRoot, 's');
  const before = readdirSync(socketDir).length;
  const e = await new Promise<string>((resolve) => {
    const c = spawn('script', ['-qec', `stty rows 21 cols 77; ${BERTH} exec -it sized sh -c 'tty; stty size'`, '/dev/null'], { env: inst.env, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('close', () => resolve(out));
  });
  assert.match(e, /\/dev\/pts\/\d+/);
  assert.match(e, /21 77/);
  await ok(inst, ['exec', 'sized', 'true']);
  assert.equal(readdirSync(socketDir).length, before, 'exec sessions leave nothing in the socket dir');
});
