// Specs from buildSpec run under the real runc: what the container sees from inside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { buildSpec, hostCapabilities } from '../../src/oci/index.js';
import type { SpecInput } from '../../src/oci/index.js';
import { runcRun, suiteSandbox, type RunResult } from './fixture.js';

const sb = suiteSandbox();

let seq = 0;
/** Runs `sh -c script` in a container built from `o`; checks its cgroup is gone afterwards. */
async function run(script: string, o: Partial<SpecInput> = {}): Promise<RunResult> {
  const id = `oci-ct-${process.pid}-${++seq}`;
  const spec = await buildSpec({
    id, rootfs: sb.rootfs, image: { Cmd: ['/bin/sh', '-c', script] },
    cgroupsPath: `${sb.cgroupParent}/${id}`, ...o,
  });
  const result = await runcRun(sb, id, spec);
  assert.equal(existsSync(join('/sys/fs/cgroup/memory', sb.cgroupParent, id)), false, 'runc removed the cgroup');
  return result;
}

async function ok(script: string, o: Partial<SpecInput> = {}): Promise<string> {
  const r = await run(script, o);
  assert.equal(r.code, 0, `exit ${r.code}; stdout: ${r.stdout}; stderr: ${r.stderr}`);
  return r.stdout;
}

function statusField(status: string, field: string): string {
  return new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '';
}

const capMask = (names: string[]) =>
  names.reduce((m, n) => m | (1n << BigInt(CAP_BITS.indexOf(n))), 0n).toString(16).padStart(16, '0');
// Bit numbers follow the CAPABILITIES table; hostCapabilities() lists names in bit order.
const CAP_BITS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

test('default container: docker capability set, seccomp filter, hostname, env, workdir', async () => {
  const out = await ok('cat /proc/self/status; echo "host=$(hostname)"; echo "pwd=$(pwd)"; echo "foo=$FOO"; echo "home=$HOME"', {
    hostname: 'berthbox', env: ['FOO=bar baz'], workdir: '/tmp',
  });
  assert.equal(statusField(out, 'CapEff'), '00000000a80425fb');
  assert.equal(statusField(out, 'CapBnd'), '00000000a80425fb');
  assert.equal(statusField(out, 'CapInh'), '0000000000000000');
  assert.equal(statusField(out, 'Seccomp'), '2');
  assert.equal(statusField(out, 'NoNewPrivs'), '0');
  assert.match(out, /^host=berthbox$/m);
  assert.match(out, /^pwd=\/tmp$/m);
  assert.match(out, /^foo=bar baz$/m);
  assert.match(out, /^home=\/root$/m);
});

test('ordinary programs work under the seccomp profile; namespace and mount calls do not', async () => {
  // Real execs (busybox runs many applets in-process otherwise).
  const out = await ok([
    '/bin/busybox ls / >/dev/null', '/bin/busybox ps >/dev/null', '/bin/busybox find /etc -type f >/dev/null',
    '/bin/busybox date >/dev/null', '/bin/busybox sh -c "echo sub | /bin/busybox cat"', '/bin/busybox chown 1000 /tmp',
    '/bin/busybox mknod /tmp/null c 1 3', '/bin/busybox sleep 0.01 & wait',
    '/bin/busybox unshare -U true 2>/dev/null && echo unshare-allowed || echo unshare-denied',
    '/bin/busybox unshare -n true 2>/dev/null && echo netns-allowed || echo netns-denied',
  ].join('; '));
  assert.match(out, /^sub$/m);
  // Creating a user namespace needs no capability, so only seccomp stops it.
  assert.match(out, /^unshare-denied$/m);
  assert.match(out, /^netns-denied$/m);
  const unconfined = await ok('cat /proc/self/status; /bin/busybox unshare -U true && echo unshare-allowed', { seccomp: false });
  assert.equal(statusField(unconfined, 'Seccomp'), '0');
  assert.match(unconfined, /^unshare-allowed$/m);
});

test('masked paths are empty, /proc/sys and /sys are read-only', async () => {
  // The host's /proc/keys and /proc/timer_list have content; masked they read as empty.
  assert.ok(readFileSync('/proc/timer_list', 'utf8').length > 0);
  const out = await ok([
    'echo "timer_list=$(wc -c < /proc/timer_list)"', 'echo "keys=$(wc -c < /proc/keys)"', 'echo "firmware=$(ls /sys/firmware | wc -l)"',
    'echo 1 > /proc/sys/net/ipv4/ip_forward 2>/dev/null && echo procsys-writable || echo procsys-ro',
    'touch /sys/x 2>/dev/null && echo sys-writable || echo sys-ro',
  ].join('; '));
  assert.match(out, /^timer_list=0$/m);
  assert.match(out, /^keys=0$/m);
  assert.match(out, /^firmware=0$/m);
  assert.match(out, /^procsys-ro$/m);
  assert.match(out, /^sys-ro$/m);
});

test('users: name, name:group, numeric ids; non-root loses its capabilities', async () => {
  const alice = await ok('id -u; id -g; id -G; echo "home=$HOME"; grep CapEff /proc/self/status', { user: 'alice' });
  const [uid, gid, groups] = alice.split('\n');
  assert.equal(uid, '1000');
  assert.equal(gid, '1000');
  assert.deepEqual(groups!.split(' ').sort(), ['10', '1000', '50']);
  assert.match(alice, /^home=\/home\/alice$/m);
  assert.equal(statusField(alice, 'CapEff'), '0000000000000000');
  assert.equal(await ok('id -u; id -g; id -G', { user: 'alice:staff' }), '1000\n50\n50\n');
  assert.equal(await ok('id -u; id -g', { user: '4242:4343' }), '4242\n4343\n');
  assert.equal(await ok('id -un', { user: '1001' }), 'bob\n');
});

