// Network faults through the CLI: a SIGKILL of berth in the middle of network setup, a
// network whose plugins fail both ADD and DEL, and a host port published twice. Each
// asserts what is left on the host afterwards: iptables rules, IPAM files, netns, records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { createSocket } from 'node:dgram';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, newInstance, type Instance } from '../helpers/index.js';
import { contains, overlaps, parseSubnet } from '../../src/network/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** iptables rules (filter and nat, IPv4) that name this address. */
function rulesFor(ip: string): string[] {
  return execFileSync('iptables-save', [], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('-A') && l.includes(`${ip}/`));
}

function ls(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** host-local's reservations (files named after addresses) of one network of the instance. */
function reservations(inst: Instance, network: string): string[] {
  return ls(join(inst.root, 'cni', 'networks', network)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
}

function records(inst: Instance): string[] {
  return ls(join(inst.root, 'cni', 'results')).filter((f) => f.endsWith('.json'));
}

function bridgeConf(inst: Instance, name: string, subnet: string, extra: Record<string, unknown>[] = [], bridge = inst.bridge) {
  return {
    cniVersion: '1.0.0',
    name,
    plugins: [
      { type: 'bridge', bridge, isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: join(inst.root, 'cni', 'networks') } },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'firewall' },
      ...extra,
    ],
  };
}

test('a SIGKILL of berth (and its process group) while a plugin after firewall runs leaks no rule and no address', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const pluginDir = join(inst.base, 'plugins');
  mkdirSync(pluginDir);
  const started = join(inst.base, 'slow.started');
  const finished = join(inst.base, 'slow.finished');
  // A pass-through plugin: ADD waits 3 s, then prints its prevResult; other commands do nothing.
  const passThrough = `let s='';process.stdin.on('data',(d)=>(s+=d)).on('end',()=>{require('fs').writeFileSync(${JSON.stringify(finished)},'');process.stdout.write(JSON.stringify(JSON.parse(s).prevResult))})`;
  writeFileSync(
    join(pluginDir, 'slowpass'),
    `#!/bin/sh\n[ "$CNI_COMMAND" = ADD ] || exit 0\n: > ${started}\nsleep 3\nexec ${process.execPath} -e "${passThrough.replace(/"/g, '\\"')}"\n`,
    { mode: 0o755 },
  );
  appendFileSync(join(inst.configDir, 'berth.toml'), `cni_plugin_dirs = ["${pluginDir}", "/opt/cni/bin", "/usr/lib/cni"]\n`);
  mkdirSync(join(inst.base, 'cni'), { recursive: true });
  writeFileSync(join(inst.base, 'cni', '60-slow.conflist'), JSON.stringify(bridgeConf(inst, 'slow', inst.subnet, [{ type: 'slowpass' }])));

  const child = spawn(BERTH, ['run', '-d', '--network', 'slow', img, 'sleep', '100'], { env: inst.env, stdio: 'ignore', detached: true });
  const exited = new Promise((r) => child.once('exit', r));
  await until('the slow plugin to start', () => existsSync(started));
  const [ip] = reservations(inst, 'slow');
  assert.ok(ip, 'host-local reserved an address');
  assert.ok(rulesFor(ip).length >= 2, `firewall's rules for ${ip} are in place`);
  process.kill(-child.pid!, 'SIGKILL'); // the whole group, as a terminal or a supervisor would
  await exited;
  assert.ok(!existsSync(finished), 'the kill came while the plugin slept');

  // The removal waits for the plugin that outlived berth, then DELs with the recorded prevResult.
  await ok(inst, ['rm', '-f', '-a']);
  assert.ok(existsSync(finished), 'the plugin was not cut short by the group kill');
  assert.deepEqual(rulesFor(ip), [], `no rule names ${ip}`);
  assert.deepEqual(reservations(inst, 'slow'), [], 'the reservation is released');
  assert.deepEqual(ls(join(inst.runRoot, 'netns')), []);
  assert.deepEqual(records(inst), []);
  assert.equal((await ok(inst, ['ps', '-aq'])).trim(), '');
});

