// run/create flags → the library's neutral ContainerSpec (no containers involved), and
// the one rule for a container's hostname.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from '../../src/cli/args.js';
import { configFromFlags, stdioCommands } from '../../src/cli/run.js';
import { topCommand } from '../../src/cli/commands.js';
import { containerHostname, networkPlan, type ContainerSpec } from '../../src/container/index.js';
import { isBerthError } from '../../src/errors/index.js';

const runFlags = stdioCommands.find((c) => c.name === 'run')!.flags;
const createFlags = stdioCommands.find((c) => c.name === 'create')!.flags;

function spec(argv: string[]): Promise<ContainerSpec> {
  const { flags, args } = parseArgs(argv, runFlags, 1);
  return configFromFlags(flags, args);
}

test('a plain run: image, command, default network, default security', async () => {
  const s = await spec(['busybox', 'sh', '-c', 'echo hi']);
  assert.equal(s.image, 'busybox');
  assert.deepEqual(s.command, ['sh', '-c', 'echo hi']);
  assert.equal(s.entrypoint, undefined);
  assert.deepEqual(networkPlan(s), { kind: 'networks', networks: [] });
  assert.deepEqual(s.security, { user: undefined, capAdd: [], capDrop: [], privileged: false, noNewPrivileges: false, seccomp: 'default', readOnlyRootfs: false });
  assert.deepEqual(s.mounts, []);
  assert.equal(s.removeOnExit, false);
  assert.equal(s.hostname, undefined, 'the default hostname is decided at creation, not here');
});

test('resources: --memory, --cpus as CFS quota/period, --pids-limit', async () => {
  const s = await spec(['-m', '64m', '--cpus', '1.5', '--pids-limit', '20', 'img']);
  assert.deepEqual(s.resources, { memory: 64 * 1024 * 1024, cpuQuota: 150_000, cpuPeriod: 100_000, pids: 20 });
  assert.deepEqual((await spec(['img'])).resources, {}, 'only the limits given');
  await assert.rejects(spec(['-m', '1k', 'img']), (e: unknown) => isBerthError(e, 'InvalidArgument'));
});

test('mounts: -v binds and volumes, --mount and --tmpfs in one list', async () => {
  const s = await spec(['-v', '/srv:/data:ro', '-v', '/tmp:/t', '-v', 'vol:/v', '--mount', 'type=bind,src=/m,dst=/m', '--tmpfs', '/run:size=1m,mode=1777', 'img']);
  assert.deepEqual(s.mounts, [
    { type: 'bind', source: '/srv', destination: '/data', readOnly: true },
    { type: 'bind', source: '/tmp', destination: '/t' },
    { type: 'volume', name: 'vol', destination: '/v' },
    { type: 'bind', source: '/m', destination: '/m', readOnly: undefined },
    { type: 'tmpfs', destination: '/run', options: ['size=1m', 'mode=1777'] },
  ]);
  assert.equal(s.imageVolumes, true, "the image's VOLUMEs become anonymous volumes, as podman");
});

