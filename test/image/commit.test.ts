// commit: a container's changes become a new image that runs, pushes and shows its history;
// deletions are whiteouts in the new layer, and the layer is a valid OCI layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listMounts, newInstance, type Instance } from '../helpers/index.js';
import { insecureConf, startRegistry, tempDir } from '../registry/fixture.js';

async function ok(inst: Instance, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await inst.run(args, env ? { env } : {});
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const rootfsMounts = (inst: Instance) => listMounts().filter((m) => m.mountPoint.startsWith(inst.base) && m.mountPoint.endsWith('/rootfs'));

test('commit a running container with changes, run the new image, see its history, push it', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '-d', '--name', 'c', '--network', 'none', '-e', 'FROMRUN=1', img, 'sh', '-c',
    'echo added > /added; rm /bin/true; rm -r /home/tester; mkdir -p /etc/opq; echo x > /etc/opq/y; sleep 600']);
  await ok(inst, ['exec', 'c', 'test', '-f', '/etc/opq/y']);
  const id = (await ok(inst, ['commit', '-m', 'my change', '-a', 'Jane <jane@example.test>', '-c', 'CMD ["cat", "/added"]', '-c', 'ENV FOO=bar',
    '-c', 'LABEL stage=committed', '-c', 'EXPOSE 8080', '-c', 'WORKDIR /etc', '-c', 'ONBUILD RUN whatever', 'c', 'committed:1'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  // -p freezes the container for the commit and thaws it after; without -p nothing is paused.
  const since = new Date().toISOString();
  await ok(inst, ['commit', '-q', '-p', 'c', 'committed:paused']);
  const freezes = async () => (await ok(inst, ['events', '--since', since, '--until', new Date().toISOString(), '--filter', 'container=c', '--format', '{{.Status}}'])).split('\n').filter((l) => /pause/.test(l));
  assert.deepEqual(await freezes(), ['pause', 'unpause']);
  assert.equal((await ok(inst, ['inspect', '-f', '{{.State.Status}}', 'c'])).trim(), 'running');
  await ok(inst, ['commit', '-q', 'c', 'committed:unpaused']);
  assert.deepEqual(await freezes(), ['pause', 'unpause'], 'a commit without -p pauses nothing');
  await ok(inst, ['rmi', 'committed:paused', 'committed:unpaused']);

  // The new image runs with the changes and its new CMD.
  assert.equal(await ok(inst, ['run', '--rm', '--network', 'none', 'committed:1']), 'added\n');
  const seen = await ok(inst, ['run', '--rm', '--network', 'none', 'committed:1', 'sh', '-c',
    'echo "$FOO $FROMRUN $(pwd)"; /bin/busybox test -e /bin/true && echo true-present; /bin/busybox test -e /home/tester && echo home-present; cat /etc/opq/y']);
  assert.equal(seen, 'bar 1 /etc\nx\n', 'deleted files are gone, ENV and WORKDIR applied, the run env kept');

  const cfg = JSON.parse(await ok(inst, ['image', 'inspect', 'committed:1']))[0];
  assert.deepEqual(cfg.Config.Cmd, ['cat', '/added']);
  assert.equal(cfg.Config.Labels.stage, 'committed');
  assert.ok('8080/tcp' in cfg.Config.ExposedPorts);
  assert.equal(cfg.Author, 'Jane <jane@example.test>');
  const history = (await ok(inst, ['history', 'committed:1'])).trim().split('\n');
  assert.match(history[1]!, new RegExp(`^${id.slice(0, 12)}\\s.*my change$`), history.join('\n'));
  assert.equal(history.length, 3, 'the base entry and the commit');

  // The image's layers: the base's plus one, with whiteouts for the deletions.
  const base = JSON.parse(await ok(inst, ['image', 'inspect', img]))[0];
  assert.equal(cfg.RootFS.Layers.length, base.RootFS.Layers.length + 1);
  assert.deepEqual(cfg.RootFS.Layers.slice(0, -1), base.RootFS.Layers);
  const dir = tempDir(t, 'commit-oci');
  await ok(inst, ['save', '--format', 'oci-archive', '-o', join(dir, 'img.tar'), 'committed:1']);
  execFileSync('tar', ['-C', dir, '-xf', join(dir, 'img.tar')]);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(dir, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  const top = manifest.layers.at(-1).digest.slice(7);
  const entries = execFileSync('tar', ['-tf', join(dir, 'blobs/sha256', top)], { encoding: 'utf8' }).split('\n');
  for (const e of ['added', 'bin/.wh.true', 'home/.wh.tester']) assert.ok(entries.includes(e), `${e} in the layer: ${entries.join(' ')}`);
  assert.ok(!entries.includes('etc/opq/.wh..wh..opq'), 'a new dir is not opaque');

  // push works with it, and the registry serves it back.
  const reg = await startRegistry(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) };
  await ok(inst, ['push', 'committed:1', `${reg.host}/test/committed:1`], env);
  const inst2 = await newInstance(t);
  await ok(inst2, ['pull', `${reg.host}/test/committed:1`], env);
  assert.equal(await ok(inst2, ['run', '--rm', '--network', 'none', `${reg.host}/test/committed:1`]), 'added\n');
});

test('commit a stopped container: docker format, -q, no mount left; bad input refused', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '--name', 's', '--network', 'none', img, 'sh', '-c', 'echo one > /one; rm /etc/group']);
  const id = (await ok(inst, ['container', 'commit', '-q', '--format', 'docker', '-c', 'ENTRYPOINT ["/bin/cat"]', '-c', 'CMD ["/one"]', 's'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.deepEqual(rootfsMounts(inst), [], 'nothing mounted by commit');
  assert.equal(await ok(inst, ['run', '--rm', '--network', 'none', id]), 'one\n');
  const r = await inst.run(['run', '--rm', '--network', 'none', '--entrypoint', '/bin/busybox', id, 'cat', '/etc/group']);
  assert.notEqual(r.code, 0, 'the deleted /etc/group is gone');
  const images = await ok(inst, ['images', '--format', '{{.ID}} {{.Repository}}']);
  assert.ok(images.includes(`${id.slice(0, 12)} <none>`), images);

  const bad = await inst.run(['commit', '--format', 'tar', 's']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /unrecognized image type "tar"/);
  const badChange = await inst.run(['commit', '-c', 'RUN rm -rf /', 's']);
  assert.equal(badChange.code, 125);
  assert.match(badChange.stderr, /invalid change "RUN rm -rf \/"/);
  const missing = await inst.run(['commit', 'nosuch']);
  assert.equal(missing.code, 125);
  assert.match(missing.stderr, /no such container: nosuch/);
});
