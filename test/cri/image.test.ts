// berthd's ImageService against a real docker-registry on 127.0.0.1, as the kubelet and
// critest use it: pull → list → status by tag, digest and ID → remove → status empty;
// two tags of one image; uid/username from the image config; the kubelet's AuthConfig;
// a missing image; bad requests; ImageFsInfo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { join } from 'node:path';
import { busyboxTarball, newInstance } from '../helpers/index.js';
import { htpasswd, insecureConf, makeLayout, skopeoManifest, skopeoPush, startRegistry, startTokenServer, tempDir } from '../registry/fixture.js';
import { berthOnly, PEER, peerDiffers, startBerthd, UNTYPED } from './berthd.js';
import { pushBusybox } from './containerd.js';
import { grpcError, Status } from './client.js';

test('pull, list, status by tag, digest and ID, remove, status empty', async (t) => {
  const reg = await startRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'single', `${reg.host}/cri/bb:one`);
  await skopeoPush(layout, 'single', `${reg.host}/cri/bb:two`);
  const { digest } = await skopeoManifest(`${reg.host}/cri/bb:one`);
  const inst = await newInstance(t);
  const d = await startBerthd(t, inst, { env: { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host), REGISTRY_AUTH_FILE: join(inst.base, 'none.json') } });
  const img = d.cri.image;
  const spec = (image: string) => ({ image: { image } });

  const pulled = await img('PullImage', spec(`${reg.host}/cri/bb:one`), { timeoutMs: 120_000 });
  assert.match(pulled.image_ref, /^sha256:[a-f0-9]{64}$/);
  const id = pulled.image_ref;

  const list = await img('ListImages', {});
  assert.equal(list.images.length, 1);
  const listed = list.images[0];
  assert.equal(listed.id, id, 'Image.id equals PullImageResponse.image_ref');
  assert.deepEqual(listed.repo_tags, [`${reg.host}/cri/bb:one`]);
  assert.deepEqual(listed.repo_digests, [`${reg.host}/cri/bb@${digest}`]);
  assert.ok(Number(listed.size) > 0);
  assert.equal(listed.uid, null, 'the image config names no user');
  assert.equal(listed.username, '');
  if (berthOnly('containerd 1.6 leaves Image.spec unset')) assert.equal(listed.spec.image, id);
  assert.equal(listed.pinned, false);

  // Every kind of reference finds it.
  for (const ref of [`${reg.host}/cri/bb:one`, `${reg.host}/cri/bb@${digest}`, id, id.slice('sha256:'.length)]) {
    const s = await img('ImageStatus', spec(ref));
    assert.equal(s.image?.id, id, ref);
    assert.deepEqual(s.info, {}, 'info only when verbose');
  }
  const verbose = await img('ImageStatus', { image: { image: id }, verbose: true });
  const info = JSON.parse(verbose.info.info);
  // imageSpec as containerd has it; the manifest digest and layers are berth's own additions.
  assert.deepEqual(info.imageSpec.config.Cmd, ['/bin/sh']);
  if (berthOnly("containerd's verbose info has imageSpec and chainID only")) {
    assert.equal(info.manifestDigest, digest);
    assert.equal(info.layers.length, 2);
  }

  // The filter: by spec, and nothing for an image not there.
  assert.deepEqual((await img('ListImages', { filter: { image: { image: `${reg.host}/cri/bb:one` } } })).images.map((i: any) => i.id), [id]);
  if (berthOnly('containerd 1.6 ignores the ListImages filter: it lists every image')) {
    assert.deepEqual((await img('ListImages', { filter: { image: { image: `${reg.host}/cri/bb:nope` } } })).images, []);
  }

  // A second tag of the same image: one image, two repo tags (critest's expectation).
  assert.equal((await img('PullImage', spec(`${reg.host}/cri/bb:two`), { timeoutMs: 120_000 })).image_ref, id);
  const both = await img('ListImages', {});
  assert.equal(both.images.length, 1);
  assert.deepEqual(both.images[0].repo_tags.sort(), [`${reg.host}/cri/bb:one`, `${reg.host}/cri/bb:two`]);

  // ImageFsInfo counts what the pull stored. containerd sums its snapshots every
  // stats_collect_period (the peer's: 1 s), berth when asked.
  let fs = await img('ImageFsInfo', {});
  for (let i = 0; PEER && i < 50 && fs.image_filesystems[0].used_bytes.value === '0'; i++) {
    await new Promise((r) => setTimeout(r, 200));
    fs = await img('ImageFsInfo', {});
  }
  assert.equal(fs.image_filesystems.length, 1);
  const usage = fs.image_filesystems[0];
  if (berthOnly("where berth's store keeps snapshots")) assert.equal(usage.fs_id.mountpoint, join(inst.root, 'snapshots'));
  assert.ok(Number(usage.used_bytes.value) > 500_000, `used ${usage.used_bytes.value}`);
  assert.ok(Number(usage.inodes_used.value) > 10, `inodes ${usage.inodes_used.value}`);
  const ms = Number(BigInt(usage.timestamp) / 1_000_000n);
  assert.ok(Math.abs(Date.now() - ms) < 60_000, 'timestamp in nanoseconds');
  assert.deepEqual(fs.container_filesystems, []);

  // Removing by one tag removes the image with all its tags; removing again succeeds.
  assert.deepEqual(await img('RemoveImage', spec(`${reg.host}/cri/bb:one`)), {});
  for (const ref of [`${reg.host}/cri/bb:one`, `${reg.host}/cri/bb:two`, id]) assert.equal((await img('ImageStatus', spec(ref))).image, null, ref);
  assert.deepEqual((await img('ListImages', {})).images, []);
  assert.deepEqual(await img('RemoveImage', spec(`${reg.host}/cri/bb:one`)), {});
  assert.deepEqual(await img('RemoveImage', spec(id)), {});
  const used = async () => Number((await img('ImageFsInfo', {})).image_filesystems[0].used_bytes.value);
  let left = await used();
  // The peer collects garbage and measures in the background.
  for (let i = 0; PEER && i < 50 && left >= Number(usage.used_bytes.value); i++) {
    await new Promise((r) => setTimeout(r, 200));
    left = await used();
  }
  assert.ok(left < Number(usage.used_bytes.value), 'space freed');

  // Pulled by digest only: found by that digest.
  const byDigest = await img('PullImage', spec(`${reg.host}/cri/bb@${digest}`), { timeoutMs: 120_000 });
  assert.equal(byDigest.image_ref, id);
  assert.equal((await img('ImageStatus', spec(`${reg.host}/cri/bb@${digest}`))).image?.id, id);

  // A missing image: NOT_FOUND, as containerd answers for a manifest 404 (its pull error
  // wraps errdefs.ErrNotFound; crictl shows "code = NotFound desc = failed to pull and unpack image").
  const missing = await grpcError(img('PullImage', spec(`${reg.host}/cri/nothing:1`), { timeoutMs: 60_000 }));
  assert.equal(missing.code, Status.NOT_FOUND);
  assert.match(missing.details, peerDiffers(/manifest unknown/, /not found/, "containerd words the registry's 404 its own way"));

  // Bad requests.
  const invalidArgument = peerDiffers(Status.INVALID_ARGUMENT, Status.UNKNOWN, UNTYPED);
  // containerd 1.6 takes '' for an ID prefix: with one image stored it finds (and removes) that one.
  const emptyRefused = berthOnly('containerd answers ImageStatus and RemoveImage of "" with its only image') ? ['PullImage', 'ImageStatus', 'RemoveImage'] : ['PullImage'];
  for (const method of emptyRefused) {
    const e = await grpcError(img(method, { image: { image: '' } }));
    assert.equal(e.code, invalidArgument, method);
    const none = await grpcError(img(method, {}));
    assert.equal(none.code, invalidArgument, `${method} without an image spec`);
  }
  const invalid = await grpcError(img('PullImage', spec('UPPER/Case:bad tag')));
  assert.equal(invalid.code, invalidArgument);
});

