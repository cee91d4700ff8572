// Container networking through the real CNI plugins: the default bridge, published ports,
// named networks, DNS files, bad configs, and nothing left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** What the instance's networking holds on the host right now. */
function footprint(inst: Instance) {
  const netnsDir = join(inst.runRoot, 'netns');
  const ipam = join(inst.root, 'cni', 'networks');
  const reservations = existsSync(ipam)
    ? readdirSync(ipam).flatMap((n) => readdirSync(join(ipam, n)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)))
    : [];
  const prefix = inst.subnet.split('.').slice(0, 3).join('.') + '.';
  const rules = ['filter', 'nat'].flatMap((t) => execFileSync('iptables', ['-t', t, '-S'], { encoding: 'utf8' }).split('\n')).filter((l) => l.includes(prefix));
  let veths = 0;
  try {
    veths = execFileSync('ip', ['-o', 'link', 'show', 'master', inst.bridge], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
  } catch {
    // no bridge yet
  }
  return { netns: existsSync(netnsDir) ? readdirSync(netnsDir).length : 0, reservations: reservations.length, rules: rules.length, veths };
}

const empty = { netns: 0, reservations: 0, rules: 0, veths: 0 };

/** Connects to 127.0.0.1:port until something answers; returns what it said. */
async function fetchLine(port: number): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const got = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let data = '';
      s.on('data', (d) => (data += d));
      s.on('close', () => resolve(data));
      s.on('error', () => resolve(''));
      s.setTimeout(2000, () => s.destroy());
    });
    if (got) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
  return '';
}

test('default bridge: containers reach each other, ports publish at 127.0.0.1, rm leaves nothing', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '-d', '--name', 'srv', img, 'sh', '-c', 'while true; do echo pong | nc -l -p 8080; done']);
  const ip = (await ok(inst, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'srv'])).trim();
  assert.ok(ip.startsWith(inst.subnet.split('.').slice(0, 3).join('.') + '.'), `address ${ip} in ${inst.subnet}`);
  const reply = await ok(inst, ['run', '--rm', img, 'sh', '-c', `for i in $(seq 50); do nc ${ip} 8080 </dev/null && exit 0; sleep 0.1; done; exit 1`]);
  assert.equal(reply.trim(), 'pong');
  assert.match(await ok(inst, ['exec', 'srv', 'cat', '/etc/hosts']), new RegExp(`^${ip.replace(/\./g, '\\.')}\\s.*srv`, 'm'));

  await ok(inst, ['run', '-d', '--name', 'web', '-p', '127.0.0.1::8080', img, 'sh', '-c', 'while true; do echo hello | nc -l -p 8080; done']);
  const hostPort = Number((await ok(inst, ['port', 'web', '8080/tcp'])).trim().split(':')[1]);
  assert.ok(hostPort > 0);
  assert.match(await ok(inst, ['port', 'web']), new RegExp(`^8080/tcp -> 127\\.0\\.0\\.1:${hostPort}$`, 'm'));
  assert.match(await ok(inst, ['ps']), new RegExp(`127\\.0\\.0\\.1:${hostPort}->8080/tcp`));
  assert.equal((await fetchLine(hostPort)).trim(), 'hello');

  // -P publishes what the image exposes, on free host ports.
  const exposing = await inst.run(['import', '-c', 'EXPOSE 8080/tcp', (await import('../helpers/index.js')).busyboxTarball(), 'exposing']);
  assert.equal(exposing.code, 0, exposing.stderr);
  await ok(inst, ['run', '-d', '--name', 'all', '-P', 'exposing', 'sh', '-c', 'while true; do echo all | nc -l -p 8080; done']);
  const allPort = Number((await ok(inst, ['port', 'all', '8080'])).trim().split(':')[1]);
  assert.ok(allPort > 0);
  assert.equal((await fetchLine(allPort)).trim(), 'all');
  await ok(inst, ['rm', '-f', 'all']);

  const during = footprint(inst);
  assert.equal(during.netns, 2);
  assert.equal(during.veths, 2);
  await ok(inst, ['rm', '-f', 'srv', 'web']);
  assert.deepEqual(footprint(inst), empty);
  assert.equal(await fetchLine(hostPort).then((s) => s), '', 'the port is closed after rm');
});

test('named networks, DNS files, --network none and host', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const third = inst.subnet.split('.').slice(0, 2).join('.') + '.' + ((Number(inst.subnet.split('.')[2]) + 128) % 256);
  const subnet = `${third}.0/24`;
  const bridge = `${inst.bridge}n`.slice(0, 15);
  t.after(() => {
    try {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    } catch {
      // not made
    }
  });
  // berth writes a bridge conflist; point it at this test's own bridge name.
  assert.equal((await ok(inst, ['network', 'create', '--subnet', subnet, 'backend'])).trim(), 'backend');
  const file = join(inst.base, 'cni', 'backend.conflist');
  const conf = JSON.parse((await import('node:fs')).readFileSync(file, 'utf8'));
  conf.plugins[0].bridge = bridge;
  writeFileSync(file, JSON.stringify(conf));
  assert.match(await ok(inst, ['network', 'ls']), new RegExp(`backend\\s+bridge\\s+${bridge}\\s+${subnet.replace(/\./g, '\\.')}`));
  assert.match(await ok(inst, ['network', 'ls', '--format', '{{.Name}}={{.Driver}}']), /^backend=bridge$/m, 'templates take the capitalized names');
  await ok(inst, ['run', '-d', '--name', 'b1', '--network', 'backend', '--dns', '192.0.2.53', '--dns-search', 'example.test', '--add-host', 'db.local:192.0.2.10', img, 'sleep', '100']);
  assert.match((await ok(inst, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'b1'])).trim(), new RegExp(`^${third.replace(/\./g, '\\.')}\\.`));
  const resolv = await ok(inst, ['exec', 'b1', 'cat', '/etc/resolv.conf']);
  assert.match(resolv, /^nameserver 192\.0\.2\.53$/m);
  assert.match(resolv, /^search example\.test$/m);
  assert.match(await ok(inst, ['exec', 'b1', 'cat', '/etc/hosts']), /^192\.0\.2\.10\s+db\.local$/m);
  const inUse = await inst.run(['network', 'rm', 'backend']);
  assert.equal(inUse.code, 125);
  assert.match(inUse.stderr, /in use/);
  await ok(inst, ['rm', '-f', 'b1']);
  await ok(inst, ['network', 'rm', 'backend']);
  assert.ok(!existsSync(file));
  assert.deepEqual(footprint(inst), empty);
});

