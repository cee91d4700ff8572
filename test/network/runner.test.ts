// The CNI runner against Debian's real plugins, in real network namespaces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isBerthError as isBerthErrorOf } from '../../src/errors/index.js';
import { CniRunner, createNetns, removeNetns, summarize, type NetworkConfigList } from '../../src/network/index.js';
import {
  attachmentChains, linkExists, bridgeConfList, fakePlugin, fetchTcp, inNetns, iptablesRules, listNetnsFiles, newWorld,
  reservations, stopProcess, tcpServerIn, vethsOn, writeConf, type World,
} from './fixture.js';

const PLUGIN_DIRS = ['/opt/cni/bin', '/usr/lib/cni'];

function runnerFor(w: World, extra: Partial<{ pluginDirs: string[]; timeoutMs: number }> = {}): CniRunner {
  return new CniRunner({ confDir: w.confDir, cacheDir: w.cacheDir, pluginDirs: extra.pluginDirs ?? PLUGIN_DIRS, timeoutMs: extra.timeoutMs });
}

interface Snapshot { rules: string[] }
function snapshot(w: World, ids: string[]): Snapshot {
  return { rules: iptablesRules(w.prefix, ids) };
}
/** Nothing of the attachments is left: no netns file, veth, rule, chain, reservation, record. */
function assertNothingLeft(w: World, before: Snapshot, ids: string[], network: string): void {
  assert.deepEqual(listNetnsFiles(w), [], 'netns files');
  assert.deepEqual(vethsOn(w.bridge), [], 'veths on the bridge');
  assert.deepEqual(iptablesRules(w.prefix, ids), before.rules, 'iptables rules');
  assert.deepEqual(attachmentChains(ids.map((id) => [network, id])), [], 'per-attachment iptables chains');
  assert.deepEqual(reservations(w, network), [], 'host-local reservations');
  assert.deepEqual(existsSync(w.cacheDir) ? readdirSync(w.cacheDir) : [], [], 'attachment records');
}

function withWorld(fn: (w: World) => Promise<void>) {
  return async () => {
    const w = newWorld();
    try {
      await fn(w);
    } finally {
      // After a failure: detach what the test left attached before removing its dirs.
      const runner = runnerFor(w);
      for (const e of await runner.cache.list()) await runner.del(e.networkName, e).catch(() => undefined);
      w.cleanup();
    }
  };
}

