// Short names as podman resolves them: pulled from the first unqualified-search registry that
// has the image, then found locally under any registry's name (localhost/ first, then the
// search registries in order, then docker.io, then any name ending in /NAME), by run, create,
// inspect, history, tag, save and rmi alike; and rmi of an image with several names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance } from '../helpers/index.js';
import { HOST_ARCH, makeLayout, OTHER_ARCH, registriesConf, skopeoPush, startRegistry, tempDir } from '../registry/fixture.js';

const searchConf = (t: Parameters<typeof registriesConf>[0], ...hosts: string[]) =>
  registriesConf(t, `unqualified-search-registries = [${hosts.map((h) => `"${h}"`).join(', ')}]\n` + hosts.map((h) => `[[registry]]\nlocation = "${h}"\ninsecure = true\n`).join('\n'));

test('short names: pulled from the first search registry that has them, then found locally', async (t) => {
  const [a, b] = [await startRegistry(t), await startRegistry(t)];
  const layout = makeLayout(tempDir(t, 'layout'));
  // b alone has e2e-test-images/httpd; both have busybox, a different image in each.
  await skopeoPush(layout, 'single', `${b.host}/e2e-test-images/httpd:1.0`);
  await skopeoPush(layout, 'multi', `${a.host}/busybox:latest`, ['--override-arch', OTHER_ARCH]);
  await skopeoPush(layout, 'single', `${b.host}/busybox:latest`);
  const inst = await newInstance(t);
  const ab = { CONTAINERS_REGISTRIES_CONF: searchConf(t, a.host, b.host) };
  const ba = { CONTAINERS_REGISTRIES_CONF: searchConf(t, b.host, a.host) };
  const berth = (args: string[], env = ab) => inst.run(args, { env, timeoutMs: 120_000 });
  const ok = async (args: string[], env = ab) => {
    const r = await berth(args, env);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r;
  };

  const first = await ok(['run', '--rm', 'e2e-test-images/httpd:1.0', '/bin/busybox', 'cat', '/etc/arch-marker']);
  assert.equal(first.stdout, `${HOST_ARCH}\n`);
  assert.match(first.stderr, new RegExp(`Trying to pull ${a.host}/e2e-test-images/httpd:1\\.0\\.\\.\\.\nTrying to pull ${b.host}/e2e-test-images/httpd:1\\.0\\.\\.\\.\n`));
  // Found locally now: no second pull.
  const again = await ok(['run', '--rm', 'e2e-test-images/httpd:1.0', '/bin/busybox', 'cat', '/etc/arch-marker']);
  assert.equal(again.stdout, `${HOST_ARCH}\n`);
  assert.equal(again.stderr, '');
  const [httpd] = JSON.parse((await ok(['image', 'inspect', 'e2e-test-images/httpd:1.0'])).stdout);
  assert.deepEqual(httpd.RepoTags, [`${b.host}/e2e-test-images/httpd:1.0`]);
  assert.equal((await ok(['image', 'inspect', '-f', '{{.Id}}', 'httpd:1.0'])).stdout, `${httpd.Id}\n`, 'a shorter suffix of the path matches too');
  for (const missing of ['httpd', 'e2e-test-images/httpd:2', 'ttpd:1.0', 'docker.io/e2e-test-images/httpd:1.0']) {
    const r = await berth(['image', 'inspect', missing]);
    assert.equal(r.code, 125, missing);
    assert.match(r.stderr, new RegExp(`no such image: ${missing.replace(/\./g, '\\.')}\n$`));
  }
  // The other commands take the short name as well.
  assert.match((await ok(['history', '-q', 'e2e-test-images/httpd:1.0'])).stdout, new RegExp(`^${httpd.Id.slice(7, 19)}\n`));
  await ok(['tag', 'e2e-test-images/httpd:1.0', 'mine:1']);
  assert.equal((await ok(['image', 'inspect', '-f', '{{.Id}}', 'localhost/mine:1'])).stdout, `${httpd.Id}\n`);
  const archive = join(inst.base, 'httpd.tar');
  await ok(['save', '-o', archive, 'e2e-test-images/httpd:1.0']);
  assert.ok(existsSync(archive));
  const created = (await ok(['create', 'e2e-test-images/httpd:1.0', 'true'])).stdout.trim();
  assert.equal((await ok(['inspect', '-f', '{{.Image}}', created])).stdout, `${httpd.Id}\n`);
  await ok(['rm', '-f', created]);
  assert.equal((await ok(['rmi', 'e2e-test-images/httpd:1.0'])).stdout, `Untagged: ${b.host}/e2e-test-images/httpd:1.0\n`);

  // busybox is in both: a's (the first search registry) is pulled, and found again.
  const bb = await ok(['run', '--rm', 'busybox', '/bin/busybox', 'cat', '/etc/arch-marker']);
  assert.equal(bb.stdout, `${OTHER_ARCH}\n`);
  assert.doesNotMatch(bb.stderr, new RegExp(b.host.replace(/\./g, '\\.')));
  assert.equal((await ok(['run', '--rm', '--pull', 'missing', 'busybox', '/bin/busybox', 'cat', '/etc/arch-marker'])).stderr, '');
  // With both registries' busybox stored, the search order picks; then docker.io's; localhost/ first of all.
  await ok(['pull', '-q', `${b.host}/busybox`]);
  const idOf = async (ref: string, env = ab) => (await ok(['image', 'inspect', '-f', '{{.Id}}', ref], env)).stdout.trim();
  const other = await idOf(`${a.host}/busybox`);
  const host = await idOf(`${b.host}/busybox`);
  assert.notEqual(other, host);
  assert.equal(await idOf('busybox'), other);
  assert.equal(await idOf('busybox', ba), host);
  assert.equal(await idOf('busybox:latest', ba), host);
  // The registries.conf berth.toml names counts the same.
  appendFileSync(join(inst.configDir, 'berth.toml'), `[registries]\nconfig = "${ba.CONTAINERS_REGISTRIES_CONF}"\n`);
  assert.equal(await idOf('busybox', { CONTAINERS_REGISTRIES_CONF: '' }), host, "berth.toml's registries.conf");
  // Neither search registry lists docker.io; its name still comes after theirs (podman's compatibility rule).
  await ok(['tag', `${a.host}/busybox`, 'docker.io/library/busybox:latest']);
  assert.equal(await idOf('busybox', ba), host);
  await ok(['rmi', `${b.host}/busybox`]);
  assert.equal(await idOf('busybox', ba), other, "a's name, then docker.io's: one image");
  // localhost/ comes first of all.
  await inst.importBusybox('busybox');
  const imported = await idOf('localhost/busybox');
  assert.equal(await idOf('busybox'), imported);
  // rmi of a short name removes the name it resolves to.
  assert.equal((await ok(['rmi', 'busybox'])).stdout, `Untagged: localhost/busybox:latest\nDeleted: ${imported}\n`);
  assert.equal((await ok(['rmi', 'busybox'])).stdout, `Untagged: ${a.host}/busybox:latest\n`);
  assert.equal(await idOf('busybox'), other, 'only docker.io/library/busybox is left');
  assert.equal((await ok(['rmi', 'busybox'])).stdout, `Untagged: docker.io/library/busybox:latest\nDeleted: ${other}\n`);
});