test('--network container:NAME shares that container\'s network namespace and its DNS files', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '-d', '--name', 'host1', '--add-host', 'db.local:192.0.2.10', img, 'sh', '-c', 'nc -l -p 7070 -e echo from-host1; sleep 600']);
  const netOf = async (args: string[]) => (await ok(inst, [...args, 'readlink', '/proc/self/ns/net'])).trim();
  const own = await netOf(['exec', 'host1']);
  await ok(inst, ['run', '-d', '--name', 'side', '--network', 'container:host1', img, 'sleep', '600']);
  assert.equal(await netOf(['exec', 'side']), own, 'the same network namespace');
  assert.match(await ok(inst, ['exec', 'side', 'cat', '/etc/hosts']), /^192\.0\.2\.10\s+db\.local$/m, "the other container's hosts file");
  // Its loopback is the other's: the server there answers on 127.0.0.1.
  assert.equal(await ok(inst, ['run', '--rm', '--network', 'container:side', img, 'nc', '127.0.0.1', '7070']), 'from-host1\n', 'a chain: side shares host1');
  assert.equal((await ok(inst, ['inspect', '-f', '{{.HostConfig.NetworkMode}}', 'side'])).trim().replace(/[0-9a-f]{64}/, 'ID'), 'container:ID');
  for (const [args, re] of [
    [['run', '--rm', '--network', 'container:nosuch', img, 'true'], /no such container/i],
    [['run', '--rm', '--network', 'container:host1', '-p', '8080:80', img, 'true'], /conflicting options: --publish and --network container:host1/],
  ] as const) {
    const r = await inst.run([...args]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, re);
  }
  await ok(inst, ['stop', '-t', '0', 'host1']);
  const stopped = await inst.run(['run', '--rm', '--network', 'container:host1', img, 'true']);
  assert.match(stopped.stderr, /cannot join the network of container host1: it is not running/);
  await ok(inst, ['rm', '-f', 'side', 'host1']);
  assert.deepEqual(footprint(inst), empty);
});

test('bad network configs: a clear error, and nothing left behind', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const dir = join(inst.base, 'cni');
  (await import('node:fs')).mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '50-broken.conflist'), '{ "cniVersion": "1.0.0", "name": "broken", "plugins": [ ');
  writeFileSync(join(dir, '51-missing.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'missing', plugins: [{ type: 'nosuchplugin' }] }));
  writeFileSync(
    join(dir, '52-failing.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'failing',
      plugins: [
        { type: 'bridge', bridge: inst.bridge, isGateway: true, ipam: { type: 'host-local', ranges: [[{ subnet: inst.subnet }]], dataDir: join(inst.root, 'cni', 'networks') } },
        { type: 'tuning', sysctl: { 'net.no.such.sysctl': '1' } },
      ],
    }),
  );
  const cases: [string, RegExp][] = [
    ['broken', /^berth: \S*50-broken\.conflist: invalid JSON/],
    ['missing', /^berth: network "missing": CNI plugin "nosuchplugin" not found/],
    ['failing', /^berth: network "failing": plugin tuning ADD failed/],
    ['nosuchnet', /^berth: .*nosuchnet/],
  ];
  for (const [net, re] of cases) {
    const r = await inst.run(['run', '--rm', '--network', net, img, 'true']);
    assert.equal(r.code, 125, `${net}: ${r.stderr}`);
    assert.match(r.stderr, re, net);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${net}: one line: ${r.stderr}`);
  }
  assert.equal((await ok(inst, ['ps', '-aq'])).trim(), '');
  assert.deepEqual(footprint(inst), empty);
});

test('attachments left by a crash are swept by the next networked run', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const id = (await ok(inst, ['run', '-d', img, 'sleep', '1000'])).trim();
  const pid = Number((await ok(inst, ['inspect', '-f', '{{.State.ConmonPid}}', id])).trim());
  // A crash that lost the container but not its network: kill its monitor and process,
  // release the runtime by hand, and drop its row.
  const ctrPid = Number((await ok(inst, ['inspect', '-f', '{{.State.Pid}}', id])).trim());
  process.kill(ctrPid, 'SIGKILL');
  process.kill(pid, 'SIGKILL');
  execFileSync('runc', ['--root', join(inst.runRoot, 'runtime'), 'delete', '-f', id]);
  execFileSync('umount', ['-l', join(inst.root, 'containers', id, 'rootfs')]);
  const { default: Sqlite } = await import('better-sqlite3');
  const db = new Sqlite(join(inst.root, 'berth.db'));
  db.prepare('DELETE FROM containers WHERE id = ?').run(id);
  db.close();
  assert.equal(footprint(inst).netns, 1);
  assert.equal(footprint(inst).veths, 1);
  await ok(inst, ['run', '--rm', img, 'true']);
  assert.deepEqual(footprint(inst), empty);
});
