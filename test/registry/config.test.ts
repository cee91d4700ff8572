// registries.conf resolution, auth.json lookup and WWW-Authenticate parsing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  canonicalRegistry, findCredentials, loadRegistriesConf, parseChallenge, parseRegistriesConf, pullSources, pushSource, registryEndpoint, removeCredentials,
  saveCredentials, Transport,
} from '../../src/registry/index.js';
import { tempDir } from './fixture.js';

test('registries.conf: prefixes, locations, mirrors by tag or digest, blocked, wildcards', async () => {
  const conf = await parseRegistriesConf(`
unqualified-search-registries = ["quay.io", "docker.io"]

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.local:5000/hub"
insecure = true
[[registry.mirror]]
location = "digests.local"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "docker.io/library/special"
location = "special.local/x"

[[registry]]
prefix = "*.blocked.example"
blocked = true

[[registry]]
location = "plain.local:5000"
insecure = true
`);
  assert.deepEqual(conf.unqualifiedSearch, ['quay.io', 'docker.io']);
  const hosts = (s: ReturnType<typeof pullSources>) => s.map((x) => `${x.host}/${x.path}${x.insecure ? ' insecure' : ''}${x.mirror ? ' mirror' : ''}`);
  assert.deepEqual(hosts(pullSources(conf, 'docker.io/library/busybox', false)), ['mirror.local:5000/hub/library/busybox insecure mirror', 'docker.io/library/busybox']);
  assert.deepEqual(hosts(pullSources(conf, 'docker.io/library/busybox', true)), [
    'mirror.local:5000/hub/library/busybox insecure mirror',
    'digests.local/library/busybox mirror',
    'docker.io/library/busybox',
  ]);
  // The longest prefix wins, and its location replaces the prefix.
  assert.deepEqual(hosts(pullSources(conf, 'docker.io/library/special/sub', false)), ['special.local/x/sub']);
  assert.deepEqual(hosts(pullSources(conf, 'docker.io/library/specialist', false)), ['mirror.local:5000/hub/library/specialist insecure mirror', 'docker.io/library/specialist']);
  assert.throws(() => pullSources(conf, 'a.blocked.example/x', false), /registry \*\.blocked\.example is blocked/);
  assert.deepEqual(hosts(pullSources(conf, 'other.example/x', false)), ['other.example/x']);
  assert.deepEqual(hosts([pushSource(conf, 'plain.local:5000/ns/x')]), ['plain.local:5000/ns/x insecure']);
  await assert.rejects(parseRegistriesConf('[[registry]]\nprefix = "a.io"\n[[registry.mirror]]\ninsecure = true\n'), /every mirror needs a location/);
  await assert.rejects(parseRegistriesConf('unqualified-search-registries = "docker.io"'), /must be an array of strings/);
  await assert.rejects(parseRegistriesConf('[[registry]\n'), /registries\.conf: /);
});

test('registries.conf: drop-ins replace entries with the same prefix; v1 tables', async (t) => {
  const dir = tempDir(t, 'regconf-dropin');
  const main = join(dir, 'registries.conf');
  writeFileSync(main, 'unqualified-search-registries = ["a.io"]\n[[registry]]\nlocation = "a.io"\ninsecure = true\n');
  mkdirSync(join(dir, 'registries.conf.d'));
  writeFileSync(join(dir, 'registries.conf.d', '10-b.conf'), '[[registry]]\nlocation = "a.io"\nblocked = true\n');
  writeFileSync(join(dir, 'registries.conf.d', '20-c.conf'), 'unqualified-search-registries = ["c.io"]\n');
  writeFileSync(join(dir, 'registries.conf.d', 'ignored.txt'), 'not toml');
  const conf = await loadRegistriesConf(undefined, { CONTAINERS_REGISTRIES_CONF: main });
  assert.deepEqual(conf.unqualifiedSearch, ['c.io']);
  assert.equal(conf.registries.length, 1);
  assert.equal(conf.registries[0].blocked, true);
  assert.equal(conf.registries[0].insecure, false);
  assert.deepEqual((await loadRegistriesConf(join(tempDir(t, 'regconf-empty'), 'missing.conf'))).registries, []);

  const v1 = await parseRegistriesConf('[registries.search]\nregistries = ["s.io"]\n[registries.insecure]\nregistries = ["i.io"]\n[registries.block]\nregistries = ["b.io"]\n');
  assert.deepEqual(v1.unqualifiedSearch, ['s.io']);
  assert.equal(pullSources(v1, 'i.io/x', false)[0].insecure, true);
  assert.throws(() => pullSources(v1, 'b.io/x', false), /blocked/);
});

