import { test } from 'node:test';
import assert from 'node:assert/strict';
import { candidateNames, formatReference, normalizeLocalName, normalizeReference, parseReference, splitName } from '../../src/image/index.js';
import { matchesShortName } from '../../src/image/reference.js';
import { isBerthError } from '../../src/errors/index.js';

const D = 'sha256:' + 'ab'.repeat(32);

test('references normalise like docker', () => {
  const table: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['user/repo:tag', 'docker.io/user/repo:tag'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['quay.io/ns/repo', 'quay.io/ns/repo:latest'],
    ['localhost/foo', 'localhost/foo:latest'],
    ['localhost:5000/ns/repo:v1', 'localhost:5000/ns/repo:v1'],
    ['127.0.0.1:5000/repo', '127.0.0.1:5000/repo:latest'],
    ['my-registry.example.com:443/a/b/c:1.0-rc_1', 'my-registry.example.com:443/a/b/c:1.0-rc_1'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`],
    ['a__b/c.d-e--f', 'docker.io/a__b/c.d-e--f:latest'],
    ['Registry.Example/repo', 'Registry.Example/repo:latest'],
  ];
  for (const [input, want] of table) assert.equal(formatReference(normalizeReference(input)), want, input);
});

test('invalid references are rejected with docker\'s message', () => {
  const bad = ['', 'Busybox', 'busybox:', 'busybox:-tag', 'busybox:' + 'x'.repeat(129), 'busybox@sha256:abc', `busybox@md5:${'a'.repeat(32)}`,
    'a//b', '/busybox', 'busybox/', 'repo:tag:tag', 'a..b', '-a', 'a-', 'bad host!/repo', 'x'.repeat(256)];
  for (const s of bad) {
    assert.throws(() => parseReference(s), (e: unknown) => isBerthError(e, 'InvalidArgument') && e.message === `invalid reference format: "${s}"`, JSON.stringify(s));
  }
});

test('parse keeps the parts without defaults', () => {
  assert.deepEqual(parseReference('localhost:5000/x:y'), { domain: 'localhost:5000', path: 'x', tag: 'y', digest: undefined });
  assert.deepEqual(parseReference('x'), { domain: '', path: 'x', tag: undefined, digest: undefined });
});

test('local names go under localhost/, short lookups try localhost then docker.io', () => {
  assert.equal(normalizeLocalName('foo'), 'localhost/foo:latest');
  assert.equal(normalizeLocalName('ns/foo:2'), 'localhost/ns/foo:2');
  assert.equal(normalizeLocalName('quay.io/foo:2'), 'quay.io/foo:2');
  assert.equal(normalizeLocalName('docker.io/foo'), 'docker.io/library/foo:latest');
  assert.throws(() => normalizeLocalName(`foo@${D}`), (e: unknown) => isBerthError(e, 'InvalidArgument'));
  assert.deepEqual(candidateNames('foo:1').map(formatReference), ['localhost/foo:1', 'docker.io/library/foo:1']);
  assert.deepEqual(candidateNames('quay.io/foo').map(formatReference), ['quay.io/foo:latest']);
  assert.deepEqual(splitName('localhost:5000/a/b:c'), { repository: 'localhost:5000/a/b', tag: 'c' });
});

test('short names: search registries between localhost and docker.io; suffix matches at a path boundary', () => {
  assert.deepEqual(candidateNames('foo', ['127.0.0.1:5000', 'docker.io', 'quay.io']).map(formatReference), [
    'localhost/foo:latest',
    '127.0.0.1:5000/foo:latest',
    'docker.io/library/foo:latest',
    'quay.io/foo:latest',
  ]);
  const short = (s: string) => parseReference(s);
  assert.equal(matchesShortName('quay.io/e2e/httpd:1', short('httpd:1')), true);
  assert.equal(matchesShortName('quay.io/e2e/httpd:1', short('e2e/httpd:1')), true);
  assert.equal(matchesShortName('docker.io/library/busybox:latest', short('busybox')), true);
  assert.equal(matchesShortName('quay.io/e2e/httpd:1', short('ttpd:1')), false);
  assert.equal(matchesShortName('quay.io/e2e/httpd:1', short('httpd')), false);
  assert.equal(matchesShortName('quay.io/e2e/httpd:latest', short('httpd')), true);
});
