// The one platform selector pull and load share: normalization, implied variants, the
// order of compatible variants, and the cases where the former os/arch-only choice of load
// and the variant-aware one of pull gave different manifests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPlatform, normalizePlatform, parsePlatform, selectPlatform } from '../../src/image/platform.js';
import type { OciDescriptor, Platform } from '../../src/image/index.js';

const entry = (platform: string | undefined): OciDescriptor => {
  const [os, architecture, variant] = (platform ?? '').split('/');
  const digest = `sha256:${Buffer.from(platform ?? 'none').toString('hex').padEnd(64, '0').slice(0, 64)}`;
  const desc: OciDescriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1 };
  if (platform) desc.platform = { os: os!, architecture: architecture!, ...(variant ? { variant } : {}) };
  return desc;
};
const pick = (entries: (string | undefined)[], want: string) => {
  const got = selectPlatform(entries.map(entry), parsePlatform(want));
  return got?.platform ? formatPlatform(got.platform) : got ? '(no platform)' : undefined;
};

test('normalization: aliases and implied variants', () => {
  const n = (p: Platform) => formatPlatform(normalizePlatform(p));
  assert.equal(n({ os: 'Linux', architecture: 'x86_64' }), 'linux/amd64');
  assert.equal(n({ os: 'linux', architecture: 'amd64', variant: 'v1' }), 'linux/amd64');
  assert.equal(n({ os: 'linux', architecture: 'aarch64' }), 'linux/arm64/v8');
  assert.equal(n({ os: 'linux', architecture: 'arm64', variant: '8' }), 'linux/arm64/v8');
  assert.equal(n({ os: 'linux', architecture: 'arm' }), 'linux/arm/v7');
  assert.equal(n({ os: 'linux', architecture: 'arm', variant: '6' }), 'linux/arm/v6');
  assert.equal(n({ os: 'linux', architecture: 'armhf' }), 'linux/arm/v7');
  assert.equal(n({ os: 'linux', architecture: 'armel' }), 'linux/arm/v6');
  assert.equal(n({ os: 'linux', architecture: 'i386' }), 'linux/386');
  assert.equal(n({ os: 'linux', architecture: 's390x' }), 'linux/s390x');
});

test('parsePlatform: OS/ARCH[/VARIANT], default this machine', () => {
  assert.deepEqual(parsePlatform('linux/arm/v6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  assert.equal(parsePlatform(undefined).os, 'linux');
  assert.ok(parsePlatform(undefined).architecture);
  for (const bad of ['linux', 'linux/', '/amd64', 'a/b/c/d'])
    assert.throws(() => parsePlatform(bad), { code: 'InvalidArgument', message: /expected OS\/ARCH\[\/VARIANT\]/ }, bad);
});

test('arm: the implied variant decides (load took the first arm entry, pull the first too when asked for plain arm)', () => {
  // Plain "arm" means arm/v7: a variant-less entry counts as v7, an arm/v6 listed first does not win.
  assert.equal(pick(['linux/arm/v6', 'linux/arm/v7'], 'linux/arm'), 'linux/arm/v7');
  assert.equal(pick(['linux/arm/v6', 'linux/arm'], 'linux/arm'), 'linux/arm');
  // Older variants of the architecture run, newer ones do not.
  assert.equal(pick(['linux/arm/v5', 'linux/arm/v6'], 'linux/arm/v7'), 'linux/arm/v6');
  assert.equal(pick(['linux/arm/v7'], 'linux/arm/v6'), undefined);
  // Asked for without a variant, any variant of the architecture is the last resort.
  assert.equal(pick(['linux/arm/v8'], 'linux/arm'), 'linux/arm/v8');
});

test('arm64: "arm64" and "arm64/v8" are one platform', () => {
  assert.equal(pick(['linux/amd64', 'linux/arm64/v8'], 'linux/arm64'), 'linux/arm64/v8');
  assert.equal(pick(['linux/amd64', 'linux/arm64'], 'linux/arm64/v8'), 'linux/arm64');
  assert.equal(pick(['linux/arm64/v9', 'linux/arm64'], 'linux/arm64'), 'linux/arm64');
  assert.equal(pick(['linux/arm64/v9'], 'linux/arm64/v8'), undefined);
  // Another architecture is never taken, nor another OS.
  assert.equal(pick(['linux/arm/v7'], 'linux/arm64'), undefined);
  assert.equal(pick(['windows/amd64', 'linux/amd64'], 'linux/amd64'), 'linux/amd64');
  assert.equal(pick(['windows/amd64'], 'linux/amd64'), undefined);
});

test('amd64 variants and entries without a platform', () => {
  assert.equal(pick(['linux/amd64/v3', 'linux/amd64'], 'linux/amd64'), 'linux/amd64');
  assert.equal(pick(['linux/amd64/v3', 'linux/amd64/v2'], 'linux/amd64/v3'), 'linux/amd64/v3');
  assert.equal(pick(['linux/amd64'], 'linux/amd64/v2'), 'linux/amd64');
  assert.equal(pick(['linux/amd64/v2'], 'linux/amd64/v1'), undefined);
  assert.equal(pick([undefined, 'linux/amd64'], 'linux/amd64'), 'linux/amd64');
  assert.equal(pick([undefined], 'linux/amd64'), undefined);
  assert.equal(selectPlatform(undefined, parsePlatform('linux/amd64')), undefined);
});