test('auth.json: most specific entry of the first file that has one; docker URL keys; save and remove', (t) => {
  const dir = tempDir(t, 'authjson');
  const first = join(dir, 'auth.json');
  const docker = join(dir, 'config.json');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  writeFileSync(first, JSON.stringify({ auths: { 'r.io': { auth: b64('u1:p1') }, 'r.io/team': { auth: b64('u2:p:2') } } }));
  writeFileSync(docker, JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') }, 'r.io': { auth: b64('x:y') } }, credsStore: 'desktop' }));
  const files = [first, docker];
  assert.deepEqual(findCredentials('r.io/other/x', files), { username: 'u1', password: 'p1' });
  assert.deepEqual(findCredentials('r.io/team/x', files), { username: 'u2', password: 'p:2' });
  assert.deepEqual(findCredentials('docker.io/library/busybox', files), { username: 'hub', password: 'pw' });
  assert.equal(findCredentials('r.iox/a', files), undefined);

  saveCredentials('new.io', { username: 'n', password: 'm' }, docker);
  const doc = JSON.parse(readFileSync(docker, 'utf8'));
  assert.equal(doc.credsStore, 'desktop', 'other keys are kept');
  assert.deepEqual(findCredentials('new.io/a', [docker]), { username: 'n', password: 'm' });
  assert.equal(removeCredentials('docker.io', docker), true);
  assert.equal(findCredentials('docker.io/library/busybox', [docker]), undefined);
  assert.equal(removeCredentials('docker.io', docker), false);
  writeFileSync(first, '{not json');
  assert.throws(() => findCredentials('r.io/x', files), /auth\.json: not a valid auth file/);
});

test('Docker Hub: pull, push and login resolve one API endpoint (nothing is sent anywhere)', async () => {
  const conf = await parseRegistriesConf('');
  const pull = pullSources(conf, 'docker.io/library/busybox', false);
  const push = pushSource(conf, 'docker.io/someone/app');
  // What login checks: the registry part of its argument, in any spelling docker users write.
  const logins = ['docker.io', 'index.docker.io', 'https://index.docker.io/v1/', 'registry-1.docker.io'].map((a) => canonicalRegistry(a));
  assert.deepEqual(logins, ['docker.io', 'docker.io', 'docker.io', 'docker.io']);
  assert.deepEqual([pull.map((s) => s.host), push.host], [['docker.io'], 'docker.io']);
  // The transport turns a registry into the base URL its requests go to; for a registry
  // that is not insecure it sends no probe, so this resolves without traffic.
  const transport = new Transport();
  try {
    for (const host of [pull[0]!.host, push.host, ...logins]) assert.equal(await transport.base(host, false), 'https://registry-1.docker.io');
    assert.equal(await transport.base('127.0.0.1:5000', false), 'https://127.0.0.1:5000');
  } finally {
    transport.close();
  }
  assert.equal(registryEndpoint('registry.example.com:5000'), 'registry.example.com:5000');
  assert.equal(canonicalRegistry('https://registry.example.com/'), 'registry.example.com');
});

test('WWW-Authenticate challenges', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'), {
    scheme: 'bearer',
    realm: 'https://auth.example/token',
    service: 'registry.example',
  });
  assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', realm: 'x', service: undefined });
  assert.equal(parseChallenge('Negotiate abc'), undefined);
  assert.equal(parseChallenge(undefined), undefined);
});
