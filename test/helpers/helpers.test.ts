// The helpers other tests stand on: the busybox image, isolated instances and their
// clean-up, and running the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, busyboxTarball, findLeaks, isAlive, makeBusyboxRootfs, newInstance, runCommand } from './index.js';

test('makeBusyboxRootfs writes a rootfs whose users and groups resolve', (t) => {
  const dir = mkdtempSync('/tmp/berth-test-rootfs-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  makeBusyboxRootfs(dir);
  assert.ok(lstatSync(join(dir, 'bin/busybox')).isFile());
  assert.equal(readlinkSync(join(dir, 'bin/sh')), 'busybox');
  assert.equal(readlinkSync(join(dir, 'bin/ls')), 'busybox');
  assert.equal(lstatSync(join(dir, 'tmp')).mode & 0o7777, 0o1777);
  assert.equal(lstatSync(join(dir, 'home/tester')).uid, 1000);
  const inRoot = (args: string[]) => execFileSync('chroot', args, { encoding: 'utf8' }).trim();
  assert.equal(inRoot([dir, '/bin/sh', '-c', 'echo hello']), 'hello');
  assert.equal(inRoot(['--userspec=1000:1000', dir, '/bin/id', '-un']), 'tester');
  assert.equal(inRoot([dir, '/bin/id', '-Gn', 'tester']), 'testers extra');
  assert.equal(inRoot([dir, '/bin/id', 'nobody']), 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)');
});

test('busyboxTarball is a plain tar with numeric owners, built once per process', () => {
  const tar = busyboxTarball();
  assert.equal(busyboxTarball(), tar);
  assert.ok(tar.startsWith('/tmp/berth-test-'));
  const header = readFileSync(tar).subarray(257, 262).toString();
  assert.equal(header, 'ustar');
  const listing = execFileSync('tar', ['-tvf', tar, '--numeric-owner'], { encoding: 'utf8' });
  assert.match(listing, /^-rwxr-xr-x 0\/0 .* bin\/busybox$/m);
  assert.match(listing, /^lrwxrwxrwx 0\/0 .* bin\/sh -> busybox$/m);
  assert.match(listing, /^drwxr-xr-x 1000\/1000 .* home\/tester\/$/m);
  assert.doesNotMatch(listing, / \.\//, 'entries have no ./ prefix');
});

test('runCommand passes input, exit codes and signals through, and enforces its timeout', async () => {
  assert.deepEqual(await runCommand('cat', [], process.env, { input: 'abc' }), { code: 0, stdout: 'abc', stderr: '' });
  assert.equal((await runCommand('sh', ['-c', 'echo err >&2; exit 3'], process.env)).code, 3);
  assert.equal((await runCommand('sh', ['-c', 'kill -TERM $$'], process.env)).code, 143);
  assert.equal((await runCommand('sh', ['-c', 'echo $X'], process.env, { env: { X: 'y' } })).stdout, 'y\n');
  await assert.rejects(runCommand('sleep', ['5'], process.env, { timeoutMs: 100 }), /timed out after 100 ms/);
});

test('an instance has its own dirs and env, and cleanup removes processes, mounts and files', async () => {
  const inst = await newInstance();
  try {
    assert.ok(inst.base.startsWith('/tmp/berth-test-'));
    for (const d of [inst.root, inst.runRoot, inst.configDir]) {
      assert.ok(d.startsWith(inst.base + '/') && existsSync(d), d);
    }
    assert.equal(inst.env.BERTH_ROOT, inst.root);
    assert.equal(inst.env.BERTH_RUNROOT, inst.runRoot);
    assert.equal(inst.env.BERTH_CONFIG_DIR, inst.configDir);
    // Leftovers as a broken berth might leave them.
    const m = join(inst.root, 'overlay', 'x', 'merged');
    mkdirSync(m, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', m]);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', m]);
    const child = spawn('sh', ['-c', 'sleep 60; :', inst.runRoot], { stdio: 'ignore' });
    await inst.cleanup();
    assert.equal(isAlive(child.pid!), false);
    assert.deepEqual(findLeaks().filter((l) => l.includes(inst.base)), []);
    await inst.cleanup();
  } finally {
    await inst.cleanup();
  }
});

test('newInstance registers cleanup with the test context', async (t) => {
  let base = '';
  await t.test('inner', async (tt) => {
    base = (await newInstance(tt)).base;
    assert.ok(existsSync(base));
  });
  assert.equal(existsSync(base), false);
});

test('an instance runs bin/berth against its own root', async (t) => {
  assert.ok(existsSync(BERTH), `${BERTH} missing: run make build`);
  const inst = await newInstance(t);
  const version = await inst.run(['version']);
  assert.equal(version.code, 0, version.stderr);
  const image = await inst.importBusybox();
  const images = await inst.run(['images']);
  assert.match(images.stdout, new RegExp(image));
  const hello = await inst.run(['run', '--rm', image, 'echo', 'hello']);
  assert.deepEqual(hello, { code: 0, stdout: 'hello\n', stderr: '' });
  // The system's default root is not touched.
  const other = await newInstance(t);
  assert.doesNotMatch((await other.run(['images'])).stdout, new RegExp(image));
});

test('cleanup removes running containers with their conmon, mounts and cgroups', async (t) => {
  const inst = await newInstance(t);
  const image = await inst.importBusybox();
  const r = await inst.run(['run', '-d', image, 'sleep', '1000']);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  assert.ok(findLeaks().some((l) => l.startsWith('process: ') && l.includes(inst.base)), 'conmon runs');
  await inst.cleanup();
  assert.deepEqual(findLeaks().filter((l) => l.includes(inst.base) || l.includes(id)), []);
});
