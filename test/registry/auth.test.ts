// Auth against the real registry: htpasswd basic auth with login/logout, and the bearer
// token flow with a token server written in the test; berth push read back by skopeo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance } from '../helpers/index.js';
import { htpasswd, insecureConf, makeLayout, skopeoManifest, skopeoPush, startRegistry, startTokenServer, tempDir } from './fixture.js';

test('htpasswd basic auth: login, pull, push (read back by skopeo), logout', async (t) => {
  const dir = tempDir(t, 'htpasswd');
  const reg = await startRegistry(t, { htpasswd: htpasswd(dir, 'alice', 's3cret') });
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'single', `${reg.host}/team/bb:1`, ['--dest-creds', 'alice:s3cret']);
  const inst = await newInstance(t);
  const authFile = join(dir, 'auth.json');
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host), REGISTRY_AUTH_FILE: authFile };
  const berth = (args: string[], input?: string) => inst.run(args, { env, input, timeoutMs: 120_000 });

  const anonymous = await berth(['pull', '-q', `${reg.host}/team/bb:1`]);
  assert.equal(anonymous.code, 125);
  assert.equal(anonymous.stderr, `berth: registry ${reg.host}: unauthorized: authentication required (run berth login ${reg.host})\n`);

  const wrong = await berth(['login', '-u', 'alice', '-p', 'nope', reg.host]);
  assert.equal(wrong.code, 125);
  assert.equal(wrong.stderr, `berth: registry ${reg.host}: unauthorized: incorrect username or password\n`);
  assert.equal(existsSync(authFile), false, 'wrong credentials are not stored');

  const login = await berth(['login', '-u', 'alice', '--password-stdin', reg.host], 's3cret\n');
  assert.equal(login.code, 0, login.stderr);
  assert.equal(login.stdout, 'Login Succeeded!\n');
  const stored = JSON.parse(readFileSync(authFile, 'utf8'));
  assert.deepEqual(stored, { auths: { [reg.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } } });
  assert.equal((await berth(['login', '--get-login', reg.host])).stdout, 'alice\n');

  const pulled = await berth(['pull', '-q', `${reg.host}/team/bb:1`]);
  assert.equal(pulled.code, 0, pulled.stderr);

  // push under a new name: same manifest bytes, so skopeo sees the same digest.
  const pushed = await berth(['push', '--digestfile', join(dir, 'digest'), `${reg.host}/team/bb:1`, `${reg.host}/team/copy:2`]);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.match(pushed.stderr, /Copying blob [a-f0-9]{12} (done|skipped: already exists|skipped: mounted from team\/bb)\n/);
  const original = (await skopeoManifest(`${reg.host}/team/bb:1`, ['--creds', 'alice:s3cret']));
  const copy = (await skopeoManifest(`${reg.host}/team/copy:2`, ['--creds', 'alice:s3cret']));
  assert.equal(copy.digest, original.digest);
  assert.equal(readFileSync(join(dir, 'digest'), 'utf8'), original.digest);

  // An imported image (uncompressed layer, berth-made manifest) round-trips too.
  await inst.importBusybox('imported');
  const pushImported = await berth(['push', 'imported', `${reg.host}/team/imported:v1`]);
  assert.equal(pushImported.code, 0, pushImported.stderr);
  const [local] = JSON.parse((await berth(['image', 'inspect', 'imported'])).stdout);
  assert.equal((await skopeoManifest(`${reg.host}/team/imported:v1`, ['--creds', 'alice:s3cret'])).digest, local.Digest);

  const logout = await berth(['logout', reg.host]);
  assert.equal(logout.stdout, `Removed login credentials for ${reg.host}\n`);
  assert.deepEqual(JSON.parse(readFileSync(authFile, 'utf8')), { auths: {} });
  assert.equal((await berth(['pull', '-q', `${reg.host}/team/bb:1`])).code, 125);
  assert.equal((await berth(['logout', reg.host])).code, 125);
});

