// The leak finder must see each kind of leftover it promises to, and stop seeing it once
// it is gone. Other test files run concurrently, so these tests only look for their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findLeaks, isAlive, killAndWait, unmountUnder } from './index.js';
import { HOST_DEFAULT_SUBNETS, instanceNetwork, ipv4, isTestAddress, isTestBridgeName, parseCidr } from './netspace.js';

function mentioning(s: string): string[] {
  return findLeaks().filter((l) => l.includes(s));
}

test('a leftover test directory is reported until removed', () => {
  const dir = mkdtempSync('/tmp/berth-test-leak-');
  try {
    assert.deepEqual(mentioning(dir), [`directory: ${dir}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(mentioning(dir), []);
});

test('mounts in a test directory, and overlays built from one, are reported', (t) => {
  const dir = mkdtempSync('/tmp/berth-test-leak-');
  const outside = mkdtempSync('/tmp/leakcheck-');
  t.after(() => {
    unmountUnder(dir);
    unmountUnder(outside);
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });
  for (const d of ['tmpfs', 'lower', 'upper', 'work', 'upper2', 'work2', 'merged']) mkdirSync(join(dir, d));
  execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(dir, 'tmpfs')]);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`, join(dir, 'merged')]);
  // An overlay mounted elsewhere whose layers live in a test dir is a leak too.
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}/lower,upperdir=${dir}/upper2,workdir=${dir}/work2`, outside]);

  const leaks = findLeaks();
  assert.ok(leaks.includes(`mount: tmpfs on ${dir}/tmpfs`), leaks.join('\n'));
  assert.ok(leaks.includes(`mount: overlay on ${dir}/merged`), leaks.join('\n'));
  assert.ok(leaks.includes(`mount: overlay on ${outside}`), leaks.join('\n'));

  unmountUnder(dir);
  unmountUnder(outside);
  assert.deepEqual(mentioning('mount: ').filter((l) => l.includes(dir) || l.includes(outside)), []);
});

test('a process using a test directory is reported until it exits', async (t) => {
  const dir = mkdtempSync('/tmp/berth-test-leak-');
  const child = spawn('sh', ['-c', 'sleep 60; :', dir], { stdio: 'ignore' });
  t.after(async () => {
    await killAndWait([child.pid!]);
    rmSync(dir, { recursive: true, force: true });
  });
  assert.ok(child.pid && isAlive(child.pid));
  // sh forks before it execs sleep: for a moment its child carries the same arguments.
  const found = mentioning(dir).filter((l) => l.startsWith('process: '));
  assert.ok(found.includes(`process: ${child.pid} sh (argument ${dir})`), found.join('\n'));
  await killAndWait([child.pid]);
  assert.deepEqual(mentioning(dir).filter((l) => l.startsWith('process: ')), []);
});

test('runc state left in a test directory is reported', (t) => {
  const dir = mkdtempSync('/tmp/berth-test-leak-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'run', 'runc', 'abc123');
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, 'state.json'), '{}');
  assert.ok(mentioning(dir).includes(`runc state: ${state}`));
});

test('a container cgroup under berth/ is reported', (t) => {
  const memory = '/sys/fs/cgroup/memory';
  if (!existsSync(memory)) return t.skip('no cgroup v1 memory controller here');
  const parent = join(memory, 'berth');
  const madeParent = !existsSync(parent);
  const cg = join(parent, `leak-check-${process.pid}`);
  mkdirSync(cg, { recursive: true });
  t.after(() => {
    rmdirSync(cg);
    if (madeParent) {
      try {
        rmdirSync(parent);
      } catch {
        // A concurrent test's container has a cgroup there now.
      }
    }
  });
  assert.ok(findLeaks().includes(`cgroup: ${cg}`));
});

// ---- network objects ----------------------------------------------------------------------

const CNI_DIRS = ['/opt/cni/bin', '/usr/lib/cni'];
/** A /24 of its own per test process, in the range only bench/network uses besides (10.250-253). */
const OWN_PREFIX = `10.252.${process.pid % 256}`;

function cniPlugin(name: string): string {
  const dir = CNI_DIRS.find((d) => existsSync(join(d, name)));
  if (!dir) throw new Error(`CNI plugin ${name} not found in ${CNI_DIRS.join(', ')}`);
  return join(dir, name);
}

/** Runs one CNI plugin for real; returns its stdout (the result of an ADD). */
function cni(command: 'ADD' | 'DEL', conf: Record<string, unknown>, netns: string, containerId: string): string {
  return execFileSync(cniPlugin(conf.type as string), [], {
    input: JSON.stringify(conf),
    encoding: 'utf8',
    env: { PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: CNI_DIRS.join(':') },
  });
}

function iptablesSave(): string[] {
  return execFileSync('iptables-save', [], { encoding: 'utf8' }).split('\n');
}

test('names and addresses: every generator of the tests is recognised, the host tools\' are not', () => {
  for (const n of [0, 1, 7, 42]) {
    const { bridge, subnet } = instanceNetwork(n);
    assert.ok(isTestBridgeName(bridge) && isTestBridgeName(`${bridge}n`.slice(0, 15)), bridge);
    const ip = ipv4(subnet.replace('.0/24', '.2'));
    assert.ok(isTestAddress(ip, []), subnet);
    // Instance subnets never fall in a host tool's default range.
    assert.ok(isTestAddress(ip, HOST_DEFAULT_SUBNETS.map((s) => parseCidr(s)!)), subnet);
  }
  // test/network/fixture.ts, a test's marker bridge, bench/network's podman.
  for (const name of ['bt1a2b3c4d5e6f', 'bth12345', 'bnp12345x3']) assert.ok(isTestBridgeName(name), name);
  for (const name of ['cni-podman0', 'podman1', 'berth0', 'berth1', 'docker0', 'virbr0', 'br-1a2b3c4d5e6f', 'cni0', 'eth0', 'bt_x', 'btX1']) {
    assert.ok(!isTestBridgeName(name), name);
  }
  for (const ip of ['10.88.0.5', '10.99.1.2', '10.100.3.4', '10.39.1.1', '10.254.0.1', '192.168.1.1', '172.17.0.2']) {
    assert.ok(!isTestAddress(ipv4(ip), HOST_DEFAULT_SUBNETS.map((s) => parseCidr(s)!)), ip);
  }
  assert.ok(!isTestAddress(ipv4('10.200.1.7'), [parseCidr('10.200.1.0/24')!]), 'inside a host subnet');
});

test("a real attachment's bridge, veth, masquerade, firewall and port rules are reported; then the veth by its netns", async (t) => {
  const dir = mkdtempSync('/tmp/berth-test-leak-');
  const bridge = `btlk${process.pid.toString(36)}`;
  const containerId = `leak-check-${process.pid}`;
  const netns = join(dir, 'netns');
  const subnet = `${OWN_PREFIX}.0/24`;
  const name = `leakcheck${process.pid}`;
  const base = { cniVersion: '1.0.0', name };
  const bridgeConf = {
    ...base, type: 'bridge', bridge, isGateway: true, ipMasq: true,
    ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }] },
  };
  const hostPort = 40000 + (process.pid % 20000);
  const portConf = { ...base, type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] } };
  const firewallConf = { ...base, type: 'firewall' };
  let prevResult: unknown;
  t.after(() => {
    for (const conf of [portConf, firewallConf, bridgeConf]) {
      try {
        cni('DEL', prevResult ? { ...conf, prevResult } : conf, netns, containerId);
      } catch {
        // Deleted by the test already, or never added.
      }
    }
    try {
      execFileSync('umount', [netns], { stdio: 'ignore' });
    } catch {
      // Not mounted.
    }
    try {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    } catch {
      // Deleted by the test.
    }
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(netns, '');
  execFileSync('unshare', [`--net=${netns}`, 'true']);
  prevResult = JSON.parse(cni('ADD', bridgeConf, netns, containerId));
  cni('ADD', { ...firewallConf, prevResult }, netns, containerId);
  cni('ADD', { ...portConf, prevResult }, netns, containerId);
  const ip = (prevResult as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;

  // What the plugins made, found independently: the rules naming the address or the
  // container ID, and the per-attachment chains those rules are in or jump to.
  const lines = iptablesSave();
  let table = '';
  const made: string[] = [];
  const chains = new Set<string>();
  for (const l of lines) {
    if (l.startsWith('*')) table = l.slice(1);
    if (l.startsWith('-A') && (l.includes(`${ip}/`) || l.includes(`${ip}:`) || l.includes(containerId))) {
      made.push(`iptables rule: ${table} ${l}`);
      for (const c of [l.split(' ')[1]!, / -j (\S+)/.exec(l)?.[1]]) if (c && /^CNI-((DN|SN)-)?[0-9a-f]{8,}$/.test(c)) chains.add(`${table} ${c}`);
    }
  }
  table = '';
  for (const l of lines) {
    if (l.startsWith('*')) table = l.slice(1);
    if (l.startsWith('-A') && chains.has(`${table} ${l.split(' ')[1]}`) && !made.includes(`iptables rule: ${table} ${l}`)) made.push(`iptables rule: ${table} ${l}`);
  }
  assert.ok(chains.size >= 2, `a masquerade and a DNAT chain: ${[...chains].join(', ')}`);
  assert.ok(made.some((l) => l.includes(' CNI-FORWARD ')), 'firewall rules');

  const leaks = findLeaks();
  const veth = leaks.find((l) => l.startsWith('veth: ') && l.endsWith(`(on ${bridge})`));
  assert.ok(leaks.includes(`bridge: ${bridge}`), leaks.join('\n'));
  assert.ok(veth, leaks.join('\n'));
  for (const c of chains) assert.ok(leaks.includes(`iptables chain: ${c}`), `${c} in:\n${leaks.join('\n')}`);
  for (const r of made) assert.ok(leaks.includes(r), `${r} in:\n${leaks.join('\n')}`);

  // Without its bridge (the instance clean-up deletes it), the veth is known by its peer.
  execFileSync('ip', ['link', 'del', bridge]);
  const vethName = veth.slice('veth: '.length).split(' ')[0]!;
  assert.ok(findLeaks().includes(`veth: ${vethName} (peer eth0 in ${netns})`), findLeaks().join('\n'));

  for (const conf of [portConf, firewallConf, bridgeConf]) cni('DEL', { ...conf, prevResult }, netns, containerId);
  execFileSync('umount', [netns]);
  const left = findLeaks().filter((l) => l.includes(ip) || l.includes(containerId) || l.includes(bridge) || l.includes(vethName) || [...chains].some((c) => l.includes(c.split(' ')[1]!)));
  assert.deepEqual(left, []);
});

test("the host's own bridges, veths and rules are not reported", (t) => {
  const hostBridge = `lkh${process.pid % 100000}`;
  const [vethA, vethB] = [`lkv${process.pid % 100000}a`, `lkv${process.pid % 100000}b`];
  const hostNet = `10.251.${process.pid % 256}`;
  const hex = () => randomBytes(12).toString('hex');
  // Per-attachment chains of the host's networks: on its own bridge's subnet, on podman's
  // default; a chain no CNI plugin made; and, as the check that can fail, one of a test's.
  const chains = { hostSubnet: `CNI-${hex()}`, podman: `CNI-${hex()}`, test: `CNI-${hex()}`, other: `LEAKCHECK-${process.pid}` };
  const ip = (args: string[]) => execFileSync('ip', args, { stdio: 'ignore' });
  const iptables = (args: string[]) => execFileSync('iptables', ['-t', 'nat', ...args], { stdio: 'ignore' });
  t.after(() => {
    for (const c of Object.values(chains)) {
      for (const op of ['-F', '-X']) {
        try {
          iptables([op, c]);
        } catch {
          // Never made.
        }
      }
    }
    for (const l of [vethA, hostBridge]) {
      try {
        ip(['link', 'del', l]);
      } catch {
        // Never made.
      }
    }
  });
  ip(['link', 'add', hostBridge, 'type', 'bridge']);
  ip(['addr', 'add', `${hostNet}.1/24`, 'dev', hostBridge]);
  ip(['link', 'add', vethA, 'type', 'veth', 'peer', 'name', vethB]);
  ip(['link', 'set', vethA, 'master', hostBridge]);
  for (const c of Object.values(chains)) iptables(['-N', c]);
  iptables(['-A', chains.hostSubnet, '-d', `${hostNet}.5/32`, '-j', 'ACCEPT']);
  iptables(['-A', chains.podman, '-s', '10.88.3.4/32', '-j', 'MASQUERADE']);
  iptables(['-A', chains.other, '-d', `${OWN_PREFIX}.9/32`, '-j', 'ACCEPT']);
  iptables(['-A', chains.test, '-d', `${OWN_PREFIX}.9/32`, '-j', 'ACCEPT']);

  const leaks = findLeaks();
  const mine = leaks.filter((l) => [hostBridge, vethA, vethB, ...Object.values(chains)].some((n) => l.includes(n)));
  assert.deepEqual(mine, [
    `iptables chain: nat ${chains.test}`,
    `iptables rule: nat -A ${chains.test} -d ${OWN_PREFIX}.9/32 -j ACCEPT`,
  ]);
});

test("the dnsname plugin's DNS rule on a test bridge is reported until removed; on a host bridge it is not", (t) => {
  const testBridge = `bth${process.pid % 100000}q`;
  const hostBridge = `lkh${process.pid % 100000}q`;
  const rule = (b: string) => ['INPUT', '-i', b, '-p', 'udp', '-m', 'udp', '--dport', '53', '-j', 'ACCEPT'];
  const drop = (b: string) => {
    try {
      execFileSync('iptables', ['-D', ...rule(b)], { stdio: 'ignore' });
    } catch {
      // Never made, or removed.
    }
  };
  t.after(() => [testBridge, hostBridge].forEach(drop));
  for (const b of [testBridge, hostBridge]) execFileSync('iptables', ['-A', ...rule(b)]);
  assert.deepEqual(mentioning(testBridge), [`iptables rule: filter -A INPUT -i ${testBridge} -p udp -m udp --dport 53 -j ACCEPT`]);
  assert.deepEqual(mentioning(hostBridge), []);
  drop(testBridge);
  assert.deepEqual(mentioning(testBridge), []);
});
