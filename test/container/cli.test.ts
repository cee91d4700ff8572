// The CLI's edges: help, version and info, rename, and the errors for a missing runtime,
// a missing monitor and a store the user cannot use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BERTH, newInstance, runCommand } from '../helpers/index.js';

test('--help on every command, version and info', async (t) => {
  const inst = await newInstance(t);
  const top = await inst.run(['--help']);
  assert.equal(top.code, 0);
  const names = [...top.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]);
  assert.ok(names.includes('run') && names.includes('images') && names.includes('logs'), top.stdout);
  for (const n of names) {
    const r = await inst.run([n, '--help']);
    assert.equal(r.code, 0, `${n} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: berth ${n}`), n);
  }
  const v = await inst.run(['version', '--format', 'json']);
  assert.equal(v.code, 0, v.stderr);
  const version = JSON.parse(v.stdout);
  assert.match(version.OCIRuntime.Version, /^runc version \d/);
  assert.match(version.Conmon.Version, /^conmon version \d/);
  const img = await inst.importBusybox();
  assert.equal((await inst.run(['run', '--name', 'one', img, 'true'])).code, 0);
  const info = JSON.parse((await inst.run(['info', '--format', 'json'])).stdout);
  assert.equal(info.Store.Root, inst.root);
  assert.equal(info.Store.RunRoot, inst.runRoot);
  assert.deepEqual(info.Containers, { Total: 1, Running: 0, Paused: 0, Stopped: 1 });
  assert.equal(info.Images, 1);
});

test('rename keeps the container and frees the old name', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const id = (await inst.run(['create', '--name', 'before', img, 'true'])).stdout.trim();
  assert.equal((await inst.run(['rename', 'before', 'after'])).code, 0);
  assert.equal((await inst.run(['inspect', '-f', '{{.Id}} {{.Name}}', 'after'])).stdout.trim(), `${id} after`);
  assert.match((await inst.run(['inspect', 'before'])).stderr, /no such object: before/);
  assert.equal((await inst.run(['create', '--name', 'before', img, 'true'])).code, 0);
  const clash = await inst.run(['rename', 'after', 'before']);
  assert.equal(clash.code, 125);
  assert.match(clash.stderr, /already in use/);
});

test('a missing runtime or monitor, and a store without permission: one line, exit 125, nothing left', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const noRuntime = await inst.run(['--runtime', '/nonexistent/runc', 'run', '--rm', img, 'true']);
  assert.equal(noRuntime.code, 125);
  assert.equal(noRuntime.stderr, 'berth: OCI runtime "/nonexistent/runc" not found: install it (apt-get install runc) or set [runtime] path in berth.toml\n');
  const noConmon = await inst.run(['run', '--rm', img, 'true'], { env: { BERTH_CONMON: '/nonexistent/conmon' } });
  assert.equal(noConmon.code, 125);
  assert.match(noConmon.stderr, /^berth: conmon not found: install it \(apt-get install conmon\)[^\n]*\n$/);
  assert.equal((await inst.run(['ps', '-aq'])).stdout, '', 'failed runs leave no container');
  // As an unprivileged user, the root-owned config and store cannot be used.
  const r = await runCommand('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', BERTH, 'ps'], inst.env);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^berth: \S+: permission denied/);
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1);
});