test('networking: none, host, named networks, ports, -P, dns, --add-host', async () => {
  assert.deepEqual(networkPlan(await spec(['--network', 'none', 'img'])), { kind: 'none' });
  assert.deepEqual(networkPlan(await spec(['--net', 'host', 'img'])), { kind: 'host' });
  assert.deepEqual(networkPlan(await spec(['--network', 'bridge', 'img'])), { kind: 'networks', networks: [] });
  assert.deepEqual(networkPlan(await spec(['--network', 'a,b', 'img'])), { kind: 'networks', networks: ['a', 'b'] });
  const s = await spec(['-p', '127.0.0.1:8080:80', '-P', '--dns', '192.0.2.1', '--add-host', 'db:10.0.0.2', 'img']);
  assert.deepEqual(s.network?.ports, [{ hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  assert.equal(s.network?.publishExposed, true);
  assert.deepEqual(s.network?.dns, ['192.0.2.1']);
  assert.deepEqual(s.network?.addHosts, ['db:10.0.0.2']);
  await assert.rejects(spec(['-p', '80', '--network', 'host', 'img']), /cannot be published with --network host/);
  // --network-alias (repeatable) for the networks that resolve names.
  assert.deepEqual((await spec(['--network', 'app', '--network-alias', 'web', '--network-alias', 'www', 'img'])).network?.aliases, ['web', 'www']);
  assert.equal((await spec(['img'])).network?.aliases, undefined);
  await assert.rejects(spec(['--network-alias', 'bad name', 'img']), /invalid --network-alias "bad name"/);
  await assert.rejects(spec(['--network', 'host', '--network-alias', 'web', 'img']), /--network-alias cannot be used with --network host/);
  // A joined network namespace (a pod's) wins over berth's own networking.
  assert.deepEqual(networkPlan({ image: 'x', namespaces: { network: '/run/netns/pod' }, network: { mode: 'host' } }), { kind: 'join', path: '/run/netns/pod' });
});

test('security: user, capabilities, privileged, security-opt, read-only', async () => {
  const s = await spec([
    '-u', 'alice:staff', '--cap-add', 'NET_ADMIN', '--cap-drop', 'MKNOD', '--privileged',
    '--security-opt', 'no-new-privileges', '--security-opt', 'seccomp=unconfined', '--read-only', 'img',
  ]);
  assert.deepEqual(s.security, {
    user: 'alice:staff', capAdd: ['NET_ADMIN'], capDrop: ['MKNOD'], privileged: true, noNewPrivileges: true, seccomp: 'unconfined', readOnlyRootfs: true,
  });
  await assert.rejects(spec(['--security-opt', 'apparmor=x', 'img']), /unsupported --security-opt/);
});

test('process and lifecycle: entrypoint, env, workdir, tty, stdin, labels, ulimits, init, --rm, stop, logs', async () => {
  const s = await spec([
    '--entrypoint', '', '-e', 'A=1', '-w', '/srv', '-it', '-l', 'k=v', '--ulimit', 'nofile=10:20', '--init', '--rm',
    '--stop-signal', 'QUIT', '--stop-timeout', '3', '--log-opt', 'max-size=1k', '--hostname', 'box', '--name', 'n', 'img', 'ls',
  ]);
  assert.deepEqual(s.entrypoint, [], "--entrypoint '' clears the entrypoint");
  assert.deepEqual(s.command, ['ls']);
  assert.deepEqual(s.env, ['A=1']);
  assert.equal(s.workdir, '/srv');
  assert.deepEqual([s.tty, s.stdin], [true, true]);
  assert.deepEqual(s.labels, { k: 'v' });
  assert.deepEqual(s.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 20 }]);
  assert.deepEqual([s.init, s.removeOnExit, s.stopSignal, s.stopTimeout, s.logSizeMax, s.hostname, s.name], [true, true, 'QUIT', 3, 1024, 'box', 'n']);
});

test('hostname: one rule (given, short id, the host name with host networking, none in a joined UTS namespace)', () => {
  const id = '0123456789abcdef'.repeat(4);
  assert.equal(containerHostname({ image: 'x' }, id), '0123456789ab');
  assert.equal(containerHostname({ image: 'x', network: { mode: 'none' } }, id), '0123456789ab');
  assert.equal(containerHostname({ image: 'x', network: { mode: 'host' } }, id), hostname());
  assert.equal(containerHostname({ image: 'x', hostname: 'given', network: { mode: 'host' } }, id), 'given');
  assert.equal(containerHostname({ image: 'x', namespaces: { uts: '/proc/1/ns/uts' } }, id), undefined);
});

/** A temp dir for files the flags name, removed after the test. */
function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync('/tmp/berth-test-runspec-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The one-line message of an InvalidArgument a spec is refused with. */
async function refused(argv: string[]): Promise<string> {
  try {
    await spec(argv);
  } catch (e) {
    assert.ok(isBerthError(e, 'InvalidArgument'), `${argv.join(' ')}: ${String(e)}`);
    return (e as Error).message;
  }
  assert.fail(`${argv.join(' ')} was accepted`);
}

test('resources: --memory-swap, --memory-reservation, -c/--cpu-shares, --cpuset-cpus/-mems, --oom-score-adj', async () => {
  const s = await spec(['-m', '64m', '--memory-swap', '128m', '--memory-reservation', '32m', '-c', '512', '--cpuset-cpus', '0', '--cpuset-mems', '0', '--oom-score-adj', '100', 'img']);
  assert.deepEqual(s.resources, {
    memory: 64 << 20, memorySwap: 128 << 20, memoryReservation: 32 << 20, cpuShares: 512, cpusetCpus: '0', cpusetMems: '0', oomScoreAdj: 100,
  });
  assert.equal((await spec(['-m', '64m', '--memory-swap', '-1', 'img'])).resources?.memorySwap, -1, 'unlimited swap');
  assert.match(await refused(['--memory-swap', '1g', 'img']), /always set a memory limit when using a memoryswap limit/);
  assert.match(await refused(['-m', '64m', '--memory-swap', '32m', 'img']), /memoryswap limit should be larger than memory limit/);
  assert.match(await refused(['-m', '32m', '--memory-reservation', '64m', 'img']), /cannot be less than memory reservation/);
  assert.match(await refused(['-c', '1', 'img']), /--cpu-shares: between 2 and 262144/);
  assert.match(await refused(['--cpuset-cpus', '0-', 'img']), /invalid value "0-" for cpuset cpus/);
  assert.match(await refused(['--cpuset-cpus', '4096', 'img']), /^requested CPUs are not available - requested 4096, available: /);
  assert.match(await refused(['--cpuset-mems', '64', 'img']), /^requested memory nodes are not available/);
  assert.match(await refused(['--oom-score-adj', '1001', 'img']), /between -1000 and 1000/);
  // Without CAP_SYS_RESOURCE (root here lacks it) nothing below this process's own value works.
  const own = Number(readFileSync('/proc/self/oom_score_adj', 'utf8'));
  if (hasCap(24)) assert.equal((await spec(['--oom-score-adj', '-1000', 'img'])).resources?.oomScoreAdj, -1000);
  else assert.match(await refused(['--oom-score-adj', String(own - 1), 'img']), new RegExp(`this host permits ${own} to 1000 \\(going lower needs CAP_SYS_RESOURCE\\)`));
  assert.equal((await spec(['--oom-score-adj', '1000', 'img'])).resources?.oomScoreAdj, 1000);
});

/** Whether this process holds the capability (bit number) in its effective set. */
function hasCap(bit: number): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return ((BigInt('0x' + hex) >> BigInt(bit)) & 1n) === 1n;
}

test('update takes the same resource flags as run', async () => {
  const update = (await topCommand('update'))!;
  for (const name of ['memory', 'memory-swap', 'memory-reservation', 'cpus', 'cpu-shares', 'cpuset-cpus', 'cpuset-mems', 'pids-limit', 'restart'])
    assert.deepEqual(update.flags.find((d) => d.name === name), runFlags.find((d) => d.name === name), name);
  for (const name of ['device', 'sysctl', 'pid', 'ipc', 'uts', 'group-add', 'cidfile', 'expose', 'ip', 'label-file', 'oom-score-adj', 'shm-size', 'read-only-tmpfs', 'quiet'])
    assert.ok(createFlags.some((d) => d.name === name), `create --${name}`);
  assert.ok(!createFlags.some((d) => d.name === 'attach') && runFlags.some((d) => d.name === 'attach' && d.short === 'a'));
});

test('devices: HOST[:CTR][:PERMS], checked against the host', async () => {
  const s = await spec(['--device', '/dev/null', '--device', '/dev/zero:/dev/z', '--device', '/dev/full:r', '--device', '/dev/null:/dev/n2:rw', 'img']);
  assert.deepEqual(s.devices, [
    { hostPath: '/dev/null', containerPath: '/dev/null' },
    { hostPath: '/dev/zero', containerPath: '/dev/z' },
    { hostPath: '/dev/full', containerPath: '/dev/full', permissions: 'r' },
    { hostPath: '/dev/null', containerPath: '/dev/n2', permissions: 'rw' },
  ]);
  assert.match(await refused(['--device', '/dev/nonexistent-x', 'img']), /^device \/dev\/nonexistent-x does not exist$/);
  assert.match(await refused(['--device', '/tmp', 'img']), /^\/tmp is not a device$/);
  assert.match(await refused(['--device', '/dev/null:/dev/x:rwx', 'img']), /invalid device mode "rwx"/);
  assert.match(await refused(['--device', '/dev/null:rr', 'img']), /invalid device mode "rr"/);
  assert.match(await refused(['--device', 'dev/null', 'img']), /paths must be absolute/);
});

test('sysctls: namespaced ones only; net.* not with the host network, IPC ones not with the host IPC namespace', async () => {
  assert.deepEqual((await spec(['--sysctl', 'net.ipv4.ip_forward=1', '--sysctl', 'kernel.shmmax=1000', '--sysctl', 'fs.mqueue.msg_max=20', 'img'])).sysctls,
    { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000', 'fs.mqueue.msg_max': '20' });
  assert.match(await refused(['--sysctl', 'kernel.panic=1', 'img']), /"kernel.panic" is not allowed in a container: it is not namespaced/);
  assert.match(await refused(['--sysctl', 'vm.swappiness=1', 'img']), /not allowed/);
  assert.match(await refused(['--sysctl', 'net.ipv4.ip_forward', 'img']), /must be in the form of KEY=VALUE/);
  assert.match(await refused(['--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1', 'img']), /cannot be set with the host network/);
  assert.match(await refused(['--ipc', 'host', '--sysctl', 'kernel.msgmax=1', 'img']), /cannot be set with the host IPC namespace/);
});

test('namespaces: --pid/--ipc/--uts host, container:NAME, private; /dev/shm size', async () => {
  const s = await spec(['--pid', 'host', '--ipc', 'host', '--uts', 'host', 'img']);
  assert.deepEqual(s.namespaces, { pid: 'host', ipc: 'host', uts: 'host' });
  assert.equal(containerHostname(s, '0'.repeat(64)), undefined, "the host's UTS namespace keeps the host's name");
  const j = await spec(['--pid', 'container:a', '--ipc', 'container:b', '--uts', 'container:c', 'img']);
  assert.deepEqual(j.namespaceContainers, { pid: 'a', ipc: 'b', uts: 'c' });
  assert.equal(j.namespaces, undefined);
  const own = await spec(['--pid', 'private', '--ipc', 'shareable', '--uts', 'private', '--shm-size', '1m', 'img']);
  assert.deepEqual([own.namespaces, own.namespaceContainers, own.shmSize, own.ipcShareable], [undefined, undefined, 1 << 20, true]);
  assert.equal((await spec(['--ipc', 'private', 'img'])).ipcShareable, undefined);
  for (const kind of ['pid', 'ipc', 'uts']) assert.match(await refused([`--${kind}`, 'bogus', 'img']), new RegExp(`unrecognized namespace mode "bogus" for --${kind}`));
  assert.match(await refused(['--pid', 'container:', 'img']), /unrecognized namespace mode/);
  assert.match(await refused(['--uts', 'host', '--hostname', 'x', 'img']), /cannot set a hostname with --uts host/);
  assert.match(await refused(['--ipc', 'container:x', '--shm-size', '1m', 'img']), /cannot set --shm-size with --ipc container:x/);
  assert.match(await refused(['--shm-size', '0', 'img']), /at least 1 byte/);
  assert.match(await refused(['--shm-size', 'big', 'img']), /invalid size "big" for --shm-size/);
});

test('groups, exposed ports, static address, labels from files, JSON entrypoint, read-only tmpfs', async (t) => {
  const dir = scratch(t);
  const s = await spec(['--group-add', 'extra', '--group-add', '55', '--expose', '8080', '--expose', '9000-9001/udp', '--expose', '8080/tcp', '--ip', '10.99.0.9', 'img']);
  assert.deepEqual(s.security?.groupAdd, ['extra', '55']);
  assert.deepEqual(s.exposedPorts, ['8080/tcp', '9000/udp', '9001/udp']);
  assert.equal(s.network?.ip, '10.99.0.9');
  assert.match(await refused(['--group-add', 'keep-groups', 'img']), /keep-groups is not supported/);
  assert.match(await refused(['--expose', '0', 'img']), /invalid port "0" for --expose/);
  assert.match(await refused(['--expose', '90-80', 'img']), /invalid port "90-80"/);
  assert.match(await refused(['--ip', '10.99.0.300', 'img']), /"10.99.0.300" is not an ip address/);
  assert.match(await refused(['--ip', '10.99.0.9', '--network', 'none', 'img']), /--ip can only be set when the container has its own network/);
  assert.match(await refused(['--ip', '10.99.0.9', '--network', 'a,b', 'img']), /single network/);
  writeFileSync(join(dir, 'labels'), 'a=1\n# a comment\n\nb=2\nflag\n');
  assert.deepEqual((await spec(['--label-file', join(dir, 'labels'), '-l', 'b=3', 'img'])).labels, { a: '1', b: '3', flag: '' }, '--label wins over the file');
  assert.match(await refused(['--label-file', join(dir, 'none'), 'img']), /unable to process labels: cannot read .*none: no such file or directory/);
  assert.deepEqual((await spec(['--entrypoint', '["/bin/echo","x"]', 'img'])).entrypoint, ['/bin/echo', 'x']);
  assert.deepEqual((await spec(['--entrypoint', '/bin/echo', 'img'])).entrypoint, ['/bin/echo']);
  assert.match(await refused(['--entrypoint', '["/bin/echo",1]', 'img']), /not a JSON array of strings/);
  const tmpfs = (await spec(['--read-only', '--tmpfs', '/tmp:size=1m', 'img'])).mounts;
  assert.deepEqual(tmpfs, [
    { type: 'tmpfs', destination: '/tmp', options: ['size=1m'] },
    { type: 'tmpfs', destination: '/run', options: ['rw', 'rprivate', 'nosuid', 'nodev', 'tmpcopyup'] },
    { type: 'tmpfs', destination: '/var/tmp', options: ['rw', 'rprivate', 'nosuid', 'nodev', 'tmpcopyup'] },
  ], "podman's tmpfs on /run, /tmp, /var/tmp, a mount given there kept");
  assert.deepEqual((await spec(['--read-only', '--read-only-tmpfs=false', 'img'])).mounts, []);
  assert.deepEqual((await spec(['--read-only-tmpfs', 'img'])).mounts, [], 'only with --read-only, as podman 4.3');
});

test('--security-opt seccomp=FILE: the profile read and checked now; --cidfile refused when it exists', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'profile.json');
  const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
  writeFileSync(file, JSON.stringify(profile));
  assert.deepEqual((await spec(['--security-opt', `seccomp=${file}`, 'img'])).security?.seccompProfile, { path: file, profile });
  assert.match(await refused(['--security-opt', `seccomp=${join(dir, 'none.json')}`, 'img']), /opening seccomp profile .*none.json failed: no such file or directory/);
  writeFileSync(join(dir, 'bad.json'), 'root:x:0:0');
  assert.match(await refused(['--security-opt', `seccomp=${join(dir, 'bad.json')}`, 'img']), /loading seccomp profile .*bad.json failed: not JSON/);
  writeFileSync(join(dir, 'wrong.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_MAYBE' }));
  assert.match(await refused(['--security-opt', `seccomp=${join(dir, 'wrong.json')}`, 'img']), /defaultAction: unknown action "SCMP_ACT_MAYBE"/);
  const cid = join(dir, 'cid');
  assert.equal((await spec(['--cidfile', cid, 'img'])).cidFile, cid);
  assert.ok(!existsSync(cid), 'written only once the container exists');
  writeFileSync(cid, 'x');
  assert.match(await refused(['--cidfile', cid, 'img']), /^container id file exists. Ensure another container is not using it or delete /);
  assert.match(await refused(['--cidfile', join(dir, 'no/dir/cid'), 'img']), /is not a directory/);
});