test('a short name stored under several registries resolves to the image podman picks', async (t) => {
  const [a, b] = [await startRegistry(t), await startRegistry(t)];
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'multi', `${a.host}/e2e/dual:1`, ['--override-arch', OTHER_ARCH]);
  await skopeoPush(layout, 'single', `${b.host}/e2e/dual:1`);
  const inst = await newInstance(t);
  const dir = mkdtempSync('/tmp/berth-test-podman-');
  const confs = [searchConf(t, a.host, b.host), searchConf(t, b.host, a.host), registriesConf(t, `[[registry]]\nlocation = "${a.host}"\ninsecure = true\n`)];
  const podman = (conf: string, ...args: string[]) =>
    execFileSync('podman', ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CONTAINERS_REGISTRIES_CONF: conf },
    }).trim();
  // One hook, podman's own removal first: after hooks run in the order they were registered.
  t.after(() => {
    try {
      podman(confs[0], 'rmi', '-a', '-f');
    } catch {
      // the directory goes anyway
    }
    rmSync(dir, { recursive: true, force: true });
  });
  for (const r of [a, b]) {
    podman(confs[0], 'pull', '-q', '--tls-verify=false', `${r.host}/e2e/dual:1`);
    const p = await inst.run(['pull', '-q', `${r.host}/e2e/dual:1`], { env: { CONTAINERS_REGISTRIES_CONF: confs[0] } });
    assert.equal(p.code, 0, p.stderr);
  }
  podman(confs[0], 'tag', `${a.host}/e2e/dual:1`, 'quay.io/x/e2e/solo:1');
  await inst.run(['tag', `${a.host}/e2e/dual:1`, 'quay.io/x/e2e/solo:1']);
  const ids = new Set<string>();
  for (const conf of confs) {
    for (const ref of ['dual:1', 'e2e/dual:1', 'solo:1', 'e2e/solo:1', 'x/e2e/solo:1']) {
      const want = podman(conf, 'image', 'inspect', '--format', '{{.Id}}', ref);
      const got = await inst.run(['image', 'inspect', '-f', '{{.Id}}', ref], { env: { CONTAINERS_REGISTRIES_CONF: conf } });
      assert.equal(got.code, 0, `${ref}: ${got.stderr}`);
      assert.equal(got.stdout.trim(), `sha256:${want}`, `${ref} with ${conf}`);
      ids.add(want);
    }
  }
  assert.equal(ids.size, 2, 'the registries hold different images, and both orders were seen');
});