test('an image pulled through an index: repo digests name the index, ImageStatus finds it by that digest', async (t) => {
  const reg = await startRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'multi', `${reg.host}/cri/multi:1`, ['--all']);
  const { digest: indexDigest } = await skopeoManifest(`${reg.host}/cri/multi:1`);
  const inst = await newInstance(t);
  const d = await startBerthd(t, inst, { env: { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host), REGISTRY_AUTH_FILE: join(inst.base, 'none.json') } });
  const img = d.cri.image;
  const pulled = await img('PullImage', { image: { image: `${reg.host}/cri/multi:1` } }, { timeoutMs: 120_000 });
  const s = await img('ImageStatus', { image: { image: `${reg.host}/cri/multi@${indexDigest}` } });
  assert.equal(s.image?.id, pulled.image_ref);
  assert.deepEqual(s.image?.repo_digests, [`${reg.host}/cri/multi@${indexDigest}`]);
  await img('RemoveImage', { image: { image: pulled.image_ref } });
});

test('uid and username come from the image config user', async (t) => {
  const inst = await newInstance(t);
  const d = await startBerthd(t, inst);
  // berth imports them with the CLI; the peer pulls them from its registry.
  const ref = (name: string) => (d.peer ? `${d.peer.images.host}/user/${name}:latest` : `user/${name}`);
  for (const [name, user] of [['uid', '1002'], ['uid-group', '1003:users'], ['username', 'www-data'], ['username-group', 'www-data:100']]) {
    if (d.peer) {
      await pushBusybox(t, ref(name), { User: user });
      await d.cri.image('PullImage', { image: { image: ref(name) } }, { timeoutMs: 120_000 });
      continue;
    }
    const r = await inst.run(['import', '--change', `USER ${user}`, busyboxTarball(), `user/${name}`]);
    assert.equal(r.code, 0, r.stderr);
  }
  const status = async (name: string) => (await d.cri.image('ImageStatus', { image: { image: ref(name) } })).image;
  assert.deepEqual((await status('uid')).uid, { value: '1002' });
  assert.equal((await status('uid')).username, '');
  assert.deepEqual((await status('uid-group')).uid, { value: '1003' });
  assert.equal((await status('username')).uid, null);
  assert.equal((await status('username')).username, 'www-data');
  assert.equal((await status('username-group')).username, 'www-data');
  // Imported names live under localhost/, as with podman.
  if (berthOnly("berth's import")) assert.deepEqual((await status('uid')).repo_tags, ['localhost/user/uid:latest']);
});

