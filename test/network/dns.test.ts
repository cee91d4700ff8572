// Names on user networks through the real CNI dnsname plugin and dnsmasq: containers find
// each other by name and --network-alias, not across networks, not on the default network;
// the dnsmasq of a network goes with its last container and with `network rm`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dnsnameDir, removeNetwork, createNetwork as createNetworkConf } from '../../src/network/index.js';
import { TEST_DIR_PREFIX, isAlive, killAndWait, newInstance, processesUsing, spawnSleeper, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** The dnsname plugin's rules on a bridge: ACCEPT of DNS in INPUT. */
function dnsRules(bridge: string): string[] {
  return execFileSync('iptables', ['-S', 'INPUT'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(` -i ${bridge} `) && l.includes('--dport 53'));
}

function dropDnsRules(bridge: string): void {
  for (const rule of dnsRules(bridge)) execFileSync('iptables', ['-D', ...rule.split(' ').slice(1)], { stdio: 'ignore' });
}

/** The dnsmasq processes of this instance, by the network their conf file is for. */
function dnsmasqs(inst: Instance): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of processesUsing(inst.base)) {
    if (!p.cmdline[0]?.endsWith('dnsmasq')) continue;
    const conf = p.cmdline.find((a) => a.startsWith('--conf-file='));
    out.set(conf?.split('/').at(-2) ?? '?', p.pid);
  }
  return out;
}

/** The host's name servers as a container gets them after the network's (loopback ones dropped, docker's fallback). */
function hostServers(): string[] {
  const servers = readFileSync('/etc/resolv.conf', 'utf8').split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((s): s is string => !!s);
  const usable = servers.filter((s) => !s.startsWith('127.') && !s.includes(':'));
  return usable.length > 0 ? usable : ['8.8.8.8', '8.8.4.4'];
}

/** `network create` with a subnet and a bridge of this instance's own (the conflist is edited to name it). */
async function createNetwork(inst: Instance, name: string, third: number, bridge: string, flags: string[] = []): Promise<{ subnet: string; gateway: string; file: string }> {
  const prefix = `${inst.subnet.split('.').slice(0, 2).join('.')}.${third % 256}`;
  await ok(inst, ['network', 'create', '--subnet', `${prefix}.0/24`, ...flags, name]);
  const file = join(inst.base, 'cni', `${name}.conflist`);
  const conf = JSON.parse(readFileSync(file, 'utf8'));
  conf.plugins[0].bridge = bridge;
  writeFileSync(file, JSON.stringify(conf));
  return { subnet: `${prefix}.0/24`, gateway: `${prefix}.1`, file };
}

