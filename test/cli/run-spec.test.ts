// run/create flags → the library's neutral ContainerSpec (no containers involved), and
// the one rule for a container's hostname.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { parseArgs } from '../../src/cli/args.js';
import { configFromFlags, stdioCommands } from '../../src/cli/run.js';
import { containerHostname, networkPlan, type ContainerSpec } from '../../src/container/index.js';
import { isBerthError } from '../../src/errors/index.js';

const runFlags = stdioCommands.find((c) => c.name === 'run')!.flags;

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
  assert.deepEqual((await spec(['img'])).resources, { memory: undefined, pids: undefined });
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