test('read-only rootfs keeps /dev/shm and extra tmpfs writable; ro binds are read-only', async () => {
  const hostDir = join(sb.dir, 'shared');
  mkdirSync(hostDir);
  writeFileSync(join(hostDir, 'hello.txt'), 'from host\n');
  const out = await ok([
    'touch /newfile 2>/dev/null && echo root-writable || echo root-ro',
    'touch /dev/shm/x && echo shm-writable',
    'touch /scratch/x && echo scratch-writable',
    'grep " /scratch " /proc/mounts',
    'cat /data/hello.txt',
    'touch /data/x 2>/dev/null && echo data-writable || echo data-ro',
  ].join('; '), {
    readOnlyRootfs: true,
    mounts: [
      { destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=1m'] },
      { destination: '/data', type: 'bind', source: hostDir, options: ['rbind', 'ro'] },
    ],
  });
  assert.match(out, /^root-ro$/m);
  assert.match(out, /^shm-writable$/m);
  assert.match(out, /^scratch-writable$/m);
  assert.match(out, /^tmpfs \/scratch tmpfs rw,nosuid,nodev,relatime,size=1024k/m);
  assert.match(out, /^from host$/m);
  assert.match(out, /^data-ro$/m);
  assert.equal(existsSync(join(hostDir, 'x')), false);
});

test('memory, cpu and pids limits land in the cgroup', async () => {
  const out = await ok([
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes', 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us',
    'cat /sys/fs/cgroup/cpu/cpu.cfs_period_us', 'cat /sys/fs/cgroup/pids/pids.max',
  ].join('; '), { resources: { memory: 48 * 1024 * 1024, cpuQuota: 150_000, cpuPeriod: 100_000, pids: 32 } });
  assert.equal(out, `${48 * 1024 * 1024}\n150000\n100000\n32\n`);
  // The pids limit is enforced: the 33rd process cannot fork.
  // A child shell forks until it fails (busybox sh exits on "can't fork"); the main shell
  // then counts with a glob, which needs no fork. Without the limit there would be 21.
  const script = '/bin/busybox sh -c "i=0; while [ \\$i -lt 20 ]; do /bin/busybox sleep 5 & i=\\$((i+1)); done" 2>/dev/null; set -- /proc/[0-9]*; echo "procs=$#"; kill -9 -1';
  const fork = await run(script, { resources: { pids: 8 } });
  const procs = Number(/procs=(\d+)/.exec(fork.stdout)?.[1]);
  assert.ok(procs > 2 && procs <= 8, `processes under the pids limit: ${fork.stdout} ${fork.stderr}`);
  const unlimited = await run(script);
  assert.match(unlimited.stdout, /^procs=21$/m);
});

test('ulimits and sysctls apply; the network namespace has only lo', async () => {
  const out = await ok('ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_forward; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "', {
    ulimits: [{ type: 'nofile', soft: 512, hard: 1024 }], sysctls: { 'net.ipv4.ip_forward': '1' },
  });
  assert.equal(out, '512\n1024\n1\nlo\n');
});

test('host network: the host\'s interfaces and hostname', async () => {
  const out = await ok('hostname; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "', { networkMode: 'host' });
  const [name, ...ifaces] = out.trim().split('\n');
  assert.equal(name, hostname());
  assert.ok(ifaces.includes('lo') && ifaces.length > 1, `host interfaces: ${ifaces.join(',')}`);
});

test('privileged: all host capabilities, no seccomp, writable /sys, host devices', async () => {
  const out = await ok('cat /proc/self/status; grep " /sys sysfs" /proc/mounts; ls /dev | wc -l; wc -c < /proc/keys', { privileged: true });
  assert.equal(statusField(out, 'CapEff'), capMask(hostCapabilities()));
  assert.equal(statusField(out, 'Seccomp'), '0');
  assert.match(out, /^sysfs \/sys sysfs rw,/m);
  const devices = Number(out.trim().split('\n').at(-2));
  assert.ok(devices > 12, `host devices visible (${devices})`);
});

test('--init runs the command under the init binary', async (t) => {
  const init = ['/usr/bin/catatonit', '/usr/bin/tini', '/usr/bin/tini-static'].find((p) => existsSync(p));
  if (!init) return t.skip('no init binary (catatonit or tini) installed');
  const out = await ok('echo "pid=$$"; tr "\\0" " " < /proc/1/cmdline; echo', { init });
  assert.doesNotMatch(out, /^pid=1$/m);
  assert.match(out, /^\/dev\/init -- \/bin\/sh -c /m);
});

test('a bad command is the runtime\'s error, and leaves no cgroup', async () => {
  const id = `oci-ct-${process.pid}-bad`;
  const spec = await buildSpec({ id, rootfs: sb.rootfs, image: { Cmd: ['/no/such/program'] }, cgroupsPath: `${sb.cgroupParent}/${id}` });
  const r = await runcRun(sb, id, spec);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no such file or directory/);
  assert.equal(existsSync(join('/sys/fs/cgroup/memory', sb.cgroupParent, id)), false);
});