test('user networks: names and aliases resolve through dnsname, only on their own network; dnsmasq goes with the last container and network rm', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const third = Number(inst.subnet.split('.')[2]);
  const bridges = [`${inst.bridge}n`, `${inst.bridge}o`];
  t.after(() => {
    for (const b of bridges) {
      dropDnsRules(b); // after a failure before `network rm`
      try {
        execFileSync('ip', ['link', 'del', b], { stdio: 'ignore' });
      } catch {
        // not made
      }
    }
  });
  const dnet = await createNetwork(inst, 'dnet', third + 128, bridges[0]!);
  const other = await createNetwork(inst, 'other', third + 160, bridges[1]!);
  const conf = JSON.parse(readFileSync(dnet.file, 'utf8'));
  assert.deepEqual(conf.plugins.at(-1), { type: 'dnsname', domainName: 'dns.berth', capabilities: { aliases: true } }, 'chained last, as podman');
  assert.equal((await ok(inst, ['network', 'inspect', '-f', '{{.DNSEnabled}}', 'dnet'])).trim(), 'true');

  // --disable-dns: no plugin; --network-alias needs a network.
  await ok(inst, ['network', 'create', '--disable-dns', 'plain']);
  assert.ok(!readFileSync(join(inst.base, 'cni', 'plain.conflist'), 'utf8').includes('dnsname'));
  assert.equal((await ok(inst, ['network', 'inspect', '-f', '{{.DNSEnabled}}', 'plain'])).trim(), 'false');
  assert.match(await ok(inst, ['network', 'ls', '--format', '{{.Name}} {{.DNSEnabled}}']), /^dnet true\nother true\nplain false$/m);
  await ok(inst, ['network', 'rm', 'plain']);
  const refused = await inst.run(['run', '--rm', '--network', 'none', '--network-alias', 'x', img, 'true']);
  assert.equal(refused.code, 125);
  assert.match(refused.stderr, /^berth: --network-alias cannot be used with --network none$/m);

  await ok(inst, ['run', '-d', '--name', 'srv', '--network', 'dnet', '--network-alias', 'web', '--network-alias', 'www', img,
    'sh', '-c', 'while true; do echo pong | nc -l -p 8080; done']);
  await ok(inst, ['run', '-d', '--name', 'peer', '--network', 'other', img, 'sleep', '600']);
  const srvIp = (await ok(inst, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'srv'])).trim();
  // One dnsmasq per network, its files in this instance's run root.
  const dir = join(inst.runRoot, 'dnsname', 'containers', 'cni', 'dnsname');
  assert.deepEqual([...dnsmasqs(inst).keys()].sort(), ['dnet', 'other']);
  const srvId = (await ok(inst, ['inspect', '-f', '{{.Id}}', 'srv'])).trim().slice(0, 12);
  assert.match(readFileSync(join(dir, 'dnet', 'addnhosts'), 'utf8'), new RegExp(`^${srvIp.replace(/\./g, '\\.')}\\s+srv\\s+web\\s+www\\s+${srvId}$`, 'm'), 'name, aliases, short id');
  assert.equal(dnsRules(bridges[0]!).length, 1, 'the plugin opens DNS on the bridge');

  // By name, by alias, fully qualified; nc, nslookup and ping.
  const client = await ok(inst, ['run', '--rm', '--network', 'dnet', img, 'sh', '-c',
    // The server's nc listens again a moment after each answer: retry while it is refused.
    'reach() { for i in $(seq 30); do nc "$1" 8080 </dev/null | grep pong && return; sleep 0.1; done; }; '
    + `cat /etc/resolv.conf /etc/hosts; nslookup srv; nslookup web; nslookup ${srvId}; reach srv; reach www.dns.berth; ping -c 1 -W 3 web`]);
  const resolv = client.split('\n').filter((l) => /^(search|nameserver) /.test(l));
  assert.deepEqual(resolv, ['search dns.berth', `nameserver ${dnet.gateway}`, ...hostServers().map((s) => `nameserver ${s}`)], 'the network\'s dnsmasq first, the host\'s servers after it');
  assert.match(client, new RegExp(`^${dnet.gateway.replace(/\./g, '\\.')}\\thost\\.containers\\.internal$`, 'm'), 'the host is the bridge gateway');
  assert.match(client, /^Name:\s+srv\.dns\.berth\nAddress: (\S+)$/m);
  assert.equal(/^Name:\s+srv\.dns\.berth\nAddress: (\S+)$/m.exec(client)![1], srvIp);
  assert.equal(/^Name:\s+web\.dns\.berth\nAddress: (\S+)$/m.exec(client)?.[1], srvIp, 'the alias');
  assert.equal(new RegExp(`^Name:\\s+${srvId}\\.dns\\.berth\\nAddress: (\\S+)$`, 'm').exec(client)?.[1], srvIp, 'the short id');
  assert.equal(client.match(/^pong$/gm)?.length, 2, client);
  assert.match(client, /1 packets received/);

  // Another network has its own names only; the default network has none.
  const across = await inst.run(['exec', 'peer', 'sh', '-c', `grep -q '^nameserver ${other.gateway}$' /etc/resolv.conf || exit 8; nslookup peer >/dev/null || exit 9; `
    + 'nslookup srv; nslookup web.dns.berth; nc -w 2 srv 8080 </dev/null; exit 0']);
  assert.equal(across.code, 0, `peer resolves itself on its network: ${across.stdout}${across.stderr}`);
  assert.doesNotMatch(across.stdout, new RegExp(srvIp.replace(/\./g, '\\.')));
  assert.match(across.stdout + across.stderr, /can't find srv/);
  assert.doesNotMatch(across.stdout, /pong/);
  const plain = await inst.run(['run', '--rm', img, 'sh', '-c', 'cat /etc/resolv.conf /etc/hosts; nslookup srv']);
  assert.notEqual(plain.code, 0, 'srv is not a name on the default network');
  assert.doesNotMatch(plain.stdout, /dns\.berth/);
  assert.deepEqual(plain.stdout.split('\n').filter((l) => l.startsWith('nameserver ')), hostServers().map((s) => `nameserver ${s}`));
  const defaultGateway = `${inst.subnet.split('.').slice(0, 3).join('.')}.1`;
  assert.match(plain.stdout, new RegExp(`^${defaultGateway.replace(/\./g, '\\.')}\\thost\\.containers\\.internal$`, 'm'));
  assert.deepEqual([...dnsmasqs(inst).keys()].sort(), ['dnet', 'other'], 'no dnsmasq for the default network');

  // A restart re-registers the names; the last container's removal stops its network's dnsmasq.
  await ok(inst, ['restart', '-t', '0', 'srv']);
  assert.match(readFileSync(join(dir, 'dnet', 'addnhosts'), 'utf8'), new RegExp(`\\ssrv\\s+web\\s+www\\s+${srvId}$`, 'm'));
  await ok(inst, ['rm', '-f', 'srv']);
  assert.deepEqual([...dnsmasqs(inst).keys()], ['other']);
  assert.ok(!existsSync(join(dir, 'dnet')), 'its files are gone');
  await ok(inst, ['rm', '-f', 'peer']);
  assert.deepEqual([...dnsmasqs(inst).keys()], []);
  await ok(inst, ['network', 'rm', 'dnet', 'other']);
  assert.deepEqual(readdirSync(dir), []);
  for (const b of bridges) assert.deepEqual(dnsRules(b), [], `no rule left on ${b}`);
});