test('two namespaces on a bridge reach each other; DEL removes everything', withWorld(async (w) => {
  const ids = [`ct-a-${process.pid}`, `ct-b-${process.pid}`];
  const before = snapshot(w, ids);
  writeConf(w, '10-test.conflist', bridgeConfList(w, 'testnet'));
  const runner = runnerFor(w);
  const list = await runner.getNetwork('testnet');
  const paths: string[] = [];
  const addrs: string[] = [];
  const hostVeths: string[] = [];
  try {
    for (const id of ids) {
      const ns = await createNetns(w.netnsDir, id);
      paths.push(ns);
      const result = await runner.add(list, { containerId: id, netns: ns, ifName: 'eth0' });
      const s = summarize(result, 'eth0');
      assert.equal(s.ips.length, 1);
      assert.ok(s.ips[0]!.startsWith(`${w.prefix}.`), s.ips[0]);
      assert.deepEqual(s.gateways, [`${w.prefix}.1`]);
      assert.match(s.mac ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      addrs.push(s.ips[0]!);
      hostVeths.push(...(result.interfaces ?? []).filter((i) => !i.sandbox && i.name !== w.bridge).map((i) => i.name));
    }
    assert.equal(hostVeths.length, 2);
    assert.ok(hostVeths.every(linkExists));
    assert.equal(attachmentChains(ids.map((id) => ['testnet', id])).length, 2, 'one masquerade chain each');
    assert.equal(reservations(w, 'testnet').length, 2);
    assert.equal(vethsOn(w.bridge).length, 2);
    const ping = inNetns(paths[0]!, ['busybox', 'ping', '-c', '1', '-W', '3', addrs[1]!]);
    assert.match(ping, /1 packets received/);
    // Listener in B, client in A.
    const server = await tcpServerIn(paths[1]!, 7777, 'hello from b');
    try {
      const got = inNetns(paths[0]!, ['busybox', 'nc', '-w', '3', addrs[1]!, '7777']);
      assert.equal(got, 'hello from b');
    } finally {
      await stopProcess(server);
    }
    // CHECK passes for a healthy attachment.
    await runner.check('testnet', { containerId: ids[0]!, ifName: 'eth0' });
  } finally {
    for (const [i, id] of ids.entries()) {
      if (paths[i]) await runner.del('testnet', { containerId: id, ifName: 'eth0' });
      if (paths[i]) await removeNetns(paths[i]!);
    }
  }
  assertNothingLeft(w, before, ids, 'testnet');
  assert.deepEqual(hostVeths.filter(linkExists), [], 'host-side veths are gone');
}));

test('a published port answers at 127.0.0.1 through portmap', withWorld(async (w) => {
  const id = `ct-port-${process.pid}`;
  const before = snapshot(w, [id]);
  writeConf(w, '10-test.conflist', bridgeConfList(w, 'portnet'));
  const runner = runnerFor(w);
  const list = await runner.getNetwork('portnet');
  const ns = await createNetns(w.netnsDir, id);
  const hostPort = 20000 + Math.floor(Math.random() * 20000);
  try {
    await runner.add(list, {
      containerId: id, netns: ns, ifName: 'eth0',
      capabilityArgs: { portMappings: [{ hostPort, containerPort: 8080, protocol: 'tcp' }] },
    });
    const server = await tcpServerIn(ns, 8080, 'published');
    try {
      assert.equal(await fetchTcp('127.0.0.1', hostPort), 'published');
    } finally {
      await stopProcess(server);
    }
  } finally {
    await runner.del('portnet', { containerId: id, ifName: 'eth0' });
    await removeNetns(ns);
  }
  assertNothingLeft(w, before, [id], 'portnet');
  await assert.rejects(fetchTcp('127.0.0.1', hostPort, 2000), 'the port is closed after DEL');
}));

test('a broken conflist gives a clear error naming the file', withWorld(async (w) => {
  writeConf(w, '10-bad.conflist', '{"cniVersion": "1.0.0", "name": "bad", "plugins": [ {"type": "bridge"} ');
  writeConf(w, '20-noplugins.conflist', { cniVersion: '1.0.0', name: 'empty', plugins: [] });
  writeConf(w, '30-oldversion.conflist', { cniVersion: '0.2.0', name: 'old', plugins: [{ type: 'bridge' }] });
  const runner = runnerFor(w);
  const { networks, invalid } = await runner.loadNetworks();
  assert.equal(networks.size, 0);
  assert.equal(invalid.length, 3);
  assert.match(invalid[0]!.error, /10-bad\.conflist: invalid JSON/);
  assert.match(invalid[1]!.error, /"plugins" must be a non-empty list/);
  assert.match(invalid[2]!.error, /unsupported cniVersion "0\.2\.0"/);
  await assert.rejects(runner.getNetwork('bad'), (e) => isBerthErrorOf(e, 'InvalidArgument') && /invalid JSON/.test((e as Error).message));
  await assert.rejects(runner.getNetwork('nope'), (e) => isBerthErrorOf(e, 'NotFound') && (e as Error).message === 'no such network: nope');
}));

test('a missing plugin fails ADD clearly and leaves nothing behind', withWorld(async (w) => {
  const id = `ct-miss-${process.pid}`;
  const before = snapshot(w, [id]);
  writeConf(w, '10-test.conflist', bridgeConfList(w, 'missnet', { plugins: [{ type: 'no-such-plugin' }] }));
  const runner = runnerFor(w);
  const list = await runner.getNetwork('missnet');
  const ns = await createNetns(w.netnsDir, id);
  try {
    await assert.rejects(runner.add(list, { containerId: id, netns: ns, ifName: 'eth0' }), (e) => {
      assert.ok(isBerthErrorOf(e, 'NotFound'));
      assert.match((e as Error).message, /network "missnet": CNI plugin "no-such-plugin" not found in \/opt\/cni\/bin:\/usr\/lib\/cni/);
      return true;
    });
    assert.deepEqual(inNetns(ns, ['ip', '-o', 'link']).split('\n').filter(Boolean).length, 1, 'only lo is left in the netns');
  } finally {
    await removeNetns(ns);
  }
  assertNothingLeft(w, before, [id], 'missnet');
}));

test('a plugin failing mid-chain: its error is reported and the chain is rolled back', withWorld(async (w) => {
  const id = `ct-fail-${process.pid}`;
  const before = snapshot(w, [id]);
  // tuning rejects a sysctl outside net.*; it runs after bridge, portmap and firewall.
  const list0 = bridgeConfList(w, 'failnet');
  list0.plugins[3] = { type: 'tuning', sysctl: { 'kernel.hostname': 'x' } };
  writeConf(w, '10-test.conflist', list0);
  const runner = runnerFor(w);
  const list = await runner.getNetwork('failnet');
  const ns = await createNetns(w.netnsDir, id);
  try {
    await assert.rejects(runner.add(list, {
      containerId: id, netns: ns, ifName: 'eth0',
      capabilityArgs: { portMappings: [{ hostPort: 30000 + Math.floor(Math.random() * 20000), containerPort: 80, protocol: 'tcp' }] },
    }), (e) => {
      assert.match((e as Error).message, /^network "failnet": plugin tuning ADD failed: .*kernel\.hostname/);
      return true;
    });
  } finally {
    await removeNetns(ns);
  }
  assertNothingLeft(w, before, [id], 'failnet');
}));

test('DEL after a restart uses the cached config even when the file changed', withWorld(async (w) => {
  const id = `ct-rst-${process.pid}`;
  const before = snapshot(w, [id]);
  writeConf(w, '10-test.conflist', bridgeConfList(w, 'rstnet', { version: '0.4.0' }));
  const ns = await createNetns(w.netnsDir, id);
  try {
    const first = runnerFor(w);
    const result = await first.add(await first.getNetwork('rstnet'), { containerId: id, netns: ns, ifName: 'eth0' });
    assert.equal(result.cniVersion, '0.4.0');
    assert.equal(reservations(w, 'rstnet').length, 1);
    // The administrator points the network at another bridge and subnet.
    const other = newWorld();
    try {
      writeConf(w, '10-test.conflist', bridgeConfList(w, 'rstnet', { bridge: other.bridge, prefix: other.prefix }));
      const second = runnerFor(w); // a new process, in effect: nothing in memory
      const cached = await second.cache.read('rstnet', id, 'eth0');
      assert.equal(cached?.state, 'added');
      await second.del('rstnet', { containerId: id, ifName: 'eth0' });
      assert.equal(vethsOn(other.bridge).length, 0);
    } finally {
      other.cleanup();
    }
    assert.deepEqual(inNetns(ns, ['ip', '-o', 'link']).split('\n').filter(Boolean).length, 1, 'eth0 is gone from the netns');
  } finally {
    await removeNetns(ns);
  }
  assertNothingLeft(w, before, [id], 'rstnet');
}));

test('GC deletes cached attachments that are no longer valid', withWorld(async (w) => {
  const ids = [`ct-gc1-${process.pid}`, `ct-gc2-${process.pid}`];
  const before = snapshot(w, ids);
  writeConf(w, '10-test.conflist', bridgeConfList(w, 'gcnet'));
  const runner = runnerFor(w);
  const list = await runner.getNetwork('gcnet');
  const nss = [await createNetns(w.netnsDir, ids[0]!), await createNetns(w.netnsDir, ids[1]!)];
  try {
    for (const [i, id] of ids.entries()) await runner.add(list, { containerId: id, netns: nss[i]!, ifName: 'eth0' });
    await runner.gc(list, [{ containerId: ids[0]!, ifName: 'eth0' }]);
    assert.equal(reservations(w, 'gcnet').length, 1, 'the stale reservation was released');
    assert.deepEqual((await runner.cache.list()).map((e) => e.containerId), [ids[0]]);
    await runner.del('gcnet', { containerId: ids[0]!, ifName: 'eth0' });
  } finally {
    for (const ns of nss) await removeNetns(ns);
  }
  assertNothingLeft(w, before, ids, 'gcnet');
}));

test('protocol details: CNI_ARGS, runtimeConfig by capability, prevResult, 1.1 GC and STATUS, error objects, timeouts', withWorld(async (w) => {
  // The installed plugins speak at most 1.0.0 and do not fail or hang on demand: a
  // recording shell plugin stands in for these protocol cases.
  const bin = join(w.dir, 'bin');
  const logDir = join(w.dir, 'log');
  fakePlugin(bin, 'recorder', [
    `mkdir -p ${logDir}; n=$(ls ${logDir} | wc -l)`,
    `in=$(cat); printf '%s\\n%s\\n%s\\n%s\\n' "$CNI_COMMAND" "$CNI_ARGS" "$CNI_IFNAME" "$in" > ${logDir}/$n`,
    'case "$CNI_COMMAND" in ADD) echo \'{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","mac":"02:00:00:00:00:01","sandbox":"/x"}],"ips":[{"address":"10.1.2.3/24","gateway":"10.1.2.1","interface":0}]}\';; esac',
  ].join('\n'));
  fakePlugin(bin, 'failer', `cat >/dev/null; [ "$CNI_COMMAND" = DEL ] && exit 0; echo '{"cniVersion":"1.1.0","code":11,"msg":"busy","details":"try later"}'; exit 1`);
  fakePlugin(bin, 'broken', 'cat >/dev/null; echo "segfault-ish garbage" >&2; exit 2');
  fakePlugin(bin, 'sleeper', 'cat >/dev/null; exec sleep 30');
  const runner = runnerFor(w, { pluginDirs: [bin], timeoutMs: 500 });
  const list: NetworkConfigList = {
    cniVersion: '1.0.0', cniVersions: ['1.0.0', '1.1.0', '9.9.9'], name: 'proto',
    plugins: [{ type: 'recorder', capabilities: { portMappings: true, mac: false } }, { type: 'recorder', capabilities: { bandwidth: true } }],
  };
  writeConf(w, '10-proto.conflist', list);
  const loaded = await runner.getNetwork('proto');
  assert.equal(loaded.cniVersion, '1.1.0', 'the highest supported of cniVersions');
  const readLog = () => readdirSync(logDir).sort((a, b) => Number(a) - Number(b)).map((n) => {
    const [command, args, ifName, ...json] = readFileLines(join(logDir, n));
    return { command, args, ifName, stdin: JSON.parse(json.join('\n')) };
  });
  await runner.add(loaded, {
    containerId: 'c1', netns: '/nonexistent', ifName: 'eth3', args: [['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'p']],
    capabilityArgs: { portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }], mac: 'x', bandwidth: { ingressRate: 1 } },
  });
  await runner.check('proto', { containerId: 'c1', ifName: 'eth3' });
  await runner.status(loaded);
  await runner.gc(loaded, [{ containerId: 'c1', ifName: 'eth3' }]);
  await runner.del('proto', { containerId: 'c1', ifName: 'eth3' });
  const calls = readLog();
  assert.deepEqual(calls.map((c) => c.command), ['ADD', 'ADD', 'CHECK', 'CHECK', 'STATUS', 'STATUS', 'GC', 'GC', 'DEL', 'DEL']);
  assert.equal(calls[0]!.args, 'IgnoreUnknown=1;K8S_POD_NAME=p');
  assert.equal(calls[0]!.ifName, 'eth3');
  assert.deepEqual(calls[0]!.stdin.runtimeConfig, { portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }] });
  assert.equal(calls[0]!.stdin.prevResult, undefined);
  assert.equal(calls[0]!.stdin.name, 'proto');
  assert.equal(calls[0]!.stdin.cniVersion, '1.1.0');
  assert.deepEqual(calls[1]!.stdin.runtimeConfig, { bandwidth: { ingressRate: 1 } });
  assert.equal(calls[1]!.stdin.prevResult.ips[0].address, '10.1.2.3/24');
  assert.equal(calls[2]!.stdin.prevResult.ips[0].address, '10.1.2.3/24', 'CHECK gets the cached result');
  assert.deepEqual(calls[6]!.stdin['cni.dev/valid-attachments'], [{ containerID: 'c1', ifname: 'eth3' }]);
  assert.equal(calls[8]!.stdin.prevResult.ips[0].address, '10.1.2.3/24', 'DEL gets the cached result');

  // A plugin's error object becomes the message and code; ADD is rolled back with DEL.
  const failing: NetworkConfigList = { cniVersion: '1.0.0', name: 'failing', plugins: [{ type: 'recorder' }, { type: 'failer' }] };
  const n0 = readdirSync(logDir).length;
  await assert.rejects(runner.add(failing, { containerId: 'c2', netns: '/nonexistent', ifName: 'eth0' }), (e) => {
    assert.ok(isBerthErrorOf(e, 'Unavailable'));
    assert.equal((e as Error).message, 'network "failing": plugin failer ADD failed: busy: try later');
    return true;
  });
  assert.deepEqual(readLog().slice(n0).map((c) => c.command), ['ADD', 'DEL'], 'recorder was rolled back');
  assert.deepEqual(await runner.cache.list(), []);

  // When the rollback fails too, the record stays so a later sweep can retry the DEL.
  const broken: NetworkConfigList = { cniVersion: '1.0.0', name: 'broken', plugins: [{ type: 'broken' }] };
  await assert.rejects(runner.add(broken, { containerId: 'c4', netns: '/nonexistent', ifName: 'eth0' }),
    /^Error: network "broken": plugin broken ADD failed: segfault-ish garbage$|network "broken": plugin broken ADD failed: segfault-ish garbage/);
  assert.deepEqual((await runner.cache.list()).map((e) => [e.containerId, e.state]), [['c4', 'adding']]);

  // A hanging plugin is killed at the timeout.
  const hanging: NetworkConfigList = { cniVersion: '1.0.0', name: 'hanging', plugins: [{ type: 'sleeper' }] };
  const t0 = Date.now();
  await assert.rejects(runner.add(hanging, { containerId: 'c3', netns: '/nonexistent', ifName: 'eth0' }), (e) => {
    assert.ok(isBerthErrorOf(e, 'DeadlineExceeded'));
    assert.match((e as Error).message, /plugin sleeper ADD timed out after 500 ms/);
    return true;
  });
  assert.ok(Date.now() - t0 < 5000);
  // A cancelled call stops the plugin and says so.
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  await assert.rejects(runner.add(hanging, { containerId: 'c5', netns: '/nonexistent', ifName: 'eth0' }, { signal: ac.signal }), (e) => {
    assert.ok(isBerthErrorOf(e, 'Cancelled'), String(e));
    assert.match((e as Error).message, /plugin sleeper ADD was cancelled/);
    return true;
  });
}));

function readFileLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n');
}

test('DEL without a recorded result rebuilds prevResult: firewall rules and reservations go', withWorld(async (w) => {
  // A crash between a plugin's exit and the record's write leaves a record without the
  // result (an instant no test can hit from outside, so the record is edited here); the
  // attachment itself is real. One case still has its netns, the other lost it.
  const ids = [`ct-rb1-${process.pid}`, `ct-rb2-${process.pid}`];
  const before = snapshot(w, ids);
  writeConf(w, '10-test.conflist', bridgeConfList(w, 'rbnet'));
  const runner = runnerFor(w);
  const list = await runner.getNetwork('rbnet');
  for (const [i, id] of ids.entries()) {
    const ns = await createNetns(w.netnsDir, id);
    const result = await runner.add(list, { containerId: id, netns: ns, ifName: 'eth0' });
    const ip = summarize(result, 'eth0').ips[0]!;
    assert.ok(iptablesRules(w.prefix).some((r) => r.includes(`${ip}/32`) && r.includes('CNI-FORWARD')), 'firewall rules are in place');
    const entry = (await runner.cache.read('rbnet', id, 'eth0'))!;
    delete entry.result;
    entry.state = 'adding';
    await runner.cache.write(entry);
    if (i === 1) await removeNetns(ns);
    await runner.del('rbnet', { containerId: id, ifName: 'eth0', netns: i === 1 ? '' : ns });
    // Without its netns the bridge plugin cannot learn the addresses to unmasquerade: berth
    // removes its nat rule and chain (found by their comment) itself.
    const left = iptablesRules(w.prefix).filter((r) => r.includes(`${ip}/`) || r.includes(`id: \\"${id}\\"`));
    assert.deepEqual(left, [], `no rule names ${ip}`);
    if (i === 0) await removeNetns(ns);
  }
  assertNothingLeft(w, before, ids, 'rbnet');
}));
