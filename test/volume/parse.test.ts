// -v and --mount as docker and podman users write them: every option, and the one-line
// refusals of bad ones (no container needed: parsing happens before anything is made).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMount, parseVolume } from '../../src/cli/mounts.js';

const invalid = (message: RegExp) => ({ code: 'InvalidArgument', message });

test('-v: binds with ro/rw, z/Z, propagation, nosuid/nodev/noexec and ignored consistency hints', () => {
  assert.deepEqual(parseVolume('/data:/srv'), { type: 'bind', source: '/data', destination: '/srv' });
  assert.deepEqual(parseVolume('/data:/srv:ro'), { type: 'bind', source: '/data', destination: '/srv', readOnly: true });
  assert.deepEqual(parseVolume('/data:/srv:rw'), { type: 'bind', source: '/data', destination: '/srv', readOnly: false });
  assert.deepEqual(parseVolume('/data:/srv:Z'), { type: 'bind', source: '/data', destination: '/srv', relabel: 'Z' });
  assert.deepEqual(parseVolume('/data/:/srv:z,ro,rshared,nosuid,nodev,noexec,cached'), {
    type: 'bind', source: '/data', destination: '/srv', relabel: 'z', readOnly: true, propagation: 'rshared', flags: ['nosuid', 'nodev', 'noexec'],
  });
  assert.deepEqual(parseVolume('/d:/s:delegated,consistent,exec,suid,dev,slave'), { type: 'bind', source: '/d', destination: '/s', flags: ['exec', 'suid', 'dev'], propagation: 'slave' });
  assert.equal((parseVolume('./x:/s') as { source: string }).source, `${process.cwd()}/x`);
  assert.throws(() => parseVolume('/a:/b:ro:x'), invalid(/expected \[SOURCE:\]CONTAINER-DIR\[:OPTIONS\]/));
  assert.throws(() => parseVolume('/data:srv'), invalid(/the container path must be absolute/));
  assert.throws(() => parseVolume('/data:/srv:bogus'), invalid(/^invalid volume specification "\/data:\/srv:bogus": unknown option "bogus"$/));
  assert.throws(() => parseVolume('/data:/srv:ro,U'), invalid(/unknown option "U"/));
  assert.throws(() => parseVolume('/data:/srv:ro,rw'), invalid(/: conflicting options "ro" and "rw"$/));
  assert.throws(() => parseVolume('/data:/srv:shared,slave'), invalid(/: conflicting options "shared" and "slave"$/));
  assert.throws(() => parseVolume('/data:/srv:nocopy'), invalid(/"nocopy" is for volumes/));
});

test('-v: named and anonymous volumes', () => {
  assert.deepEqual(parseVolume('cache:/srv'), { type: 'volume', name: 'cache', destination: '/srv' });
  assert.deepEqual(parseVolume('cache:/srv:ro,nocopy,Z'), { type: 'volume', name: 'cache', destination: '/srv', readOnly: true, relabel: 'Z', noCopy: true });
  assert.deepEqual(parseVolume('/srv'), { type: 'volume', name: '', destination: '/srv', anonymous: true });
  assert.throws(() => parseVolume('bad name:/srv'), invalid(/invalid volume name "bad name"/));
  assert.throws(() => parseVolume('srv'), invalid(/the container path must be absolute/));
});

test('--mount: docker\'s keys for bind, volume and tmpfs; unknown keys refused', () => {
  assert.deepEqual(parseMount('type=bind,source=/a,target=/b,readonly,bind-propagation=rslave'), {
    type: 'bind', source: '/a', destination: '/b', readOnly: true, propagation: 'rslave',
  });
  assert.deepEqual(parseMount('type=bind,src=/a,dst=/b,ro=false'), { type: 'bind', source: '/a', destination: '/b', readOnly: undefined });
  assert.deepEqual(parseMount('type=volume,source=v1,destination=/b,volume-nocopy'), { type: 'volume', name: 'v1', destination: '/b', readOnly: undefined, noCopy: true });
  assert.deepEqual(parseMount('target=/b'), { type: 'volume', name: '', destination: '/b', readOnly: undefined, anonymous: true });
  assert.deepEqual(parseMount('type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770'), { type: 'tmpfs', destination: '/t', options: ['size=1048576', 'mode=1770'] });
  assert.throws(() => parseMount('type=bind,source=/a,target=/b,bogus=1'), invalid(/unknown option "bogus" for type=bind/));
  assert.throws(() => parseMount('type=volume,source=v,target=/b,bind-propagation=shared'), invalid(/unknown option "bind-propagation" for type=volume/));
  assert.throws(() => parseMount('type=nfs,target=/b'), invalid(/unknown type "nfs"/));
  assert.throws(() => parseMount('type=bind,source=/a'), invalid(/target= is required/));
  assert.throws(() => parseMount('type=bind,target=/b'), invalid(/needs source=/));
  assert.throws(() => parseMount('type=bind,source=/a,target=/b,bind-propagation=up'), invalid(/invalid bind-propagation "up"/));
  assert.throws(() => parseMount('type=tmpfs,source=x,target=/b'), invalid(/takes no source/));
  assert.throws(() => parseMount('type=tmpfs,target=/b,tmpfs-mode=rwx'), invalid(/invalid tmpfs-mode/));
  assert.throws(() => parseMount('type=bind,source=/a,target=/b,readonly=maybe'), invalid(/invalid value "maybe" for readonly/));
  assert.deepEqual(parseMount('type=volume,src=v,dst=/v,volume-opt=type=tmpfs,volume-opt=o=size=1m'), { type: 'volume', name: 'v', destination: '/v', readOnly: undefined, options: { type: 'tmpfs', o: 'size=1m' } });
  assert.throws(() => parseMount('type=volume,src=v,dst=/v,volume-opt'), invalid(/volume-opt takes KEY=VALUE/));
});