test('rmi by ID of an image with several names needs -f; rmi NAME only untags', async (t) => {
  const inst = await newInstance(t);
  await inst.importBusybox('multi');
  const ok = async (args: string[]) => {
    const r = await inst.run(args);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await ok(['tag', 'multi', 'multi:2', 'quay.io/x/multi:1']);
  const id = (await ok(['images', '-q', '--no-trunc', 'multi'])).trim().slice(7);
  const refused = await inst.run(['rmi', id.slice(0, 12)]);
  assert.equal(refused.code, 125, "podman's status for an image it must be forced to remove");
  assert.equal(refused.stdout, '');
  assert.equal(refused.stderr, `berth: unable to delete image ${id.slice(0, 12)} (must be forced) - image is referenced in multiple repositories\n`);
  assert.equal((await inst.run(['rmi', `sha256:${id}`])).code, 125, 'by full ID too');
  assert.equal(await ok(['rmi', 'multi:2']), 'Untagged: localhost/multi:2\n');
  assert.equal(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), 'localhost/multi:latest\nquay.io/x/multi:1\n');
  assert.equal(await ok(['rmi', '-f', id.slice(0, 12)]), `Untagged: localhost/multi:latest\nUntagged: quay.io/x/multi:1\nDeleted: sha256:${id}\n`);
  assert.equal(await ok(['images', '-q']), '');
  // One name left: by ID it goes without -f.
  await inst.importBusybox('single');
  const single = (await ok(['images', '-q', '--no-trunc'])).trim();
  assert.equal(await ok(['rmi', single]), `Untagged: localhost/single:latest\nDeleted: ${single}\n`);
});

test("a short name that a localhost/ image has is pulled by that name, not searched for (podman's rule)", async (t) => {
  const reg = await startRegistry(t);
  await skopeoPush(makeLayout(tempDir(t, 'layout')), 'single', `${reg.host}/bb:latest`);
  const inst = await newInstance(t);
  // localhost/ is served by the test registry; the search registry has bb too, so only the name tried tells the two apart.
  const env = {
    CONTAINERS_REGISTRIES_CONF: registriesConf(
      t,
      `unqualified-search-registries = ["${reg.host}"]\n[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n[[registry]]\nprefix = "localhost"\nlocation = "${reg.host}"\ninsecure = true\n`,
    ),
  };
  const ok = async (args: string[]) => {
    const r = await inst.run(args, { env, timeoutMs: 120_000 });
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  await inst.importBusybox('bb');
  const idOf = async () => (await ok(['image', 'inspect', '-f', '{{.Id}}', 'localhost/bb'])).stdout.trim();
  const imported = await idOf();
  const pulled = await ok(['pull', 'bb']);
  assert.match(pulled.stderr, /^Trying to pull localhost\/bb:latest\.\.\.\n/);
  assert.doesNotMatch(pulled.stderr, new RegExp(`${reg.host.replace(/\./g, '\\.')}/bb`));
  const id = await idOf();
  assert.match(id, /^sha256:[a-f0-9]{64}$/);
  assert.notEqual(id, imported, "localhost/bb is now the registry's image");
  const always = await ok(['run', '--rm', '--pull', 'always', 'bb', '/bin/busybox', 'cat', '/etc/arch-marker']);
  assert.equal(always.stdout, `${HOST_ARCH}\n`);
  assert.match(always.stderr, /^Trying to pull localhost\/bb:latest\.\.\.\n/);
  // Without a localhost/ image the short name is searched for as before.
  await ok(['rmi', 'localhost/bb']);
  assert.match((await ok(['pull', 'bb'])).stderr, new RegExp(`^Trying to pull ${reg.host.replace(/\./g, '\\.')}/bb:latest\\.\\.\\.\n`));
});
