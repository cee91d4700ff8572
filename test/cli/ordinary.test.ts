// Ordinary use that must not crash: a reader that leaves early, a path that cannot be made,
// a missing env file, an env file that names node's own variables, bad flags found before
// anything is created, warnings as human lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, busyboxTarball, newInstance, type Instance } from '../helpers/index.js';

/** One line on stderr, no stack trace, exit 125. */
function oneLine(r: { code: number | null; stderr: string }, re: RegExp): void {
  assert.equal(r.code, 125, r.stderr);
  assert.match(r.stderr, re);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

/** berth with stdout into a pipe that is closed after the first line. */
function firstLineOnly(inst: Instance, args: string[]): Promise<{ code: number | null; line: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(BERTH, args, { env: inst.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('\n')) c.stdout.destroy();
    });
    c.stderr.on('data', (d: Buffer) => (stderr += d));
    c.on('close', (code) => resolve({ code, line: out.split('\n')[0], stderr }));
  });
}

test('a reader that leaves early, paths that cannot be made, env files, flags checked first', async (t) => {
  const inst = await newInstance(t);
  t.after(() => inst.cleanup());
  const img = await inst.importBusybox();

  // `logs C | head -1`: quiet, as SIGPIPE ends podman.
  await inst.run(['run', '--name', 'talker', img, 'sh', '-c', 'i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done']);
  for (const args of [['logs', 'talker'], ['logs', '-f', 'talker']]) {
    const r = await firstLineOnly(inst, args);
    assert.equal(r.line, 'line-0');
    assert.equal(r.stderr, '', `${args.join(' ')}: nothing on stderr`);
    assert.equal(r.code, 141);
  }

  // A store or run root that cannot be made: an error, not a spin (node's mkdir -p loops under /proc).
  const t0 = Date.now();
  oneLine(await inst.run(['--root', '/proc/berth-no/root', 'ps'], { timeoutMs: 10_000 }), /^berth: store \/proc\/berth-no\/root: no such file or directory/);
  oneLine(await inst.run(['--runroot', '/proc/berth-no/run', 'ps'], { timeoutMs: 10_000 }), /^berth: run root \/proc\/berth-no\/run: no such file or directory/);
  assert.ok(Date.now() - t0 < 10_000);
  oneLine(await inst.run(['save', '-o', join(inst.base, 'missing', 'dir', 'x.tar'), img]), /^berth: .*missing\/dir.*(no such file or directory|does not exist)/i);

  // --env-file is berth's, not node's: a missing one is berth's error; NODE_OPTIONS in one is the container's.
  oneLine(await inst.run(['run', '--rm', '--env-file', join(inst.base, 'nope.env'), img, 'true']), /^berth: cannot read env file .*nope\.env/);
  const envFile = join(inst.base, 'node.env');
  writeFileSync(envFile, 'NODE_OPTIONS=--no-such-node-flag\nGREETING=hi\n');
  const env = await inst.run(['run', '--rm', '--env-file', envFile, img, 'sh', '-c', 'echo "$NODE_OPTIONS $GREETING"']);
  assert.equal(env.code, 0, env.stderr);
  assert.equal(env.stdout, '--no-such-node-flag hi\n');

  // Bad detach keys are refused before anything is created or started.
  oneLine(await inst.run(['run', '-i', '--detach-keys', 'bogus', '--name', 'never', img, 'true']), /^berth: invalid detach keys "bogus"/);
  await inst.run(['create', '-i', '--name', 'made', img, 'cat']);
  oneLine(await inst.run(['start', '-a', '-i', '--detach-keys', 'bogus', 'made']), /^berth: invalid detach keys "bogus"/);
  const ps = await inst.run(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
  assert.doesNotMatch(ps.stdout, /never/);
  assert.match(ps.stdout, /^made Created$/m, 'not started');

  // docker's flags: -h is --hostname on run and create (help elsewhere); --version is one line.
  const h = await inst.run(['run', '--rm', '-h', 'shorty', '--network', 'none', img, 'hostname']);
  assert.equal(h.stdout, 'shorty\n', h.stderr);
  assert.match((await inst.run(['ps', '-h'])).stdout, /^Usage: berth ps/);
  const v = await inst.run(['--version']);
  assert.match(v.stdout, /^berth version \d+\.\d+\.\d+\n$/);
  assert.match((await inst.run(['version'])).stdout, /^Version: /m, 'the version command keeps its block');

  // inspect tells what runs: the image's command, entrypoint, env, ports and stop signal where
  // the container gave none; `container inspect` of an image is no such container.
  const imported = await inst.run(['import', '-c', 'CMD ["sleep","600"]', '-c', 'ENV FROM_IMAGE=yes', '-c', 'EXPOSE 8080', '-c', 'STOPSIGNAL QUIT', busyboxTarball(), 'localhost/defaults:1']);
  assert.equal(imported.code, 0, imported.stderr);
  await inst.run(['create', '--name', 'truth', '-e', 'MINE=1', 'localhost/defaults:1']);
  const [view] = JSON.parse((await inst.run(['inspect', 'truth'])).stdout);
  assert.deepEqual(view.Config.Cmd, ['sleep', '600']);
  assert.equal(view.Config.Entrypoint, null);
  assert.ok(view.Config.Env.includes('FROM_IMAGE=yes') && view.Config.Env.includes('MINE=1'), String(view.Config.Env));
  assert.deepEqual(view.Config.ExposedPorts, { '8080/tcp': {} });
  assert.equal(view.Config.StopSignal, 'SIGQUIT');
  const asContainer = await inst.run(['container', 'inspect', 'localhost/defaults:1']);
  assert.equal(asContainer.code, 125);
  assert.match(asContainer.stderr, /^berth: no such container: localhost\/defaults:1$/m);
});
