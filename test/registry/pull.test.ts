// berth pull against a real docker-registry filled by skopeo: single and multi-platform
// images, zstd layers, concurrent pulls, then a container run from the pulled image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance } from '../helpers/index.js';
import { HOST_ARCH, insecureConf, makeCerts, makeLayout, OTHER_ARCH, registriesConf, skopeoManifest, skopeoPush, startRegistry, tempDir } from './fixture.js';

test('pull single and multi-platform images pushed by skopeo, then run one', async (t) => {
  const reg = await startRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  // zstd first, to its own repository: skopeo would otherwise reuse the gzip blobs.
  await skopeoPush(layout, 'single', `${reg.host}/test/bbz:zstd`, ['--dest-compress-format', 'zstd', '--dest-compress']);
  await skopeoPush(layout, 'single', `${reg.host}/test/bb:single`);
  await skopeoPush(layout, 'multi', `${reg.host}/test/bb:multi`, ['--all']);
  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) };
  const berth = (args: string[]) => inst.run(args, { env, timeoutMs: 120_000 });

  // Plain progress lines when stderr is not a terminal; the image ID on stdout.
  const r = await berth(['pull', `${reg.host}/test/bb:single`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^[a-f0-9]{64}\n$/);
  assert.match(r.stderr, new RegExp(`^Trying to pull ${reg.host.replace(/\./g, '\\.')}/test/bb:single\\.\\.\\.\n`));
  assert.match(r.stderr, /Copying blob [a-f0-9]{12} done\n/);
  assert.match(r.stderr, /Writing manifest to image destination\n$/);
  const [inspected] = JSON.parse((await berth(['image', 'inspect', `${reg.host}/test/bb:single`])).stdout);
  assert.equal(inspected.Id, `sha256:${r.stdout.trim()}`);
  assert.equal(inspected.Digest, (await skopeoManifest(`${reg.host}/test/bb:single`)).digest);
  assert.equal(inspected.Architecture, HOST_ARCH);

  // Pulling again downloads nothing; -q prints only the ID.
  const again = await berth(['pull', '-q', `${reg.host}/test/bb:single`]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, r.stdout);
  assert.equal(again.stderr, '');

  // Multi-platform: the host's by default, another with --platform.
  const hostId = (await berth(['pull', '-q', `${reg.host}/test/bb:multi`])).stdout.trim();
  assert.equal(hostId, r.stdout.trim(), 'the index entry for this machine is the single image');
  const other = await berth(['pull', '-q', '--platform', `linux/${OTHER_ARCH}`, `${reg.host}/test/bb:multi`]);
  assert.equal(other.code, 0, other.stderr);
  const [otherImage] = JSON.parse((await berth(['image', 'inspect', other.stdout.trim()])).stdout);
  assert.equal(otherImage.Architecture, OTHER_ARCH);
  const missing = await berth(['pull', '--platform', 'linux/s390x', `${reg.host}/test/bb:multi`]);
  assert.equal(missing.code, 125);
  assert.match(missing.stderr, /\nberth: .*no image for platform linux\/s390x \(the index has linux\/\w+, linux\/\w+\)\n$/);

  // A container from the pulled image sees both layers.
  const run = await berth(['run', '--rm', `${reg.host}/test/bb:single`, '/bin/busybox', 'cat', '/etc/arch-marker']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${HOST_ARCH}\n`);

  // zstd layers (in a store of their own: the same diff IDs make the same image ID, and a
  // store keeps the first manifest it got for an image).
  const zinst = await newInstance(t);
  const z = await zinst.run(['pull', '-q', `${reg.host}/test/bbz:zstd`], { env, timeoutMs: 120_000 });
  assert.equal(z.code, 0, z.stderr);
  assert.equal(z.stdout, r.stdout);
  const [zImage] = JSON.parse((await zinst.run(['image', 'inspect', `${reg.host}/test/bbz:zstd`])).stdout);
  assert.equal(zImage.Layers.length, 2);
  assert.ok(zImage.Layers.every((l: { MediaType: string }) => l.MediaType.endsWith('+zstd')), JSON.stringify(zImage.Layers));
  const zrun = await zinst.run(['run', '--rm', `${reg.host}/test/bbz:zstd`, '/bin/busybox', 'cat', '/etc/arch-marker'], { env });
  assert.equal(zrun.stdout, `${HOST_ARCH}\n`, zrun.stderr);

  const ingest = join(inst.root, 'content', 'ingest');
  assert.deepEqual(readdirSync(ingest), [], 'no temp files left');
});

test('two concurrent pulls of one image both succeed; mirrors and search registries', async (t) => {
  const reg = await startRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'single', `${reg.host}/library/bb:1`);
  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) };
  const [a, b] = await Promise.all([0, 1].map(() => inst.run(['pull', '-q', `${reg.host}/library/bb:1`], { env, timeoutMs: 120_000 })));
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(a.stdout, b.stdout);
  const images = JSON.parse((await inst.run(['images', '--format', 'json'])).stdout);
  assert.equal(images.length, 1);

  // docker.io served by the local registry as a mirror: no internet needed.
  const mirrorEnv = {
    CONTAINERS_REGISTRIES_CONF: registriesConf(
      t,
      `unqualified-search-registries = ["docker.io"]\n[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "${reg.host}"\ninsecure = true\n`,
    ),
  };
  const m = await inst.run(['pull', 'bb:1'], { env: mirrorEnv, timeoutMs: 120_000 });
  assert.equal(m.code, 0, m.stderr);
  assert.match(m.stderr, /^Trying to pull docker\.io\/library\/bb:1\.\.\.\n/);
  const [img] = JSON.parse((await inst.run(['image', 'inspect', 'docker.io/library/bb:1'])).stdout);
  assert.equal(img.Id, `sha256:${a.stdout.trim()}`);

  // A blocked registry is refused before any traffic.
  const blocked = await inst.run(['pull', `${reg.host}/library/bb:1`], { env: { CONTAINERS_REGISTRIES_CONF: registriesConf(t, `[[registry]]\nlocation = "${reg.host}"\nblocked = true\n`) } });
  assert.equal(blocked.code, 125);
  assert.match(blocked.stderr, /^berth: registry 127\.0\.0\.1:\d+ is blocked in registries\.conf\n$/);

  // Without insecure, plain HTTP is not used.
  const secure = await inst.run(['pull', `${reg.host}/library/bb:1`], { env: { CONTAINERS_REGISTRIES_CONF: registriesConf(t, '') }, timeoutMs: 60_000 });
  assert.equal(secure.code, 125);
  assert.match(secure.stderr, /\nberth: registry 127\.0\.0\.1:\d+: TLS: the registry does not speak HTTPS \(mark a plain-HTTP registry insecure in registries\.conf\)\n$/);
});

test('TLS: a registry with a test CA is trusted through certs.d, refused without it', async (t) => {
  const dir = tempDir(t, 'tls');
  const certs = makeCerts(dir);
  const reg = await startRegistry(t, { tls: certs });
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'single', `${reg.host}/tls/bb:1`);
  const certsDir = join(dir, 'certs.d');
  mkdirSync(join(certsDir, reg.host), { recursive: true });
  copyFileSync(certs.ca, join(certsDir, reg.host, 'ca.crt'));
  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: registriesConf(t, '') };

  const untrusted = await inst.run(['pull', '-q', `${reg.host}/tls/bb:1`], { env, timeoutMs: 60_000 });
  assert.equal(untrusted.code, 125);
  assert.match(untrusted.stderr, /^berth: registry 127\.0\.0\.1:\d+: TLS: .*certificate.*\(trust its CA in certs\.d, or mark it insecure in registries\.conf\)\n$/);
  const trusted = await inst.run(['pull', '-q', '--cert-dir', certsDir, `${reg.host}/tls/bb:1`], { env, timeoutMs: 120_000 });
  assert.equal(trusted.code, 0, trusted.stderr);
  const unverified = await inst.run(['pull', '-q', '--tls-verify=false', `${reg.host}/tls/bb:1`], { env, timeoutMs: 120_000 });
  assert.equal(unverified.code, 0, unverified.stderr);
  assert.equal(unverified.stdout, trusted.stdout);
});