test('network rm ends what dnsname left without a DEL: its dnsmasq (not a process that took its pid), files, INPUT rules', async (t) => {
  const dir = mkdtempSync(`/tmp/${TEST_DIR_PREFIX}dns-`);
  const confDir = join(dir, 'net.d');
  const dnsDir = join(dir, 'dnsname');
  const bridge = `bth${process.pid % 100000}d`;
  const spawned: number[] = [];
  t.after(async () => {
    dropDnsRules(bridge);
    await killAndWait(spawned.filter(isAlive));
    rmSync(dir, { recursive: true, force: true });
  });
  await createNetworkConf(confDir, { name: 'left', subnet: '10.249.250.0/24', bridge, ipamDataDir: join(dir, 'ipam') });
  const startDnsmasq = (network: string) => {
    const d = dnsnameDir(dnsDir, network);
    mkdirSync(d, { recursive: true });
    // As the plugin writes it, minus the listening (port 0: no DNS, nothing bound).
    writeFileSync(join(d, 'dnsmasq.conf'), `port=0\npid-file=${join(d, 'pidfile')}\n`);
    execFileSync('dnsmasq', ['-u', 'root', `--conf-file=${join(d, 'dnsmasq.conf')}`], { stdio: 'ignore', timeout: 10_000 });
    const pid = Number(readFileSync(join(d, 'pidfile'), 'utf8').trim());
    spawned.push(pid);
    return pid;
  };
  const pid = startDnsmasq('left');
  assert.ok(isAlive(pid));
  execFileSync('iptables', ['-A', 'INPUT', '-i', bridge, '-p', 'udp', '-m', 'udp', '--dport', '53', '-j', 'ACCEPT']);
  await removeNetwork(confDir, 'left', [], dnsDir);
  for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(!isAlive(pid), 'the leftover dnsmasq is gone');
  assert.ok(!existsSync(dnsnameDir(dnsDir, 'left')));
  assert.deepEqual(dnsRules(bridge), []);

  // A pid file naming a process that is not this network's dnsmasq: that process stays.
  await createNetworkConf(confDir, { name: 'reused', subnet: '10.249.251.0/24', bridge, ipamDataDir: join(dir, 'ipam') });
  const sleeper = spawnSleeper(t).pid;
  mkdirSync(dnsnameDir(dnsDir, 'reused'), { recursive: true });
  writeFileSync(join(dnsnameDir(dnsDir, 'reused'), 'pidfile'), `${sleeper}\n`);
  await removeNetwork(confDir, 'reused', [], dnsDir);
  assert.ok(isAlive(sleeper));
  assert.ok(!existsSync(dnsnameDir(dnsDir, 'reused')));
});