test("PullImage with the kubelet's AuthConfig: username/password, auth, registry token, identity token", async (t) => {
  const dir = tempDir(t, 'cri-auth');
  const reg = await startRegistry(t, { htpasswd: htpasswd(dir, 'alice', 's3cret') });
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'single', `${reg.host}/team/bb:1`, ['--dest-creds', 'alice:s3cret']);
  const inst = await newInstance(t);
  const conf = insecureConf(t, reg.host);
  const d = await startBerthd(t, inst, { env: { CONTAINERS_REGISTRIES_CONF: conf, REGISTRY_AUTH_FILE: join(dir, 'none.json') } });
  const ref = { image: `${reg.host}/team/bb:1` };
  const pull = (auth?: object) => d.cri.image('PullImage', { image: ref, auth }, { timeoutMs: 120_000 });
  const remove = () => d.cri.image('RemoveImage', { image: ref });

  // containerd answers UNKNOWN here (its authorization errors carry no errdefs type); berth's
  // are typed PermissionDenied, which its one table maps to PERMISSION_DENIED.
  const denied401 = peerDiffers(Status.PERMISSION_DENIED, Status.UNKNOWN, 'containerd: untyped authorization errors');
  const anonymous = await grpcError(pull());
  assert.equal(anonymous.code, denied401);
  const wrong = await grpcError(pull({ username: 'alice', password: 'nope' }));
  assert.equal(wrong.code, denied401);
  assert.match(wrong.details, peerDiffers(/incorrect username or password/, /401 Unauthorized/, "containerd shows the status, not the registry's message"));

  assert.match((await pull({ username: 'alice', password: 's3cret' })).image_ref, /^sha256:/);
  await remove();
  assert.match((await pull({ auth: Buffer.from('alice:s3cret').toString('base64') })).image_ref, /^sha256:/);
  await remove();
  assert.equal((await grpcError(pull({ auth: 'bm8gY29sb24=' }))).code, peerDiffers(Status.INVALID_ARGUMENT, Status.UNKNOWN, UNTYPED), 'auth without a colon');

  // A registry token is sent as it is: one from a token server the registry trusts.
  const tokens = await startTokenServer(t, 'bob', 'hunter2', { refreshToken: 'bob-refresh' });
  const treg = await startRegistry(t, { token: tokens });
  await skopeoPush(layout, 'single', `${treg.host}/team/bb:1`, ['--dest-creds', 'bob:hunter2']);
  const td = await startBerthd(t, await newInstance(t), { env: { CONTAINERS_REGISTRIES_CONF: insecureConf(t, treg.host), REGISTRY_AUTH_FILE: join(dir, 'none.json') } });
  const token = await new Promise<string>((resolve, reject) => {
    const url = `${tokens.realm}?service=${tokens.service}&scope=repository:team/bb:pull`;
    http.get(url, { headers: { Authorization: 'Basic ' + Buffer.from('bob:hunter2').toString('base64') } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c)).on('end', () => resolve(JSON.parse(body).token));
    }).on('error', reject);
  });
  const tref = { image: `${treg.host}/team/bb:1` };
  const denied = await grpcError(td.cri.image('PullImage', { image: tref }, { timeoutMs: 60_000 }));
  assert.equal(denied.code, denied401, 'team/* needs a user');
  // containerd 1.6 ignores registry_token: it fetches an anonymous token, which may not pull team/*.
  if (berthOnly('containerd 1.6 does not use AuthConfig.registry_token')) {
    tokens.requests.length = 0;
    assert.match((await td.cri.image('PullImage', { image: tref, auth: { registry_token: token } }, { timeoutMs: 120_000 })).image_ref, /^sha256:/);
    assert.deepEqual(tokens.requests, [], 'the given token is used, none fetched');
  }

  // An identity token is exchanged at the token server (the OAuth2 refresh-token form).
  await td.cri.image('RemoveImage', { image: tref });
  const wrongRefresh = await grpcError(td.cri.image('PullImage', { image: tref, auth: { identity_token: 'stale' } }, { timeoutMs: 60_000 }));
  assert.equal(wrongRefresh.code, denied401);
  tokens.requests.length = 0;
  assert.match((await td.cri.image('PullImage', { image: tref, auth: { identity_token: 'bob-refresh' } }, { timeoutMs: 120_000 })).image_ref, /^sha256:/);
  assert.ok(tokens.requests.length > 0 && tokens.requests.every((r) => r.scope === 'repository:team/bb:pull' && r.user === 'bob'), JSON.stringify(tokens.requests));
  // containerd 1.6 exchanges it again for each fetch of the pull; berth once.
  if (berthOnly('containerd exchanges the identity token per fetch')) assert.deepEqual(tokens.requests, [{ scope: 'repository:team/bb:pull', user: 'bob' }]);
});