test('a network whose plugins fail ADD and DEL: reported once, netns released, cleared by system prune', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const file = join(inst.base, 'cni', '61-badipam.conflist');
  mkdirSync(join(inst.base, 'cni'), { recursive: true });
  // A bridge of its own: the failed ADD leaves it behind (the plugin makes it before asking IPAM).
  const bridge = `${inst.bridge}b`.slice(0, 15);
  t.after(() => {
    try {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    } catch {
      // never made
    }
  });
  writeFileSync(file, JSON.stringify(bridgeConf(inst, 'badipam', 'notacidr', [], bridge)));

  const r = await inst.run(['run', '--rm', '--network', 'badipam', img, 'true']);
  assert.equal(r.code, 125, r.stderr);
  assert.match(r.stderr, /^berth: network "badipam": plugin bridge ADD failed: .*notacidr.*undoing it failed too; `berth system prune` retries that\)\n$/);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.deepEqual(ls(join(inst.runRoot, 'netns')), [], 'the netns is released');
  assert.equal(records(inst).length, 1, 'the failed attachment is kept for prune');

  // Later networked runs neither warn nor replay it for ever.
  for (let i = 0; i < 4; i++) {
    const again = await inst.run(['run', '--rm', img, 'true']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, '', `run ${i}: nothing on stderr`);
  }
  assert.equal(records(inst).length, 1);
  const failed = JSON.parse(readFileSync(join(inst.root, 'cni', 'results', records(inst)[0]!), 'utf8'));
  assert.equal(failed.failed.attempts, 3, 'the sweeps retried it twice, then left it');

  // The conflist fixed: prune's DEL with the current configuration succeeds, and the record goes.
  writeFileSync(file, JSON.stringify(bridgeConf(inst, 'badipam', inst.subnet, [], bridge)));
  const pruned = await ok(inst, ['system', 'prune', '-f']);
  assert.match(pruned, new RegExp(`^Deleted Network Attachments:\\n${failed.containerId} badipam eth0\\n`, 'm'));
  assert.deepEqual(records(inst), []);
  assert.doesNotMatch(await ok(inst, ['system', 'prune', '-f']), /Network Attachments/);
});

async function listen(port: number, host: string): Promise<Server> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(port, host, resolve));
  return srv;
}

test('a host port published twice is refused: by a running container or by a host socket', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  // A port free now on the host (the kernel picks it).
  const probe = await listen(0, '127.0.0.1');
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));

  await ok(inst, ['run', '-d', '--name', 'first', '-p', `127.0.0.1:${port}:80`, img, 'sleep', '100']);
  for (const spec of [`127.0.0.1:${port}:80`, `${port}:81`]) {
    const r = await inst.run(['run', '-d', '--name', 'second', '-p', spec, img, 'sleep', '100']);
    assert.equal(r.code, 125, `${spec}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^berth: Bind for (127\\.0\\.0\\.1|0\\.0\\.0\\.0):${port}/tcp failed: port is already allocated \\(by container [0-9a-f]{12}\\)\\n$`));
  }
  // Another address, or the other protocol, is not the same port.
  await ok(inst, ['run', '-d', '--name', 'udp', '-p', `127.0.0.1:${port}:80/udp`, img, 'sleep', '100']);
  await ok(inst, ['rm', '-f', 'first', 'udp']);
  await ok(inst, ['run', '-d', '--name', 'second', '-p', `127.0.0.1:${port}:80`, img, 'sleep', '100']);
  await ok(inst, ['rm', '-f', 'second']);

  // Sockets of the host: a TCP listener on the wildcard address, a bound UDP socket.
  const srv = await listen(port, '0.0.0.0');
  t.after(() => srv.close());
  const r = await inst.run(['run', '-d', '-p', `127.0.0.1:${port}:80`, img, 'sleep', '100']);
  assert.equal(r.code, 125, r.stderr);
  assert.equal(r.stderr, `berth: Bind for 127.0.0.1:${port}/tcp failed: port is already allocated (by a process on the host)\n`);
  const udp = createSocket('udp6');
  await new Promise<void>((resolve) => udp.bind(port, '::1', resolve));
  t.after(() => udp.close());
  const u = await inst.run(['run', '-d', '-p', `[::1]:${port}:53/udp`, img, 'sleep', '100']);
  assert.equal(u.code, 125, u.stderr);
  assert.match(u.stderr, /port is already allocated \(by a process on the host\)/);
  assert.equal((await ok(inst, ['ps', '-aq'])).trim(), '', 'refused runs leave no container');
  assert.deepEqual(ls(join(inst.runRoot, 'netns')), []);
});

/** nat rules (IPv4 and IPv6) naming a container, and the chains they jump to or are in. */
function natFor(id: string): { rules: string[]; chains: string[] } {
  const saved = ['iptables-save', 'ip6tables-save'].flatMap((tool) => execFileSync(tool, ['-t', 'nat'], { encoding: 'utf8' }).split('\n'));
  const rules = saved.filter((l) => l.startsWith('-A') && l.includes(id));
  const chains = [...new Set(rules.flatMap((l) => [/ -j (CNI-[0-9a-f]+)\b/.exec(l)?.[1], /^-A (CNI-[0-9a-f]+) /.exec(l)?.[1]]).filter((c): c is string => !!c))];
  return { rules, chains };
}

function natChains(): string[] {
  return ['iptables-save', 'ip6tables-save'].flatMap((tool) => execFileSync(tool, ['-t', 'nat'], { encoding: 'utf8' }).split('\n'))
    .filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!);
}

