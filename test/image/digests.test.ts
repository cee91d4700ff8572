// Digests as podman records them: a pull through an image index keeps the digest the registry
// served (the index's) beside the platform manifest's; `images --digests`, inspect's Digest
// and RepoDigests show them, and repository@<index digest> works for pull, run, inspect and
// rmi. --platform and --tls-verify on run/create/pull act on the pull.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newInstance } from '../helpers/index.js';
import { HOST_ARCH, insecureConf, makeLayout, OTHER_ARCH, registriesConf, skopeoManifest, skopeoPush, startRegistry, tempDir } from '../registry/fixture.js';

test('an index digest is recorded, shown and usable as a reference', async (t) => {
  const reg = await startRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'multi', `${reg.host}/d/bb:multi`, ['--all']);
  const index = await skopeoManifest(`${reg.host}/d/bb:multi`);
  const entries = JSON.parse(index.raw.toString()).manifests as { digest: string; platform: { architecture: string } }[];
  const hostManifest = entries.find((m) => m.platform.architecture === HOST_ARCH)!.digest;
  const otherManifest = entries.find((m) => m.platform.architecture === OTHER_ARCH)!.digest;
  const repo = `${reg.host}/d/bb`;
  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) };
  const berth = (args: string[]) => inst.run(args, { env, timeoutMs: 120_000 });
  const ok = async (args: string[]) => {
    const r = await berth(args);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  // By tag: podman's Digest is the index's; RepoDigests hold both, sorted.
  const id = (await ok(['pull', '-q', `${repo}:multi`])).trim();
  const [img] = JSON.parse(await ok(['image', 'inspect', `${repo}:multi`]));
  assert.equal(img.Digest, index.digest);
  assert.deepEqual(img.RepoDigests, [`${repo}@${index.digest}`, `${repo}@${hostManifest}`].sort());
  const listed = (await ok(['images', '--digests'])).split('\n');
  assert.match(listed[0], /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/);
  assert.match(listed[1], new RegExp(`^${repo.replace(/\./g, '\\.')}\\s+multi\\s+${index.digest}\\s+${id.slice(0, 12)}\\s`));
  assert.equal(await ok(['images', '--format', '{{.Digest}}']), `${index.digest}\n`);
  assert.equal(await ok(['images', '-q', '--filter', `digest=${index.digest}`]), `${id.slice(0, 12)}\n`);
  assert.equal(await ok(['images', '-q', '--filter', `digest=${hostManifest}`]), `${id.slice(0, 12)}\n`);
  for (const ref of [`${repo}@${index.digest}`, `${repo}@${hostManifest}`, `d/bb@${index.digest}`, `bb@${index.digest}`])
    assert.equal(await ok(['image', 'inspect', '-f', '{{.Id}}', ref]), `sha256:${id}\n`, ref);
  for (const ref of [`${repo}@${otherManifest}`, `other/bb@${index.digest}`]) {
    const r = await berth(['image', 'inspect', ref]);
    assert.equal(r.code, 125, ref);
    assert.match(r.stderr, /no such image/);
  }

  // By the index digest, in a store of its own: run pulls once, then finds it.
  const fresh = await newInstance(t);
  const run = (args: string[]) => fresh.run(args, { env, timeoutMs: 120_000 });
  const first = await run(['run', '--rm', `${repo}@${index.digest}`, '/bin/busybox', 'cat', '/etc/arch-marker']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, `${HOST_ARCH}\n`);
  assert.match(first.stderr, /Trying to pull/);
  const second = await run(['run', '--rm', `${repo}@${index.digest}`, '/bin/busybox', 'cat', '/etc/arch-marker']);
  assert.equal(second.stdout, `${HOST_ARCH}\n`, second.stderr);
  assert.equal(second.stderr, '', 'no second pull');
  const pulled = await run(['pull', '-q', `${repo}@${index.digest}`]);
  assert.equal(pulled.stdout, `${id}\n`, pulled.stderr);
  const [byDigest] = JSON.parse((await run(['image', 'inspect', `${repo}@${index.digest}`])).stdout);
  assert.equal(byDigest.Digest, index.digest);
  assert.deepEqual(byDigest.RepoTags, []);
  assert.deepEqual(byDigest.RepoDigests, [`${repo}@${index.digest}`, `${repo}@${hostManifest}`].sort());
  const digests = (await run(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}}'])).stdout;
  assert.equal(digests, `${repo} <none> ${index.digest} ${id.slice(0, 12)}\n`);
  // Pulled by digest it has no tag yet is not dangling: a prune keeps it (podman's rule).
  assert.equal((await run(['images', '-q', '--filter', 'dangling=true'])).stdout, '');
  assert.equal((await run(['image', 'prune', '-f'])).code, 0);
  assert.equal((await run(['images', '-q'])).stdout, `${id.slice(0, 12)}\n`);
  const rmi = await run(['rmi', `${repo}@${index.digest}`]);
  assert.equal(rmi.stdout, `Deleted: sha256:${id}\n`, rmi.stderr);
  assert.equal((await run(['images', '-q'])).stdout, '');
});

