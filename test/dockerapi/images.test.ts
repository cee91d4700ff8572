// The image side of the Docker API with the real docker CLI: push (progress), save | load,
// import, history, image prune, login against an htpasswd registry (X-Registry-Auth on
// pull and push), search's clear refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxTarball, newInstance } from '../helpers/index.js';
import { htpasswd, insecureConf, startRegistry, tempDir } from '../registry/fixture.js';
import { escapeRe, hasDocker, startService } from './harness.js';

test('images through the docker CLI: push, save | load, import, history, prune, login, search', { skip: !hasDocker() && 'no docker CLI on this machine' }, async (t) => {
  const inst = await newInstance();
  const reg = await startRegistry(t);
  const dir = tempDir(t, 'dimg');
  const secured = await startRegistry(t, { htpasswd: htpasswd(dir, 'alice', 's3cret') });
  // No stored credentials: what the service gets it gets from the client (X-Registry-Auth).
  const env = { ...inst.env, CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host, secured.host), REGISTRY_AUTH_FILE: join(dir, 'none.json') };
  const image = await inst.importBusybox('localhost/busybox:latest');
  const svc = await startService(t, inst, env);
  t.after(() => inst.cleanup());
  const { docker, ok } = svc;

  await t.test('push to a registry: progress, digest line; again: layers exist; pull back', async () => {
    const ref = `${reg.host}/berth/bb:1`;
    await ok(['tag', image, ref]);
    const r = await docker(['push', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^The push refers to repository \\[${escapeRe(`${reg.host}/berth/bb`)}\\]$`, 'm'));
    assert.match(r.stdout, /^[0-9a-f]{12}: Pushed$/m);
    const digest = /^1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/m.exec(r.stdout);
    assert.ok(digest, r.stdout);
    const again = await ok(['push', ref]);
    assert.match(again, /^[0-9a-f]{12}: Layer already exists$/m);
    assert.match(again, new RegExp(`^1: digest: ${digest[1]} size: ${digest[2]}$`, 'm'));
    // --all-tags: no tag in the request, every tag of the repository goes.
    await ok(['tag', image, `${reg.host}/berth/bb:2`]);
    const all = await ok(['push', '--all-tags', `${reg.host}/berth/bb`]);
    assert.match(all, new RegExp(`^1: digest: ${digest[1]} size: ${digest[2]}$`, 'm'));
    assert.match(all, new RegExp(`^2: digest: ${digest[1]} size: ${digest[2]}$`, 'm'));
    await ok(['rmi', `${reg.host}/berth/bb:2`]);
    await ok(['rmi', ref]);
    const pulled = await ok(['pull', ref]);
    assert.match(pulled, new RegExp(`Digest: ${digest[1]}`));
    // The progress docker draws (without a terminal, one line per layer and state).
    assert.match(pulled, /^1: Pulling from berth\/bb$/m);
    // Its one layer is still the local busybox's.
    assert.match(pulled, /^[0-9a-f]{12}: Already exists$/m);
    assert.match(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), new RegExp(`^${escapeRe(ref)}$`, 'm'));
    await ok(['rmi', ref]);
    const missing = await docker(['push', `${reg.host}/berth/none:1`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /An image does not exist locally with the tag: /);
  });

  await t.test('docker save | docker load, and save -o / load -i', async () => {
    await ok(['tag', image, 'localhost/saved:2']);
    const id = (await ok(['image', 'inspect', '-f', '{{.Id}}', 'localhost/saved:2'])).trim();
    const archive = join(dir, 'saved.tar');
    await ok(['save', '-o', archive, 'localhost/saved:2']);
    assert.ok(readFileSync(archive).includes('manifest.json'), 'a docker archive');
    await ok(['rmi', 'localhost/saved:2']);
    const loaded = await ok(['load', '-i', archive]);
    assert.equal(loaded.trim(), 'Loaded image: localhost/saved:2');
    // Plain inspect: no container has that name, so the docker CLI asks for the image.
    assert.equal((await ok(['inspect', '-f', '{{.Id}}', 'localhost/saved:2'])).trim(), id);
    await ok(['rmi', 'localhost/saved:2']);
    const piped = await svc.sh(`docker save ${image} | docker load`);
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout.trim(), `Loaded image: ${image}`);
    const noSuch = await docker(['save', 'localhost/nothing:here']);
    assert.notEqual(noSuch.code, 0);
    assert.match(noSuch.stderr, /No such image: localhost\/nothing:here/);
    const garbage = await docker(['load'], { input: 'not a tar at all' });
    assert.notEqual(garbage.code, 0);
    assert.match(garbage.stderr, /Error response from daemon/);
  });

  await t.test('docker import, then run it and read its history', async () => {
    const out = await ok(['import', '-m', 'from a tarball', '-c', 'ENV IMPORTED=yes', busyboxTarball(), 'localhost/imported:1']);
    const id = out.trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal((await ok(['image', 'inspect', '-f', '{{.Id}}', 'localhost/imported:1'])).trim(), id);
    assert.equal(await ok(['run', '--rm', '--network', 'none', 'localhost/imported:1', 'sh', '-c', 'echo $IMPORTED']), 'yes\n');
    const history = (await ok(['history', '--no-trunc', '--format', '{{.ID}}|{{.Comment}}', 'localhost/imported:1'])).trim().split('\n');
    assert.equal(history[0], `${id}|from a tarball`);
    const table = await ok(['history', 'localhost/imported:1']);
    assert.match(table, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/m);
    assert.match(table, new RegExp(`^${id.slice(7, 19)}\\s+.*ago`, 'm'));
    const noSuch = await docker(['history', 'localhost/nothing:here']);
    assert.notEqual(noSuch.code, 0);
    assert.match(noSuch.stderr, /No such image: localhost\/nothing:here/);
  });

  await t.test('image prune -f removes dangling images only', async () => {
    const dangling = (await ok(['import', busyboxTarball()])).trim();
    assert.match(await ok(['images', '-a', '--no-trunc', '--format', '{{.ID}}']), new RegExp(`^${dangling}$`, 'm'));
    const pruned = await ok(['image', 'prune', '-f']);
    assert.match(pruned, new RegExp(`^Deleted Images:\\ndeleted: ${dangling}$`, 'm'));
    assert.match(pruned, /^Total reclaimed space: /m);
    const left = await ok(['images', '-a', '--no-trunc', '--format', '{{.ID}}']);
    assert.doesNotMatch(left, new RegExp(dangling));
    assert.match(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), /^localhost\/imported:1$/m, 'named images stay');
    assert.match(await ok(['image', 'prune', '-f']), /^Total reclaimed space: 0B$/m);
  });

  await t.test('login against an htpasswd registry; push and pull with the stored credentials', async () => {
    const ref = `${secured.host}/team/bb:1`;
    await ok(['tag', image, ref]);
    const anonymous = await docker(['push', ref]);
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr + anonymous.stdout, /unauthorized/);
    const wrong = await docker(['login', '-u', 'alice', '-p', 'nope', secured.host]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, new RegExp(`Error response from daemon: login attempt to http://${escapeRe(secured.host)}/v2/ failed with status: 401 Unauthorized`));
    const login = await docker(['login', '-u', 'alice', '--password-stdin', secured.host], { input: 's3cret\n' });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const config = JSON.parse(readFileSync(join(svc.clientEnv.DOCKER_CONFIG!, 'config.json'), 'utf8'));
    assert.equal(config.auths[secured.host].auth, Buffer.from('alice:s3cret').toString('base64'));
    assert.match(await ok(['push', ref]), /^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
    await ok(['rmi', ref]);
    assert.match(await ok(['pull', ref]), /Digest: sha256:/);
    await ok(['rmi', ref]);
    await ok(['logout', secured.host]);
    const after = await docker(['pull', ref]);
    assert.notEqual(after.code, 0, 'without credentials the pull is refused');
    assert.equal(existsSync(join(dir, 'none.json')), false, 'the service stored nothing');
  });

  await t.test('search answers with a clear refusal', async () => {
    const r = await docker(['search', 'busybox']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Error response from daemon: image search is not implemented by berth/);
  });
});
