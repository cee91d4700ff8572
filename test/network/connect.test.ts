// network connect / disconnect through the CLI with real CNI plugins: a running container
// gets eth1 on a second network and reaches a container there; disconnect takes the
// interface, the address reservation, the veth and the rules away; the list survives a
// stop and start, and a stopped container's connect waits for its next start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berthFails, berthOk, newInstance, type Instance } from '../helpers/index.js';
import { attachmentChains, vethsOn } from './fixture.js';

const ok = berthOk;
const failsWith = berthFails;

/** host-local's reservations on a network of the instance: one file per address. */
function reserved(inst: Instance, network: string): string[] {
  const dir = join(inst.root, 'cni', 'networks', network);
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort() : [];
}

const ipv4Of = (out: string, ifName: string) => new RegExp(`\\d+: ${ifName}\\s+inet (\\d+\\.\\d+\\.\\d+\\.\\d+)/`).exec(out)?.[1];

interface Endpoint {
  IPAddress: string;
  InterfaceName: string;
  Aliases: string[];
}

async function networksOf(inst: Instance, name: string): Promise<Record<string, Endpoint>> {
  return JSON.parse(await ok(inst, ['inspect', '-f', '{{json .NetworkSettings.Networks}}', name]));
}

test('connect gives a running container a second interface that reaches the network; disconnect frees it all', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const [a, b, c] = inst.subnet.split('.');
  const third = `${a}.${b}.${(Number(c) + 128) % 256}`;
  const bridge = `${inst.bridge}n`.slice(0, 15);
  t.after(() => {
    try {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    } catch {
      // not made
    }
  });
  await ok(inst, ['network', 'create', '--subnet', `${third}.0/24`, 'backend']);
  // The test's own bridge name, so parallel runs do not share one.
  const file = join(inst.base, 'cni', 'backend.conflist');
  const conf = JSON.parse(readFileSync(file, 'utf8'));
  conf.plugins[0].bridge = bridge;
  writeFileSync(file, JSON.stringify(conf));

  await ok(inst, ['run', '-d', '--name', 'server', '--network', 'backend', img, 'sh', '-c', 'while :; do nc -l -p 7070 -e echo from-server; done']);
  const serverIp = (await networksOf(inst, 'server')).backend!.IPAddress;
  assert.ok(serverIp.startsWith(`${third}.`), serverIp);
  await ok(inst, ['run', '-d', '--name', 'client', img, 'sleep', '600']);
  const clientId = (await ok(inst, ['inspect', '-f', '{{.Id}}', 'client'])).trim();
  assert.equal(vethsOn(bridge).length, 1);

  assert.equal(await ok(inst, ['network', 'connect', '--alias', 'api', '--alias', 'api2', 'backend', 'client']), '');
  const addrs = await ok(inst, ['exec', 'client', 'ip', '-o', '-4', 'addr']);
  const eth1 = ipv4Of(addrs, 'eth1');
  assert.ok(eth1?.startsWith(`${third}.`), addrs);
  assert.ok(ipv4Of(addrs, 'eth0')?.startsWith(`${a}.${b}.${c}.`), 'eth0 stays on the default network');
  assert.match(await ok(inst, ['exec', 'client', 'ip', 'route', 'get', serverIp]), /dev eth1/);
  assert.equal(await ok(inst, ['exec', 'client', 'nc', '-w', '5', serverIp, '7070']), 'from-server\n');
  assert.deepEqual(reserved(inst, 'backend'), [serverIp, eth1!].sort());
  assert.equal(vethsOn(bridge).length, 2);
  const nets = await networksOf(inst, 'client');
  assert.deepEqual(Object.keys(nets).sort(), ['backend', 'berth']);
  assert.deepEqual([nets.backend!.IPAddress, nets.backend!.InterfaceName, nets.backend!.Aliases], [eth1, 'eth1', ['api', 'api2', clientId.slice(0, 12)]]);

  await failsWith(inst, ['network', 'connect', 'backend', 'client'], new RegExp(`^berth: container ${clientId} is already connected to network "backend"\\n$`));
  await failsWith(inst, ['network', 'connect', 'nosuch', 'client'], /^berth: unable to find network with name or ID nosuch: network not found\n$/);
  await failsWith(inst, ['network', 'connect', 'backend', 'nosuch'], /^berth: no such container: nosuch\n$/);
  await ok(inst, ['create', '--network', 'none', '--name', 'isolated', img, 'sleep', '1']);
  await failsWith(inst, ['network', 'connect', 'backend', 'isolated'], /^berth: container isolated uses --network none: it cannot be connected to a network\n$/);
  await ok(inst, ['create', '--network', 'host', '--name', 'onhost', img, 'sleep', '1']);
  await failsWith(inst, ['network', 'disconnect', 'backend', 'onhost'], /uses --network host: it cannot be disconnected from a network/);
  await ok(inst, ['create', '--network', 'container:client', '--name', 'joined', img, 'sleep', '1']);
  await failsWith(inst, ['network', 'connect', 'backend', 'joined'], /^berth: container joined shares the network namespace of container [0-9a-f]{12}: it cannot be connected to a network\n$/);
  await ok(inst, ['rm', '-f', 'isolated', 'onhost', 'joined']);

  assert.equal(await ok(inst, ['network', 'disconnect', 'backend', 'client']), '');
  assert.equal(ipv4Of(await ok(inst, ['exec', 'client', 'ip', '-o', '-4', 'addr']), 'eth1'), undefined, 'eth1 is gone');
  assert.deepEqual(reserved(inst, 'backend'), [serverIp], 'the address went back');
  assert.equal(vethsOn(bridge).length, 1, 'the veth went');
  assert.deepEqual(attachmentChains([['backend', clientId]]), [], 'the rules went');
  assert.deepEqual(Object.keys(await networksOf(inst, 'client')), ['berth']);
  await failsWith(inst, ['network', 'disconnect', 'backend', 'client'], /^berth: container client is not connected to network backend\n$/);

  // A static address, kept across a stop and start with the rest of the list.
  const wanted = `${third}.77`;
  await ok(inst, ['network', 'connect', '--ip', wanted, 'backend', 'client']);
  assert.equal(ipv4Of(await ok(inst, ['exec', 'client', 'ip', '-o', '-4', 'addr']), 'eth1'), wanted);
  await ok(inst, ['stop', '-t', '0', 'client']);
  assert.deepEqual(reserved(inst, 'backend'), [serverIp], 'a stopped container holds no address');
  await ok(inst, ['start', 'client']);
  assert.equal(ipv4Of(await ok(inst, ['exec', 'client', 'ip', '-o', '-4', 'addr']), 'eth1'), wanted);
  assert.equal(await ok(inst, ['exec', 'client', 'nc', '-w', '5', serverIp, '7070']), 'from-server\n');

  // Stopped: only the record changes, the next start attaches. Leaving the default network
  // too leaves backend alone on eth0.
  await ok(inst, ['stop', '-t', '0', 'client']);
  await ok(inst, ['network', 'disconnect', 'berth', 'client']);
  await ok(inst, ['network', 'disconnect', 'backend', 'client']);
  await ok(inst, ['network', 'connect', 'backend', 'client']);
  assert.deepEqual(reserved(inst, 'backend'), [serverIp]);
  assert.deepEqual(Object.keys(await networksOf(inst, 'client')), ['backend']);
  await ok(inst, ['start', 'client']);
  const only = await ok(inst, ['exec', 'client', 'ip', '-o', '-4', 'addr']);
  assert.ok(ipv4Of(only, 'eth0')?.startsWith(`${third}.`), only);
  assert.equal(ipv4Of(only, 'eth1'), undefined, only);

  await ok(inst, ['rm', '-f', 'client', 'server']);
  assert.deepEqual(reserved(inst, 'backend'), []);
  assert.deepEqual(reserved(inst, 'berth'), []);
  assert.deepEqual(vethsOn(bridge), []);
  assert.deepEqual(attachmentChains([['backend', clientId], ['berth', clientId]]), []);
  await ok(inst, ['network', 'rm', 'backend']);
});