test('a netns removed by hand: rm -f still removes the bridge plugin\'s masquerade rule and chain', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const id = (await ok(inst, ['run', '-d', img, 'sleep', '100'])).trim();
  const before = natFor(id);
  assert.ok(before.rules.some((l) => l.startsWith('-A POSTROUTING ')), `a POSTROUTING rule for ${id}: ${before.rules.join('\n')}`);
  assert.equal(before.chains.length, 1, 'one masquerade chain');
  const pin = join(inst.runRoot, 'netns', id);
  execFileSync('umount', [pin]);
  execFileSync('rm', [pin]);

  await ok(inst, ['rm', '-f', id]);
  assert.deepEqual(natFor(id).rules, [], 'no nat rule names the container');
  assert.ok(!natChains().includes(before.chains[0]!), `chain ${before.chains[0]} is gone`);
  assert.deepEqual(reservations(inst, 'berth'), [], 'the reservation is released');
  assert.deepEqual(records(inst), []);
});

test('concurrent runs publishing one host port: exactly one gets it, the others are refused', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  for (let round = 0; round < 3; round++) {
    const probe = await listen(0, '127.0.0.1');
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const runs = await Promise.all(Array.from({ length: 5 }, (_, i) =>
      inst.run(['run', '-d', '--name', `c${round}-${i}`, '-p', `127.0.0.1:${port}:80`, img, 'sleep', '100'], { timeoutMs: 180_000 })));
    const won = runs.filter((r) => r.code === 0);
    assert.equal(won.length, 1, `round ${round}: ${runs.map((r) => `${r.code} ${r.stderr.trim()}`).join(' | ')}`);
    for (const r of runs.filter((r) => r.code !== 0)) {
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, new RegExp(`^berth: Bind for 127\\.0\\.0\\.1:${port}/tcp failed: port is already allocated \\(by container [0-9a-f]{12}\\)\\n$`));
    }
    assert.equal((await ok(inst, ['ps', '-q'])).trim(), won[0]!.stdout.trim().slice(0, 12), 'only the winner runs');
    await ok(inst, ['rm', '-f', '-a']);
    assert.deepEqual(records(inst), []);
    assert.deepEqual(ls(join(inst.runRoot, 'netns')), []);
  }
});

test('a run between checking and claiming its host port holds off the next; killed there, its lock dies with it', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const probe = await listen(0, '127.0.0.1');
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const parkFile = join(inst.base, 'parked');
  const first = spawn(BERTH, ['run', '-d', '-p', `127.0.0.1:${port}:80`, img, 'sleep', '100'],
    { env: { ...inst.env, BERTH_PARK_AT: 'host-ports-checked', BERTH_PARK_FILE: parkFile }, stdio: 'ignore', detached: true });
  const firstExited = new Promise((r) => first.once('exit', r));
  await until('the first run to park after its port check', () => existsSync(parkFile));

  let done = false;
  const second = inst.run(['run', '-d', '--name', 'second', '-p', `127.0.0.1:${port}:80`, img, 'sleep', '100'], { timeoutMs: 120_000 })
    .finally(() => (done = true));
  await sleep(3_000);
  assert.equal(done, false, 'the second run waits while the first has checked but not claimed the port');
  process.kill(-first.pid!, 'SIGKILL');
  await firstExited;
  const r = await second;
  assert.equal(r.code, 0, `the first never claimed the port: ${r.stderr}`);
  assert.equal((await ok(inst, ['ps', '--format', '{{.Names}} {{.Ports}}'])).trim(), `second 127.0.0.1:${port}->80/tcp`);
});

test('an SCTP host port is published once: a second container on it is refused, TCP on the same number is not', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const probe = await listen(0, '127.0.0.1');
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  await ok(inst, ['run', '-d', '--name', 'first', '-p', `127.0.0.1:${port}:80/sctp`, img, 'sleep', '100']);
  const dnat = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('-p sctp') && l.includes(String(port)));
  assert.ok(dnat.length > 0, 'portmap made an SCTP DNAT rule');
  for (const spec of [`127.0.0.1:${port}:80/sctp`, `${port}:81/sctp`]) {
    const r = await inst.run(['run', '-d', '--name', 'second', '-p', spec, img, 'sleep', '100']);
    assert.equal(r.code, 125, `${spec}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^berth: Bind for (127\\.0\\.0\\.1|0\\.0\\.0\\.0):${port}/sctp failed: port is already allocated \\(by container [0-9a-f]{12}\\)\\n$`));
  }
  await ok(inst, ['run', '-d', '--name', 'tcp', '-p', `127.0.0.1:${port}:80`, img, 'sleep', '100']);
  await ok(inst, ['rm', '-f', 'first', 'tcp']);
  await ok(inst, ['run', '-d', '--name', 'second', '-p', `127.0.0.1:${port}:80/sctp`, img, 'sleep', '100']);
});