test('bearer token flow: anonymous pull of a public repository, push with credentials, scopes per repository', async (t) => {
  const tokens = await startTokenServer(t, 'bob', 'hunter2');
  const reg = await startRegistry(t, { token: tokens });
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'single', `${reg.host}/public/bb:1`, ['--dest-creds', 'bob:hunter2']);
  const dir = tempDir(t, 'tokenauth');
  const inst = await newInstance(t);
  const conf = insecureConf(t, reg.host);
  const anon = { CONTAINERS_REGISTRIES_CONF: conf, REGISTRY_AUTH_FILE: join(dir, 'none.json') };
  const authed = { CONTAINERS_REGISTRIES_CONF: conf, REGISTRY_AUTH_FILE: join(dir, 'auth.json') };

  tokens.requests.length = 0;
  const pulled = await inst.run(['pull', '-q', `${reg.host}/public/bb:1`], { env: anon, timeoutMs: 120_000 });
  assert.equal(pulled.code, 0, pulled.stderr);
  // One token for the repository, reused for the manifest and every blob.
  assert.deepEqual(tokens.requests, [{ scope: 'repository:public/bb:pull', user: null }]);

  const denied = await inst.run(['push', `${reg.host}/public/bb:1`, `${reg.host}/private/bb:1`], { env: anon, timeoutMs: 60_000 });
  assert.equal(denied.code, 125);
  assert.match(denied.stderr, new RegExp(`\\nberth: registry ${reg.host.replace(/\./g, '\\.')}: unauthorized: authentication required \\(run berth login ${reg.host.replace(/\./g, '\\.')}\\)\\n$`));

  const bad = await inst.run(['login', '-u', 'bob', '-p', 'wrong', reg.host], { env: authed });
  assert.equal(bad.code, 125);
  assert.equal(bad.stderr, `berth: registry ${reg.host}: unauthorized: incorrect username or password\n`);
  const login = await inst.run(['login', '-u', 'bob', '-p', 'hunter2', reg.host], { env: authed });
  assert.equal(login.code, 0, login.stderr);

  tokens.requests.length = 0;
  const pushed = await inst.run(['push', '-q', `${reg.host}/public/bb:1`, `${reg.host}/private/bb:1`], { env: authed, timeoutMs: 120_000 });
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(pushed.stderr, '');
  // One token to push here; one more for the mounts, which read from public/bb too.
  assert.deepEqual(tokens.requests, [
    { scope: 'repository:private/bb:pull,push', user: 'bob' },
    { scope: 'repository:private/bb:pull,push repository:public/bb:pull', user: 'bob' },
  ]);
  const pushedAgain = await inst.run(['push', `${reg.host}/public/bb:1`, `${reg.host}/private/bb:1`], { env: authed, timeoutMs: 120_000 });
  assert.match(pushedAgain.stderr, /skipped: already exists/);
  // An image named in a repository the token cannot read: the registry refuses the mount
  // (401), berth uploads the blobs instead.
  await inst.importBusybox(`${reg.host}/secret/imp:1`);
  tokens.requests.length = 0;
  const unmounted = await inst.run(['push', `${reg.host}/secret/imp:1`, `${reg.host}/private/imp:1`], { env: authed, timeoutMs: 120_000 });
  assert.equal(unmounted.code, 0, unmounted.stderr);
  assert.ok(tokens.requests.some((r) => r.scope === 'repository:private/imp:pull,push repository:secret/imp:pull'), JSON.stringify(tokens.requests));
  assert.doesNotMatch(unmounted.stderr, /mounted from/);
  assert.match(unmounted.stderr, /Copying blob [a-f0-9]{12} done\n/);
  const [imported] = JSON.parse((await inst.run(['image', 'inspect', `${reg.host}/secret/imp:1`], { env: authed })).stdout);
  assert.equal((await skopeoManifest(`${reg.host}/private/imp:1`, ['--creds', 'bob:hunter2'])).digest, imported.Digest);
  assert.equal((await skopeoManifest(`${reg.host}/private/bb:1`, ['--creds', 'bob:hunter2'])).digest, (await skopeoManifest(`${reg.host}/public/bb:1`, ['--creds', 'bob:hunter2'])).digest);

  // Anonymous pull of the private repository: a token without access, then a clear error.
  const priv = await inst.run(['pull', '-q', `${reg.host}/private/bb:1`], { env: anon, timeoutMs: 60_000 });
  assert.equal(priv.code, 125);
  assert.match(priv.stderr, /unauthorized: authentication required/);
});
