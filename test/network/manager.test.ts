// NetworkManager and network management against the real plugins: default network,
// setup/status/teardown, sweep of gone owners, create/inspect/rm, container files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  NetworkManager, createNetwork, inspectNetwork, listNetworks, overlaps, parsePublish, parseSubnet, removeNetwork, writeContainerFiles,
} from '../../src/network/index.js';
import { attachmentChains, deleteLink, fetchTcp, linkExists, inNetns, listNetnsFiles, newWorld, randomBridge, randomPrefix, reservations, stopProcess, tcpServerIn, vethsOn, type World } from './fixture.js';

function managerFor(w: World): NetworkManager {
  return new NetworkManager({
    confDir: w.confDir, cacheDir: w.cacheDir, netnsDir: w.netnsDir, dnsDir: w.dnsDir,
    defaultNetwork: { name: 'testdefault', bridge: w.bridge, subnet: w.subnet, ipamDataDir: w.ipamDir },
  });
}

async function withWorld(fn: (w: World) => Promise<void>): Promise<void> {
  const w = newWorld();
  try {
    await fn(w);
  } finally {
    await managerFor(w).sweep(() => false).catch(() => undefined); // after a failure: take down what is left
    w.cleanup();
  }
}

test('setup writes the default network, attaches lo and eth0, publishes ports; teardown removes it all', () => withWorld(async (w) => {
  const m = managerFor(w);
  const id = `mgr-${process.pid}`;
  const st = await m.setup(id, { portMappings: parsePublish('127.0.0.1::8080') });
  try {
    assert.ok(existsSync(join(w.confDir, 'testdefault.conflist')), 'default conflist written');
    const conf = JSON.parse(readFileSync(join(w.confDir, 'testdefault.conflist'), 'utf8'));
    assert.deepEqual(conf.plugins.map((p: { type: string }) => p.type), ['bridge', 'portmap', 'firewall', 'tuning']);
    assert.equal(st.netns, join(w.netnsDir, id));
    assert.equal(st.attachments.length, 1);
    const a = st.attachments[0]!;
    assert.equal(a.network, 'testdefault');
    assert.equal(a.ifName, 'eth0');
    assert.ok(a.ips[0]!.startsWith(`${w.prefix}.`));
    assert.deepEqual(a.gateways, [`${w.prefix}.1`]);
    const links = inNetns(st.netns, ['ip', '-o', 'link']);
    assert.match(links, /1: lo: <LOOPBACK,UP,LOWER_UP>/, 'lo is up');
    assert.match(links, /eth0@/);
    const hostPort = st.portMappings[0]!.hostPort;
    assert.ok(hostPort > 0);
    // status() reads the same back from the records (as a later process would).
    const again = await managerFor(w).status(id);
    assert.deepEqual(again?.attachments.map((x) => [x.network, x.ips, x.mac]), [['testdefault', a.ips, a.mac]]);
    assert.deepEqual(again?.portMappings, st.portMappings);
    const server = await tcpServerIn(st.netns, 8080, 'via default network');
    try {
      assert.equal(await fetchTcp('127.0.0.1', hostPort), 'via default network');
    } finally {
      await stopProcess(server);
    }
    // Container files from the result.
    const files = await writeContainerFiles(join(w.dir, 'ctr'), { hostname: 'abc', name: 'web', ips: a.ips, gateway: a.gateways[0], addHosts: ['gw:host-gateway'] });
    assert.match(readFileSync(files.hosts, 'utf8'), new RegExp(`${a.ips[0]!.replace(/\./g, '\\.')}\\tabc web\\n${w.prefix.replace(/\./g, '\\.')}\\.1\\tgw`));
    assert.equal(readFileSync(files.hostname, 'utf8'), 'abc\n');
    assert.doesNotMatch(readFileSync(files.resolvConf, 'utf8'), /nameserver 127\./);
  } finally {
    await m.teardown(id);
  }
  assert.deepEqual(listNetnsFiles(w), []);
  assert.deepEqual(vethsOn(w.bridge), []);
  assert.deepEqual(attachmentChains([['testdefault', id]]), []);
  assert.deepEqual(reservations(w, 'testdefault'), []);
  assert.deepEqual(readdirSync(w.cacheDir), []);
  assert.equal(await m.status(id), undefined);
  await m.teardown(id); // repeating is harmless
}));

