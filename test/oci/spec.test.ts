// buildSpec and its helpers, checked on the produced spec (no runtime involved).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '../../src/errors/index.js';
import { buildSpec, DEFAULT_CAPABILITIES, DEFAULT_PATH, hostCapabilities, mergeEnv, parseSignal, processArgs, processEnv, resolveUser } from '../../src/oci/index.js';
import type { SpecInput } from '../../src/oci/index.js';
import { makeRootfs } from './fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-oci-spec-'));
const rootfs = makeRootfs(dir);
test.after(() => rmSync(dir, { recursive: true, force: true }));

const build = (o: Partial<SpecInput> = {}) =>
  buildSpec({ id: 'c0ffee0123456789', rootfs, image: { Cmd: ['sh'] }, ...o });

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isBerthError(e), `expected BerthError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

test('process args: the spec builder applies ENTRYPOINT/CMD through processArgs', async () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['a', 'b'] };
  assert.deepEqual((await build({ image })).process.args, ['/entry', 'a', 'b']);
  assert.deepEqual((await build({ image, command: ['x'] })).process.args, ['/entry', 'x']);
  assert.deepEqual((await build({ image, entrypoint: ['/other'] })).process.args, ['/other']);
  await rejectsWith(build({ image, entrypoint: [''] }), 'InvalidArgument', /^no command specified$/);
  await rejectsWith(build({ image: {} }), 'InvalidArgument', /^no command specified$/);
});

test('processArgs: docker rules (the cases where the builder and the manager used to differ)', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['a', 'b'] };
  assert.deepEqual(processArgs(image, {}), ['/entry', 'a', 'b']);
  assert.deepEqual(processArgs(image, { command: ['x'] }), ['/entry', 'x']);
  assert.deepEqual(processArgs(image, { command: [] }), ['/entry', 'a', 'b'], 'an empty command keeps CMD');
  // Any given entrypoint drops the image CMD (docker, and Kubernetes' command).
  assert.deepEqual(processArgs(image, { entrypoint: ['/other'] }), ['/other']);
  // `--entrypoint ''` arrives as [] from the CLI and as [''] from docker's API: both clear
  // ENTRYPOINT and CMD (the builder used to keep CMD for []).
  assert.deepEqual(processArgs(image, { entrypoint: [] }), []);
  assert.deepEqual(processArgs(image, { entrypoint: [''] }), []);
  assert.deepEqual(processArgs(image, { entrypoint: [''], command: ['ls'] }), ['ls']);
  assert.deepEqual(processArgs(image, { entrypoint: [], command: ['ls', '-l'] }), ['ls', '-l']);
  assert.deepEqual(processArgs({ Entrypoint: null, Cmd: null }, {}), []);
});

test('mergeEnv: later wins by name, KEY=VALUE checked for every layer (exec used to pass anything)', () => {
  assert.deepEqual(mergeEnv({ env: ['A=1', 'B=2'], from: 'base' }, { env: ['B=3', 'C=x=y'], from: 'extra' }), ['A=1', 'B=3', 'C=x=y']);
  assert.deepEqual(mergeEnv({ env: ['A='], from: 'base' }), ['A=']);
  assert.throws(() => mergeEnv({ env: ['A=1'], from: 'base' }, { env: ['NOVALUE'], from: 'exec environment' }),
    (e: unknown) => isBerthError(e, 'InvalidArgument') && /exec environment variable "NOVALUE" is not KEY=VALUE/.test((e as Error).message));
  assert.throws(() => mergeEnv({ env: ['=x'], from: 'environment' }), /is not KEY=VALUE/);
  // No hostname (a joined UTS namespace): no HOSTNAME default.
  assert.deepEqual(processEnv([], [], { tty: false, home: '/root' }), [`PATH=${DEFAULT_PATH}`, 'HOME=/root']);
});

test('environment: defaults, image env, user env, HOME from passwd', async () => {
  const spec = await build({
    image: { Cmd: ['sh'], Env: ['PATH=/opt/bin', 'A=image', 'B=image'] },
    env: ['B=user', 'C=x=y'],
    user: 'alice',
    tty: true,
    hostname: 'box',
  });
  const env = Object.fromEntries(spec.process.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  assert.deepEqual(env, { PATH: '/opt/bin', HOSTNAME: 'box', TERM: 'xterm', A: 'image', B: 'user', C: 'x=y', HOME: '/home/alice' });
  const plain = await build({ hostname: 'c0ffee012345' });
  assert.ok(plain.process.env.includes('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'));
  assert.ok(plain.process.env.includes('HOME=/root'));
  assert.ok(plain.process.env.includes('HOSTNAME=c0ffee012345'));
  // The builder has no default hostname (the container manager decides it).
  const unnamed = await build();
  assert.equal(unnamed.hostname, undefined);
  assert.ok(!unnamed.process.env.some((e) => e.startsWith('HOSTNAME=')));
  assert.ok(!plain.process.env.some((e) => e.startsWith('TERM=')));
  assert.ok((await build({ env: ['HOME=/h'] })).process.env.includes('HOME=/h'));
  await rejectsWith(build({ env: ['NOVALUE'] }), 'InvalidArgument', /"NOVALUE" is not KEY=VALUE/);
});

test('workdir, hostname, readonly root, annotations', async () => {
  const spec = await build({ image: { Cmd: ['sh'], WorkingDir: '/srv', StopSignal: 'SIGQUIT' }, readOnlyRootfs: true, annotations: { a: 'b' }, hostname: 'c0ffee012345' });
  assert.equal(spec.process.cwd, '/srv');
  assert.equal((await build({ workdir: '/tmp/' })).process.cwd, '/tmp');
  assert.equal(spec.root.readonly, true);
  assert.equal(spec.root.path, rootfs);
  assert.equal(spec.hostname, 'c0ffee012345');
  assert.deepEqual(spec.annotations, { a: 'b', 'org.opencontainers.image.stopSignal': 'SIGQUIT' });
  await rejectsWith(build({ workdir: 'rel' }), 'InvalidArgument', /working directory must be an absolute path/);
  await rejectsWith(build({ hostname: 'bad host' }), 'InvalidArgument', /invalid hostname/);
});

test('resolveUser: names, ids, groups, supplementary groups', async () => {
  assert.deepEqual(await resolveUser(rootfs, undefined), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
  assert.deepEqual(await resolveUser(rootfs, 'alice'), { uid: 1000, gid: 1000, additionalGids: [10, 50], home: '/home/alice' });
  assert.deepEqual(await resolveUser(rootfs, '1000'), { uid: 1000, gid: 1000, additionalGids: [10, 50], home: '/home/alice' });
  assert.deepEqual(await resolveUser(rootfs, 'alice:staff'), { uid: 1000, gid: 50, additionalGids: [], home: '/home/alice' });
  assert.deepEqual(await resolveUser(rootfs, 'bob:7'), { uid: 1001, gid: 7, additionalGids: [], home: '/home/bob' });
  assert.deepEqual(await resolveUser(rootfs, '4242:4343'), { uid: 4242, gid: 4343, additionalGids: [], home: '/' });
  assert.deepEqual(await resolveUser(rootfs, '4242'), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
  assert.deepEqual(await resolveUser(rootfs, '4242:wheel'), { uid: 4242, gid: 10, additionalGids: [], home: '/' });
  await rejectsWith(resolveUser(rootfs, 'foo'), 'InvalidArgument', /^unable to find user foo: no matching entries in passwd file$/);
  await rejectsWith(resolveUser(rootfs, 'alice:nogrp'), 'InvalidArgument', /^unable to find group nogrp: no matching entries in group file$/);
  await rejectsWith(resolveUser(rootfs, 'alice:'), 'InvalidArgument', /empty group/);
  // The user flows into the spec.
  const spec = await build({ user: 'alice' });
  assert.deepEqual(spec.process.user, { uid: 1000, gid: 1000, additionalGids: [10, 50] });
});

test('resolveUser reads files inside the rootfs, following links within it', async (t) => {
  const root = join(dir, 'linked');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'usr/lib'), { recursive: true });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'usr/lib/passwd'), 'carol:x:3000:3000::/home/carol:/bin/sh\n');
  // An absolute link means /usr/lib/passwd of the container, not of the host.
  symlinkSync('/usr/lib/passwd', join(root, 'etc/passwd'));
  // A link climbing out with .. stops at the rootfs.
  symlinkSync('../../../../../../etc/shadow-nope', join(root, 'etc/group'));
  assert.deepEqual(await resolveUser(root, 'carol'), { uid: 3000, gid: 3000, additionalGids: [], home: '/home/carol' });
  await rejectsWith(resolveUser(root, 'root'), 'InvalidArgument', /unable to find user root/);
  // No passwd file at all: numeric ids work, names do not.
  const scratch = join(dir, 'scratch');
  mkdirSync(scratch);
  assert.deepEqual(await resolveUser(scratch, '0'), { uid: 0, gid: 0, additionalGids: [], home: '/' });
  await rejectsWith(resolveUser(scratch, 'nobody'), 'InvalidArgument', /unable to find user nobody/);
});

test('default capabilities, add and drop', async () => {
  const caps = (await build()).process.capabilities;
  assert.deepEqual([...caps.bounding].sort(), [...DEFAULT_CAPABILITIES].sort());
  assert.deepEqual(caps.effective, caps.bounding);
  assert.deepEqual(caps.permitted, caps.bounding);
  assert.deepEqual(caps.inheritable, []);
  assert.equal(caps.ambient, undefined);

  const added = (await build({ capAdd: ['NET_ADMIN', 'cap_sys_ptrace'], capDrop: ['MKNOD', 'CAP_NET_RAW'] })).process.capabilities;
  assert.ok(added.bounding.includes('CAP_NET_ADMIN'));
  assert.ok(added.bounding.includes('CAP_SYS_PTRACE'));
  assert.ok(!added.bounding.includes('CAP_MKNOD'));
  assert.ok(!added.bounding.includes('CAP_NET_RAW'));

  const only = (await build({ capDrop: ['ALL'], capAdd: ['CHOWN'] })).process.capabilities;
  assert.deepEqual(only.bounding, ['CAP_CHOWN']);
  const all = (await build({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] })).process.capabilities;
  assert.deepEqual(all.bounding, hostCapabilities().filter((c) => c !== 'CAP_SYS_ADMIN'));

  await rejectsWith(build({ capAdd: ['NET_FOO'] }), 'InvalidArgument', /unknown capability: "NET_FOO"/);
  const missing = ['CAP_SYS_RESOURCE', 'CAP_SYS_ADMIN'].find((c) => !hostCapabilities().includes(c));
  if (missing) await rejectsWith(build({ capAdd: [missing] }), 'InvalidArgument', /is not available on this host/);
});

test('secure defaults: masked and read-only paths, seccomp, mounts, namespaces, devices, cgroups', async () => {
  const spec = await build();
  assert.ok(spec.linux.maskedPaths!.includes('/proc/kcore'));
  assert.ok(spec.linux.maskedPaths!.includes('/sys/firmware'));
  assert.deepEqual(spec.linux.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  assert.equal(spec.linux.seccomp!.defaultAction, 'SCMP_ACT_ALLOW');
  const denied = spec.linux.seccomp!.syscalls.filter((s) => !s.args).flatMap((s) => s.names);
  for (const name of ['mount', 'unshare', 'setns', 'kexec_load', 'init_module', 'keyctl', 'bpf', 'pivot_root']) {
    assert.ok(denied.includes(name), `${name} is denied`);
  }
  assert.deepEqual(spec.mounts.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']);
  assert.ok(spec.mounts.find((m) => m.destination === '/sys')!.options.includes('ro'));
  assert.ok(spec.mounts.find((m) => m.destination === '/dev/shm')!.options.includes('size=67108864'));
  const ns = spec.linux.namespaces.map((n) => n.type);
  for (const t of ['pid', 'ipc', 'uts', 'mount', 'network']) assert.ok(ns.includes(t), t);
  assert.equal(spec.linux.cgroupsPath, '/berth/c0ffee0123456789');
  assert.deepEqual(spec.linux.resources.devices[0], { allow: false, access: 'rwm' });
  assert.deepEqual(spec.linux.devices, []);
  assert.equal(spec.process.rlimits, undefined, 'no rlimits unless asked');
  assert.equal(spec.process.oomScoreAdj, undefined);
  assert.equal(spec.process.noNewPrivileges, false);

  // A capability lifts its seccomp restriction.
  const admin = await build({ capAdd: ['SYS_ADMIN'] });
  const adminDenied = admin.linux.seccomp!.syscalls.flatMap((s) => s.names);
  assert.ok(!adminDenied.includes('mount') && !adminDenied.includes('clone'));
  assert.equal((await build({ seccomp: false })).linux.seccomp, undefined);
});

test('privileged: host capabilities, no confinement, host devices', async () => {
  const spec = await build({ privileged: true });
  assert.deepEqual(spec.process.capabilities.bounding, hostCapabilities());
  assert.equal(spec.linux.seccomp, undefined);
  assert.equal(spec.linux.maskedPaths, undefined);
  assert.equal(spec.linux.readonlyPaths, undefined);
  assert.ok(spec.mounts.find((m) => m.destination === '/sys')!.options.includes('rw'));
  assert.deepEqual(spec.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  const nullDev = spec.linux.devices.find((d) => d.path === '/dev/null');
  assert.deepEqual({ ...nullDev, fileMode: undefined, uid: undefined, gid: undefined }, { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: undefined, uid: undefined, gid: undefined });
});

test('resources, ulimits, sysctls', async () => {
  const spec = await build({ resources: { memory: 64 * 1024 * 1024, cpuQuota: 150_000, cpuPeriod: 100_000, pids: 20 }, ulimits: [{ type: 'nofile', soft: 100, hard: 200 }] });
  assert.deepEqual(spec.linux.resources.memory, { limit: 67108864 });
  assert.deepEqual(spec.linux.resources.cpu, { quota: 150000, period: 100000 });
  assert.deepEqual(spec.linux.resources.pids, { limit: 20 });
  assert.deepEqual(spec.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }]);
  assert.equal((await build({ resources: { pids: -1 } })).linux.resources.pids, undefined);
  const cri = await build({
    resources: { cpuShares: 512, cpusetCpus: '0', cpusetMems: '0', memorySwap: -1, hugepages: [{ pageSize: '2MB', limit: 0 }], unified: { 'memory.high': '1G' } },
    oomScoreAdj: 500,
  });
  assert.deepEqual(cri.linux.resources.cpu, { shares: 512, cpus: '0', mems: '0' });
  assert.deepEqual(cri.linux.resources.memory, { swap: -1 });
  assert.deepEqual(cri.linux.resources.hugepageLimits, [{ pageSize: '2MB', limit: 0 }]);
  assert.deepEqual(cri.linux.resources.unified, { 'memory.high': '1G' });
  assert.equal(cri.process.oomScoreAdj, 500);
  await rejectsWith(build({ oomScoreAdj: 1001 }), 'InvalidArgument', /invalid oom score adj/);
  await rejectsWith(build({ resources: { memory: 1000 } }), 'InvalidArgument', /minimum is 6MB/);
  await rejectsWith(build({ resources: { cpuQuota: 0 } }), 'InvalidArgument', /invalid cpu quota/);
  await rejectsWith(build({ resources: { pids: 2.5 } }), 'InvalidArgument', /invalid pids limit/);
  await rejectsWith(build({ ulimits: [{ type: 'nofile', soft: 10, hard: 100_000_000 }] }), 'InvalidArgument', /ulimit nofile: hard limit 100000000 is above the host's hard limit/);
  await rejectsWith(build({ ulimits: [{ type: 'nofile', soft: 10, hard: 5 }] }), 'InvalidArgument', /soft limit 10 is above the hard limit 5/);
  await rejectsWith(build({ ulimits: [{ type: 'bogus', soft: 1, hard: 1 }] }), 'InvalidArgument', /invalid ulimit type: "bogus"/);
  await rejectsWith(build({ ulimits: [{ type: 'nofile', soft: -1, hard: -1 }] }), 'InvalidArgument', /unlimited is above the host's hard limit/);

  assert.deepEqual((await build({ sysctls: { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000' } })).linux.sysctl, { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000' });
  await rejectsWith(build({ sysctls: { 'vm.swappiness': '1' } }), 'InvalidArgument', /not namespaced/);
  await rejectsWith(build({ networkMode: 'host', sysctls: { 'net.ipv4.ip_forward': '1' } }), 'InvalidArgument', /host network/);
});

test('mounts, init, namespaces', async () => {
  const shm = { destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] };
  const bind = { destination: '/data', type: 'bind', source: dir, options: ['rbind', 'ro'] };
  const spec = await build({ mounts: [bind, shm], init: '/bin/busybox' });
  const dests = spec.mounts.map((m) => m.destination);
  assert.equal(dests.filter((d) => d === '/dev/shm').length, 1, 'user mount replaces the default');
  assert.deepEqual(spec.mounts.slice(-2), [bind, shm]);
  assert.deepEqual(spec.mounts.find((m) => m.destination === '/dev/init'), { destination: '/dev/init', type: 'bind', source: '/bin/busybox', options: ['bind', 'ro', 'nosuid', 'nodev'] });
  assert.deepEqual(spec.process.args, ['/dev/init', '--', 'sh']);
  assert.equal(spec.linux.rootfsPropagation, undefined, "runc's default (rslave) unless a mount needs more");
  assert.equal((await build({ rootfsPropagation: 'rshared' })).linux.rootfsPropagation, 'rshared');
  await rejectsWith(build({ mounts: [{ ...bind, source: join(dir, 'nope') }] }), 'InvalidArgument', /bind mount source path does not exist/);
  await rejectsWith(build({ mounts: [{ ...bind, destination: 'data' }] }), 'InvalidArgument', /must be an absolute path/);
  await rejectsWith(build({ init: '/no/such/init' }), 'InvalidArgument', /init binary not found/);

  const masked = await build({ maskedPaths: ['/proc/kcore'], readonlyPaths: [] });
  assert.deepEqual(masked.linux.maskedPaths, ['/proc/kcore']);
  assert.deepEqual(masked.linux.readonlyPaths, []);
  const dev = await build({ devices: [{ hostPath: '/dev/null', containerPath: '/dev/xnull', permissions: 'rw' }], supplementalGroups: [77] });
  assert.deepEqual(dev.linux.devices.map((d) => [d.path, d.type, d.major, d.minor]), [['/dev/xnull', 'c', 1, 3]]);
  assert.deepEqual(dev.linux.resources.devices.at(-1), { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
  assert.deepEqual(dev.process.user.additionalGids, [77]);
  await rejectsWith(build({ devices: [{ hostPath: '/etc/passwd', containerPath: '/dev/x' }] }), 'InvalidArgument', /is not a device/);

  const host = await build({ networkMode: 'host' });
  assert.ok(!host.linux.namespaces.some((n) => n.type === 'network'));
  const joined = await build({ namespaces: [{ type: 'network', path: '/run/netns/x' }, { type: 'ipc', path: '/proc/1/ns/ipc' }] });
  assert.deepEqual(joined.linux.namespaces.filter((n) => n.path), [{ type: 'ipc', path: '/proc/1/ns/ipc' }, { type: 'network', path: '/run/netns/x' }]);
  await rejectsWith(build({ namespaces: [{ type: 'time' }] }), 'InvalidArgument', /unknown namespace type/);
});

test('parseSignal', () => {
  assert.equal(parseSignal('TERM'), 15);
  assert.equal(parseSignal('SIGKILL'), 9);
  assert.equal(parseSignal('sigusr1'), 10);
  assert.equal(parseSignal('9'), 9);
  assert.equal(parseSignal(2), 2);
  assert.equal(parseSignal('RTMIN+2'), 36);
  for (const bad of ['FOO', 'SIG', '0', '65', -1, 1.5, '']) {
    assert.throws(() => parseSignal(bad), (e: unknown) => isBerthError(e, 'InvalidArgument') && /invalid signal/.test((e as Error).message));
  }
});