test('the default network keeps off the host: the built-in subnet gives way, a configured one fails', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  // A host interface with an address inside the built-in default subnet 10.99.0.0/16 (one
  // end of a veth pair: this kernel has no dummy driver).
  const dummy = `bt${process.pid % 100000}dm`;
  execFileSync('ip', ['link', 'add', dummy, 'type', 'veth', 'peer', 'name', `bt${process.pid % 100000}dp`]);
  t.after(() => execFileSync('ip', ['link', 'del', dummy]));
  execFileSync('ip', ['addr', 'add', '10.99.213.1/24', 'dev', dummy]);
  const conf = (extra: string) => writeFileSync(join(inst.configDir, 'berth.toml'),
    `[network]\ncni_conf_dir = "${join(inst.base, 'cni')}"\ndefault_bridge = "${inst.bridge}"\n${extra}`);
  const defaultFile = join(inst.base, 'cni', '87-berth.conflist');

  // Not configured: berth's built-in subnet moves to the next free one, and says so.
  conf('');
  const r = await inst.run(['--log-level', 'info', 'run', '--rm', img, 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
  assert.equal(r.code, 0, r.stderr);
  const moved = /subnet 10\.99\.0\.0\/16 is already used on the host or by another config \((.*)\); using ([0-9a-f.:]+\/\d+)/.exec(r.stderr);
  assert.ok(moved, `said at info level: ${r.stderr}`);
  const picked = parseSubnet(moved[2]!);
  assert.ok(!overlaps(picked, parseSubnet('10.99.0.0/16')) && !overlaps(picked, parseSubnet('10.100.0.0/16')), `${picked.cidr} is off the default and the create pool`);
  const written = JSON.parse(readFileSync(defaultFile, 'utf8'));
  assert.equal(written.plugins[0].ipam.ranges[0][0].subnet, picked.cidr);
  const ip = /inet (\S+)\//.exec(r.stdout)?.[1];
  assert.ok(ip && contains(picked, ip), `the container's address ${ip} is in ${picked.cidr}`);

  // Configured explicitly: refused with docker's and podman's words, and nothing is written.
  rmSync(defaultFile);
  conf('default_subnet = "10.99.0.0/16"\n');
  const e = await inst.run(['run', '--rm', img, 'true']);
  assert.equal(e.code, 125, e.stderr);
  assert.match(e.stderr, /^berth: subnet 10\.99\.0\.0\/16 is already used on the host or by another config \(.*\)\n$/);
  assert.ok(!existsSync(defaultFile));
  // A configured bridge name that is a host interface but no bridge.
  writeFileSync(join(inst.configDir, 'berth.toml'), `[network]\ncni_conf_dir = "${join(inst.base, 'cni')}"\ndefault_bridge = "${dummy}"\ndefault_subnet = "${inst.subnet}"\n`);
  const b = await inst.run(['run', '--rm', img, 'true']);
  assert.equal(b.code, 125, b.stderr);
  assert.equal(b.stderr, `berth: ${dummy} is a host interface, not a bridge\n`);
  assert.equal((await ok(inst, ['ps', '-aq'])).trim(), '');
});

test('a bridge DEL that fails with the netns present: its masquerade rule goes before the netns is released', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const id = (await ok(inst, ['run', '-d', img, 'sleep', '100'])).trim();
  const before = natFor(id);
  assert.equal(before.chains.length, 1, before.rules.join('\n'));
  // The record's IPAM made unrunnable: the bridge plugin's DEL fails before it touches the netns.
  const [file] = records(inst);
  const path = join(inst.root, 'cni', 'results', file!);
  const rec = JSON.parse(readFileSync(path, 'utf8'));
  const ip = rec.result.ips[0].address.split('/')[0];
  rec.config.plugins[0].ipam.type = 'nosuchipam';
  writeFileSync(path, JSON.stringify(rec));

  const r = await inst.run(['rm', '-f', id]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /network teardown failed.*nosuchipam/);
  assert.deepEqual(ls(join(inst.runRoot, 'netns')), [], 'the netns is released');
  assert.deepEqual(natFor(id).rules, [], 'no nat rule names the container');
  assert.ok(!natChains().includes(before.chains[0]!), `chain ${before.chains[0]} is gone`);
  assert.deepEqual(rulesFor(ip).filter((l) => !l.includes('CNI-FORWARD')), [], `only firewall's rules for ${ip} wait for prune`);
  await ok(inst, ['system', 'prune', '-f']);
  assert.deepEqual(records(inst), []);
  assert.deepEqual(rulesFor(ip), []);
});