test('a failing second network undoes the first; sweep cleans owners that are gone', () => withWorld(async (w) => {
  const m = managerFor(w);
  await assert.rejects(m.setup(`mgr-x-${process.pid}`, { networks: ['testdefault', 'nosuch'] }), /no such network: nosuch/);
  assert.deepEqual(listNetnsFiles(w), []);
  // That failure happened before anything was attached; now fail after eth0 is up.
  const bridge2 = randomBridge();
  w.bridges.add(bridge2);
  await createNetwork(w.confDir, { name: 'second', subnet: `${randomPrefix()}.0/24`, bridge: bridge2, ipamDataDir: w.ipamDir });
  const conf = join(w.confDir, 'second.conflist');
  const doc = JSON.parse(readFileSync(conf, 'utf8'));
  doc.plugins[3] = { type: 'tuning', sysctl: { 'kernel.hostname': 'x' } }; // tuning refuses non-net sysctls
  writeFileSync(conf, JSON.stringify(doc));
  const id = `mgr-y-${process.pid}`;
  await assert.rejects(m.setup(id, { networks: ['testdefault', 'second'] }), /network "second": plugin tuning ADD failed/);
  assert.deepEqual(listNetnsFiles(w), []);
  assert.deepEqual(vethsOn(w.bridge), []);
  assert.deepEqual(vethsOn(bridge2), []);
  assert.deepEqual(reservations(w, 'testdefault'), []);
  assert.deepEqual(reservations(w, 'second'), []);
  assert.deepEqual(readdirSync(w.cacheDir), []);

  // Two containers; one "crashes" (its owner is gone) and the sweep cleans only that one.
  const live = `mgr-live-${process.pid}`;
  const dead = `mgr-dead-${process.pid}`;
  await m.setup(live);
  await m.setup(dead);
  try {
    assert.equal(reservations(w, 'testdefault').length, 2);
    assert.deepEqual(await m.containersOn('testdefault'), [dead, live].sort());
    const swept = await managerFor(w).sweep((cid) => cid === live);
    assert.deepEqual(swept, [dead]);
    assert.deepEqual(listNetnsFiles(w), [live]);
    assert.equal(reservations(w, 'testdefault').length, 1);
    assert.equal(vethsOn(w.bridge).length, 1);
  } finally {
    await m.teardown(live);
  }
  assert.deepEqual(listNetnsFiles(w), []);
  assert.deepEqual(vethsOn(w.bridge), []);
}));

test('network create / ls / inspect / rm', () => withWorld(async (w) => {
  const a = await createNetwork(w.confDir, { name: 'alpha', ipamDataDir: w.ipamDir });
  assert.match(a.subnets[0]!.subnet, /^10\.100\.\d+\.0\/24$/);
  assert.equal(a.subnets[0]!.gateway, a.subnets[0]!.subnet.replace(/0\/24$/, '1'));
  assert.match(a.bridge!, /^berth\d+$/);
  assert.ok(!linkExists(a.bridge!), `${a.bridge} was free on the host`);
  assert.equal(a.internal, false);
  assert.equal(a.dnsEnabled, true, 'names resolve on a new network');
  assert.deepEqual((await inspectNetwork(w.confDir, 'alpha')).config.plugins.map((p) => p.type), ['bridge', 'portmap', 'firewall', 'tuning', 'dnsname']);
  const b = await createNetwork(w.confDir, { name: 'beta', subnet: '10.250.9.0/24', gateway: '10.250.9.254', internal: true, bridge: w.bridge });
  assert.deepEqual(b.subnets, [{ subnet: '10.250.9.0/24', gateway: '10.250.9.254' }]);
  assert.equal(b.internal, true);
  const c = await createNetwork(w.confDir, { name: 'nodns', subnet: '10.250.10.0/24', bridge: w.bridge, dns: false });
  assert.equal(c.dnsEnabled, false);
  assert.ok(!c.plugins.includes('dnsname'));
  await removeNetwork(w.confDir, 'nodns', [], w.dnsDir);
  const ib = await inspectNetwork(w.confDir, 'beta');
  assert.equal(ib.config.plugins[0]!.isGateway, false);
  assert.equal(ib.config.plugins[0]!.ipMasq, false);
  await assert.rejects(createNetwork(w.confDir, { name: 'alpha' }), /network alpha already exists/);
  await assert.rejects(createNetwork(w.confDir, { name: 'gamma', subnet: '10.250.0.0/16' }),
    /^AlreadyExists: subnet 10.250.0.0\/16 is already used on the host or by another config \(network beta\)$/);
  await assert.rejects(createNetwork(w.confDir, { name: 'delta', subnet: '10.251.0.0/24', gateway: '10.9.9.9' }), /gateway 10.9.9.9 is not inside subnet 10.251.0.0\/24/);
  await assert.rejects(createNetwork(w.confDir, { name: 'bad name' }), /invalid network name "bad name"/);
  const { networks } = await listNetworks(w.confDir);
  assert.deepEqual(networks.map((n) => n.name), ['alpha', 'beta']);
  await assert.rejects(removeNetwork(w.confDir, 'beta', ['ctr1'], w.dnsDir), /network beta is in use by container\(s\) ctr1/);
  await removeNetwork(w.confDir, 'beta', [], w.dnsDir);
  // alpha's bridge name is a real-looking host name (berth1): drop only its file here.
  rmSync(join(w.confDir, 'alpha.conflist'));
  await assert.rejects(removeNetwork(w.confDir, 'alpha', [], w.dnsDir), /no such network: alpha/);
  assert.deepEqual(readdirSync(w.confDir), []);
}));