test('--platform and --tls-verify on run, create and pull', async (t) => {
  const reg = await startRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'multi', `${reg.host}/p/bb:multi`, ['--all']);
  const inst = await newInstance(t);
  const insecure = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) };
  // Nothing says the registry is insecure: https is required unless --tls-verify=false.
  const strict = { CONTAINERS_REGISTRIES_CONF: registriesConf(t, '') };
  const berth = (args: string[], env = insecure) => inst.run(args, { env, timeoutMs: 120_000 });
  const image = `${reg.host}/p/bb:multi`;
  const marker = ['/bin/busybox', 'cat', '/etc/arch-marker'];

  const refused = await berth(['run', '--rm', image, ...marker], strict);
  assert.equal(refused.code, 125);
  assert.match(refused.stderr, /berth: .*(https|TLS|SSL|tls)/i);
  assert.equal((await berth(['ps', '-aq'])).stdout, '');
  const plain = await berth(['run', '--rm', '--tls-verify=false', image, ...marker], strict);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, `${HOST_ARCH}\n`);

  // A local image of another platform is pulled again for --platform (podman's rule).
  const other = await berth(['run', '--rm', '--platform', `linux/${OTHER_ARCH}`, image, ...marker]);
  assert.equal(other.code, 0, other.stderr);
  assert.equal(other.stdout, `${OTHER_ARCH}\n`);
  assert.match(other.stderr, /Trying to pull/);
  const otherAgain = await berth(['run', '--rm', '--platform', `linux/${OTHER_ARCH}`, image, ...marker]);
  assert.equal(otherAgain.stdout, `${OTHER_ARCH}\n`);
  assert.equal(otherAgain.stderr, '');
  // podman's --arch/--os say the same.
  const byArch = await berth(['run', '--rm', '--arch', OTHER_ARCH, '--os', 'linux', image, ...marker]);
  assert.equal(byArch.stdout, `${OTHER_ARCH}\n`, byArch.stderr);
  assert.equal(byArch.stderr, '');
  const both = await berth(['pull', '--platform', `linux/${HOST_ARCH}`, '--arch', OTHER_ARCH, image]);
  assert.equal(both.code, 125);
  assert.equal(both.stderr, 'berth: --platform option can not be specified with --arch or --os\n');
  const created = await berth(['create', '--platform', `linux/${HOST_ARCH}`, '--tls-verify=false', image, ...marker], strict);
  assert.equal(created.code, 0, created.stderr);
  const cid = created.stdout.trim();
  assert.equal((await berth(['start', '-a', cid])).stdout, `${HOST_ARCH}\n`);
  assert.equal((await berth(['rm', '-f', cid])).code, 0);

  // A platform the index lacks, or a malformed one: a clear error, nothing created.
  const lacking = await berth(['run', '--rm', '--platform', 'linux/s390x', image, 'true']);
  assert.equal(lacking.code, 125);
  assert.match(lacking.stderr, /berth: .*no image for platform linux\/s390x \(the index has linux\/\w+, linux\/\w+\)\n$/);
  const bad = await berth(['create', '--platform', 'linux', image, 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /berth: invalid platform "linux": expected OS\/ARCH\[\/VARIANT\]/);
  assert.equal((await berth(['ps', '-aq'])).stdout, '');
  const pulled = await berth(['pull', '-q', '--tls-verify=false', '--platform', `linux/${HOST_ARCH}`, image], strict);
  assert.equal(pulled.code, 0, pulled.stderr);
});