test('network create keeps off the host: its interfaces, addresses and routes; rm deletes only bridges berth made', () => withWorld(async (w) => {
  // Another system's bridge with an address and a route, as another network manager or a VPN leaves them.
  const other = randomBridge();
  w.bridges.add(other);
  execFileSync('ip', ['link', 'add', other, 'type', 'bridge']);
  const first = await createNetwork(w.confDir, { name: 'probe' });
  rmSync(join(w.confDir, 'probe.conflist'));
  const [a, b, c] = first.subnets[0]!.subnet.split('.');
  const next = `${a}.${b}.${(Number(c) + 1) % 256}`;
  execFileSync('ip', ['address', 'add', `${a}.${b}.${c}.1/24`, 'dev', other]);
  execFileSync('ip', ['link', 'set', other, 'up']);
  execFileSync('ip', ['route', 'add', `${next}.0/24`, 'dev', other]);
  try {
    await assert.rejects(createNetwork(w.confDir, { name: 'clash', subnet: `${a}.${b}.${c}.0/25` }),
      new RegExp(`^AlreadyExists: subnet ${a}\\.${b}\\.${c}\\.0/25 is already used on the host or by another config \\(address ${a}\\.${b}\\.${c}\\.1/24 on ${other}\\)$`));
    await assert.rejects(createNetwork(w.confDir, { name: 'clash', subnet: `${next}.128/25` }),
      new RegExp(`already used on the host or by another config \\(route ${next.replace(/\./g, '\\.')}\\.0/24 dev ${other}\\)`));
    // Inside a wider route, as 10.88.0.0/24 inside another manager's 10.88.0.0/16.
    await assert.rejects(createNetwork(w.confDir, { name: 'clash', subnet: `${a}.${b}.${c}.64/26` }), /already used on the host/);
    const picked = await createNetwork(w.confDir, { name: 'picked' });
    const s = parseSubnet(picked.subnets[0]!.subnet);
    assert.ok(!overlaps(s, parseSubnet(`${a}.${b}.${c}.0/24`)) && !overlaps(s, parseSubnet(`${next}.0/24`)), `picked ${s.cidr}`);
    rmSync(join(w.confDir, 'picked.conflist'));

    // A host interface with the name berth would pick is skipped.
    const taken = first.bridge!;
    w.bridges.add(taken);
    execFileSync('ip', ['link', 'add', taken, 'type', 'bridge']);
    const skipped = await createNetwork(w.confDir, { name: 'skipped' });
    assert.notEqual(skipped.bridge, taken);
    assert.ok(!linkExists(skipped.bridge!));
    await removeNetwork(w.confDir, 'skipped', [], w.dnsDir);
    assert.ok(linkExists(taken), 'a device berth did not make stays');
    deleteLink(taken);

    // Named bridges: an existing one is used but never deleted; a new one is berth's to delete.
    await createNetwork(w.confDir, { name: 'theirs', subnet: `${w.prefix}.0/25`, bridge: other });
    await removeNetwork(w.confDir, 'theirs', [], w.dnsDir);
    assert.ok(linkExists(other), `${other} is still there`);
    await assert.rejects(createNetwork(w.confDir, { name: 'lo-net', subnet: `${w.prefix}.0/25`, bridge: 'lo' }), /lo is a host interface, not a bridge/);
    await createNetwork(w.confDir, { name: 'ours', subnet: `${w.prefix}.0/25`, bridge: w.bridge });
    execFileSync('ip', ['link', 'add', w.bridge, 'type', 'bridge']); // what the bridge plugin does on first use
    await removeNetwork(w.confDir, 'ours', [], w.dnsDir);
    assert.ok(!linkExists(w.bridge), `${w.bridge} was removed`);
  } finally {
    deleteLink(other); // takes its address and route along
  }
  assert.deepEqual(readdirSync(w.confDir), []);
}));
