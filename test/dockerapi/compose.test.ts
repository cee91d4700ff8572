// Networks, volumes and docker-compose 1.29 against `berth system service`: the real docker
// CLI makes networks whose containers reach each other by name and alias (the CNI dnsname
// plugin), volumes whose data outlives containers; docker-compose brings a two-service
// project up (a web server with a named volume and a published port, a client that finds it
// by service name), and down -v leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance, processesUsing, type Instance } from '../helpers/index.js';
import { freePort } from '../registry/fixture.js';
import { hasCommand, httpGet, request, startService, type Service } from './harness.js';

/** A /24 of this instance's own, for one more network (as test/network does). */
function extraSubnet(inst: Instance, add: number): { subnet: string; gateway: string } {
  const [a, b, c] = inst.subnet.split('.');
  const prefix = `${a}.${b}.${(Number(c) + add) % 256}`;
  return { subnet: `${prefix}.0/24`, gateway: `${prefix}.1` };
}

/** The dnsmasq processes of this instance, by the network their conf file is for. */
function dnsmasqs(inst: Instance): string[] {
  return processesUsing(inst.base)
    .filter((p) => p.cmdline[0]?.endsWith('dnsmasq'))
    .map((p) => p.cmdline.find((a) => a.startsWith('--conf-file='))?.split('/').at(-2) ?? '?');
}

/** Deletes bridges and DNS rules a failed test left (the instance's cleanup knows only its own bridge). */
function dropBridge(bridge: string): void {
  for (const rule of execFileSync('iptables', ['-S', 'INPUT'], { encoding: 'utf8' }).split('\n')) {
    if (rule.startsWith(`-A INPUT -i ${bridge} `)) execFileSync('iptables', ['-D', ...rule.split(' ').slice(1)], { stdio: 'ignore' });
  }
  if (existsSync(`/sys/class/net/${bridge}`)) execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** An HTTP GET from inside a container with busybox's nc (its wget crashes here). */
const ncGet = (host: string, path: string) => `printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' | nc ${host} 80 | tail -1`;

async function setUp(t: { after(fn: () => Promise<void> | void): void }): Promise<{ inst: Instance; svc: Service; image: string; docker: (args: string[]) => Promise<string>; dockerFails: (args: string[]) => Promise<string> }> {
  const inst = await newInstance();
  const image = await inst.importBusybox('localhost/busybox:latest');
  const svc = await startService(t, inst);
  // The instance goes after the service (after hooks run in the order they were added).
  t.after(() => inst.cleanup());
  const docker = async (args: string[]) => {
    const r = await svc.client('docker', args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const dockerFails = async (args: string[]) => {
    const r = await svc.client('docker', args);
    assert.notEqual(r.code, 0, `docker ${args.join(' ')} should fail: ${r.stdout}`);
    return r.stderr;
  };
  return { inst, svc, image, docker, dockerFails };
}

test('docker network and volume commands against berth system service', { skip: !hasCommand('docker') && 'no docker CLI on this machine' }, async (t) => {
  const { inst, svc, image, docker, dockerFails } = await setUp(t);
  const bridge = `${inst.bridge}n`.slice(0, 15);
  t.after(() => dropBridge(bridge));
  const net = extraSubnet(inst, 128);

  await t.test('network create, ls, inspect; bridge is the default network', async () => {
    const id = (await docker(['network', 'create', '--subnet', net.subnet, '--label', 'tier=back', '-o', `com.docker.network.bridge.name=${bridge}`, 'backnet'])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal((await docker(['network', 'ls', '--filter', 'label=tier=back', '--format', '{{.ID}} {{.Name}} {{.Driver}} {{.Scope}}'])).trim(), `${id.slice(0, 12)} backnet bridge local`);
    assert.equal((await docker(['network', 'ls', '--filter', 'label=tier=front', '-q'])).trim(), '');
    assert.equal(
      (await docker(['network', 'inspect', '-f', '{{.Name}} {{.Id}} {{.Driver}} {{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} {{.Internal}} {{.Labels.tier}}', 'backnet'])).trim(),
      `backnet ${id} bridge ${net.subnet} ${net.gateway} false back`,
    );
    // By ID prefix too.
    assert.equal((await docker(['network', 'inspect', '-f', '{{.Name}}', id.slice(0, 12)])).trim(), 'backnet');
    // The name docker clients ask for is berth's default network.
    assert.equal((await docker(['network', 'inspect', '-f', '{{.Name}} {{(index .IPAM.Config 0).Subnet}}', 'bridge'])).trim(), `berth ${inst.subnet}`);
    assert.match(await dockerFails(['network', 'create', 'backnet']), /Error response from daemon: network with name backnet already exists/);
    // Internal, with a gateway of its own.
    const inner = extraSubnet(inst, 136);
    const innerGw = inner.gateway.replace(/\.1$/, '.254');
    await docker(['network', 'create', '--internal', '--subnet', inner.subnet, '--gateway', innerGw, 'inner']);
    assert.equal((await docker(['network', 'inspect', '-f', '{{.Internal}} {{(index .IPAM.Config 0).Gateway}}', 'inner'])).trim(), `true ${innerGw}`);
    assert.equal((await docker(['network', 'ls', '--filter', 'name=inn', '--format', '{{.Name}}'])).trim(), 'inner');
    assert.equal((await docker(['network', 'rm', 'inner'])).trim(), 'inner');
    assert.match(await dockerFails(['network', 'create', '-d', 'overlay', 'over']), /Error response from daemon: network driver "overlay" is not supported/);
    assert.match(await dockerFails(['network', 'inspect', 'nonet']), /network nonet not found/);
    assert.match(await dockerFails(['network', 'rm', 'bridge']), /bridge is a pre-defined network and cannot be removed/);
  });

  await t.test('containers on a user network reach each other by name and alias; connect, disconnect', async () => {
    await docker(['run', '-d', '--name', 'srv', '--network', 'backnet', '--network-alias', 'api', image, 'sh', '-c', 'echo served > /tmp/i; exec httpd -f -p 80 -h /tmp']);
    const get = (host: string) => docker(['run', '--rm', '--network', 'backnet', image, 'sh', '-c', ncGet(host, '/i')]);
    assert.equal((await until('srv to serve', async () => (await get('srv')).trim() === 'served' && 'ok')), 'ok');
    assert.equal((await get('api')).trim(), 'served');
    const srvId = (await docker(['inspect', '-f', '{{.Id}}', 'srv'])).trim();
    const members = JSON.parse(await docker(['network', 'inspect', '-f', '{{json .Containers}}', 'backnet'])) as Record<string, { Name: string; IPv4Address: string; MacAddress: string }>;
    assert.deepEqual(Object.keys(members), [srvId]);
    assert.equal(members[srvId]!.Name, 'srv');
    assert.match(members[srvId]!.IPv4Address, new RegExp(`^${net.subnet.split('.').slice(0, 3).join('\\.')}\\.\\d+/24$`));
    assert.match(members[srvId]!.MacAddress, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.match(await dockerFails(['network', 'rm', 'backnet']), /Error response from daemon: error while removing network: network backnet id [0-9a-f]{64} has active endpoints/);
    // A container's NetworkID (inspect and the listing) is the network's Id: docker network inspect takes it.
    const netId = (await docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.NetworkID}}{{end}}', 'srv'])).trim();
    assert.match(netId, /^[0-9a-f]{64}$/);
    assert.equal((await docker(['network', 'inspect', '-f', '{{.Name}} {{.Id}}', netId])).trim(), `backnet ${netId}`);
    const endpoint = (await docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.EndpointID}}{{end}}', 'srv'])).trim();
    assert.equal(endpoint, JSON.parse(await docker(['network', 'inspect', '-f', '{{json .Containers}}', netId]))[srvId].EndpointID);
    const listed = JSON.parse((await request(svc.socket, 'GET', `/v1.43/containers/json?filters=${encodeURIComponent(JSON.stringify({ name: ['srv'] }))}`)).body) as { NetworkSettings: { Networks: Record<string, { NetworkID: string; EndpointID: string }> } }[];
    assert.deepEqual(listed.map((c) => c.NetworkSettings.Networks.backnet), [{ ...listed[0].NetworkSettings.Networks.backnet, NetworkID: netId, EndpointID: endpoint }]);

    // A container on the default network joins backnet under an alias, and leaves it.
    await docker(['run', '-d', '--name', 'late', image, 'sh', '-c', 'echo late > /tmp/i; exec httpd -f -p 80 -h /tmp']);
    await docker(['network', 'connect', '--alias', 'joined', 'backnet', 'late']);
    assert.equal((await until('late on backnet', async () => (await get('joined')).trim() === 'late' && 'ok')), 'ok');
    assert.match(await docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'late']), /"backnet"/);
    assert.match(await dockerFails(['network', 'connect', 'backnet', 'nosuch']), /No such container: nosuch/);
    await docker(['network', 'disconnect', 'backnet', 'late']);
    assert.doesNotMatch(await docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'late']), /"backnet"/);
    assert.notEqual((await get('joined')).trim(), 'late');
    await docker(['rm', '-f', 'srv', 'late']);
  });

  await t.test('a volume outlives its containers; rm in use fails as docker says', async () => {
    assert.equal((await docker(['volume', 'create', '--label', 'keep=yes', 'data'])).trim(), 'data');
    // Created again: the same volume (as docker).
    assert.equal((await docker(['volume', 'create', 'data'])).trim(), 'data');
    await docker(['run', '--rm', '--network', 'none', '-v', 'data:/data', image, 'sh', '-c', 'echo kept > /data/f']);
    assert.equal(await docker(['run', '--rm', '--network', 'none', '-v', 'data:/data', image, 'cat', '/data/f']), 'kept\n');
    const [name, driver, mountpoint, scope, label] = (await docker(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Mountpoint}} {{.Scope}} {{.Labels.keep}}', 'data'])).trim().split(' ');
    assert.deepEqual([name, driver, scope, label], ['data', 'local', 'local', 'yes']);
    assert.equal(readFileSync(join(mountpoint!, 'f'), 'utf8'), 'kept\n');
    assert.equal((await docker(['volume', 'ls', '--filter', 'label=keep=yes', '--format', '{{.Driver}} {{.Name}}'])).trim(), 'local data');
    assert.equal((await docker(['volume', 'ls', '--filter', 'name=nomatch', '-q'])).trim(), '');

    const user = (await docker(['run', '-d', '--name', 'user', '--network', 'none', '-v', 'data:/data', image, 'sleep', '1000'])).trim();
    assert.match(await dockerFails(['volume', 'rm', 'data']), new RegExp(`Error response from daemon: remove data: volume is in use - \\[${user}\\]`));
    assert.match(await dockerFails(['volume', 'rm', '-f', 'data']), /volume is in use/);
    assert.equal((await docker(['volume', 'ls', '--filter', 'dangling=true', '-q'])).trim(), '');
    await docker(['rm', '-f', 'user']);
    assert.equal((await docker(['volume', 'ls', '--filter', 'dangling=true', '-q'])).trim(), 'data');
    // prune without --all keeps named volumes (docker 23+).
    await docker(['volume', 'prune', '-f']);
    assert.equal((await docker(['volume', 'ls', '-q'])).trim(), 'data');
    assert.equal((await docker(['volume', 'rm', 'data'])).trim(), 'data');
    assert.match(await dockerFails(['volume', 'inspect', 'data']), /no such volume/);
    await docker(['volume', 'create', 'spare']);
    assert.match(await docker(['volume', 'prune', '-a', '-f']), /spare/);
    assert.equal((await inst.run(['volume', 'ls', '-q'])).stdout, '');
  });

  await t.test('network rm and prune', async () => {
    assert.equal((await docker(['network', 'rm', 'backnet'])).trim(), 'backnet');
    assert.ok(!existsSync(`/sys/class/net/${bridge}`), 'the bridge berth made goes with the network');
    await docker(['network', 'create', 'spare']);
    assert.match(await docker(['network', 'prune', '-f']), /spare/);

    // Filters: until (a duration back from now, a timestamp, an RFC 3339 time), label=, label!=.
    const deleted = (out: string) => (out.startsWith('Deleted Networks:\n') ? out.trim().split('\n').slice(1).sort() : (assert.equal(out, ''), []));
    await docker(['network', 'create', '--label', 'age=old', 'old1']);
    await docker(['network', 'create', '--label', 'age=old', '--label', 'keep=yes', 'old2']);
    await new Promise((r) => setTimeout(r, 1100));
    const cut = Date.now();
    await new Promise((r) => setTimeout(r, 100));
    await docker(['network', 'create', '--label', 'age=new', 'new1']);
    assert.deepEqual(deleted(await docker(['network', 'prune', '-f', '--filter', 'until=24h'])), [], 'nothing is a day old');
    assert.deepEqual(deleted(await docker(['network', 'prune', '-f', '--filter', `until=${(cut / 1000).toFixed(3)}`, '--filter', 'label!=keep=yes'])), ['old1']);
    assert.deepEqual(deleted(await docker(['network', 'prune', '-f', '--filter', 'label=age=new', '--filter', 'label=keep'])), [], 'every label= must match');
    assert.deepEqual(deleted(await docker(['network', 'prune', '-f', '--filter', 'label=age=new'])), ['new1']);
    assert.deepEqual(deleted(await docker(['network', 'prune', '-f', '--filter', `until=${new Date(cut).toISOString()}`])), ['old2']);
    assert.match(await dockerFails(['network', 'prune', '-f', '--filter', 'until=soon']), /Error response from daemon: failed to parse value as time or duration: "soon"/);
    assert.match(await dockerFails(['network', 'prune', '-f', '--filter', 'driver=bridge']), /Error response from daemon: invalid filter 'driver'/);
    assert.equal((await inst.run(['network', 'ls', '-q'])).stdout, 'berth\n');
    assert.deepEqual(dnsmasqs(inst), []);
  });
});

test('docker-compose 1.29: up, ps, logs, exec, restart, down -v', { skip: (!hasCommand('docker-compose') || !hasCommand('docker')) && 'no docker-compose on this machine' }, async (t) => {
  const { inst, svc, image } = await setUp(t);
  const bridge = `${inst.bridge}c`.slice(0, 15);
  t.after(() => dropBridge(bridge));
  const net = extraSubnet(inst, 144);
  const port = await freePort();
  const dir = join(inst.base, 'project');
  mkdirSync(dir);
  // The project network gets a bridge and subnet of this instance's own (compose passes them on).
  writeFileSync(
    join(dir, 'docker-compose.yml'),
    `version: "3.8"
services:
  web:
    image: ${image}
    command: ["sh", "-c", "echo \\"$$GREETING\\" > /srv/index.html; echo web started; exec httpd -f -p 80 -h /srv"]
    environment:
      GREETING: hello from web
    ports:
      - "127.0.0.1:${port}:80"
    volumes:
      - site:/srv
  client:
    image: ${image}
    depends_on: [web]
    environment:
      TARGET: web
    command: ["sh", "-c", "while true; do ${ncGet('$$TARGET', '/index.html').replace(/\\/g, '\\\\')}; sleep 1; done"]
volumes:
  site:
networks:
  default:
    driver_opts:
      com.docker.network.bridge.name: ${bridge}
    ipam:
      config:
        - subnet: ${net.subnet}
`,
  );
  const compose = async (args: string[], expect = 0) => {
    const r = await svc.client('docker-compose', ['-p', 'proj', ...args], { cwd: dir, timeoutMs: 120_000 });
    assert.equal(r.code, expect, `docker-compose ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  const clientLog = async () => (await compose(['logs', '--no-color', 'client'])).stdout;
  // The compose project's containers, networks and volumes as berth lists them.
  const leftovers = async () => ({
    containers: (await inst.run(['ps', '-a', '--format', '{{.Names}}'])).stdout.trim(),
    networks: (await inst.run(['network', 'ls', '-q'])).stdout.trim(),
    volumes: (await inst.run(['volume', 'ls', '-q'])).stdout.trim(),
  });

  await t.test('up -d makes the network, the volume and both services; the client finds web by name', async () => {
    const up = await compose(['up', '-d']);
    assert.match(up.stderr, /Creating network "proj_default"/);
    assert.match(up.stderr, /Creating volume "proj_site"/);
    assert.equal((await inst.run(['ps', '--format', '{{.Names}}'])).stdout.split('\n').filter(Boolean).sort().join(' '), 'proj_client_1 proj_web_1');
    assert.equal(JSON.parse((await inst.run(['network', 'inspect', 'proj_default'])).stdout)[0].bridge, bridge);
    assert.equal((await inst.run(['volume', 'ls', '-q'])).stdout.trim(), 'proj_site');
    assert.equal(await until('the published port', async () => (await httpGet(port, '/index.html')) === 'hello from web\n' && 'ok'), 'ok');
    assert.ok(await until('the client to reach web by its service name', async () => /hello from web/.test(await clientLog())));
    assert.deepEqual(dnsmasqs(inst), ['proj_default']);
    // A second up finds everything as it should be (the network's config as compose asked for it).
    const again = await compose(['up', '-d']);
    assert.match(again.stderr, /proj_web_1 is up-to-date/);
  });

  await t.test('ps and logs', async () => {
    const ps = (await compose(['ps'])).stdout;
    assert.match(ps, new RegExp(`proj_web_1 .* Up\\s+127\\.0\\.0\\.1:${port}->80/tcp`));
    assert.match(ps, /proj_client_1 .* Up\s*$/m);
    assert.match((await compose(['logs', '--no-color', 'web'])).stdout, /web_1 +\| web started/);
  });

  await t.test('exec runs in the service container (the exec API), with its exit code', async () => {
    assert.equal((await compose(['exec', '-T', 'web', 'cat', '/srv/index.html'])).stdout, 'hello from web\n');
    assert.equal((await compose(['exec', '-T', 'client', 'sh', '-c', 'echo $TARGET']).then((r) => r.stdout)), 'web\n');
    assert.match((await compose(['exec', '-T', 'client', 'sh', '-c', ncGet('web', '/index.html')])).stdout, /hello from web/);
    await compose(['exec', '-T', 'web', 'sh', '-c', 'exit 3'], 3);
  });

  await t.test('restart: both run again, the volume kept its content, names still resolve', async () => {
    const started = async () => (await inst.run(['inspect', '-f', '{{.State.StartedAt}}', 'proj_web_1'])).stdout.trim();
    const before = await started();
    await compose(['exec', '-T', 'web', 'sh', '-c', 'echo edited > /srv/extra.html']);
    await compose(['restart', '-t', '1']);
    assert.notEqual(await started(), before);
    assert.equal(await until('web after the restart', async () => (await httpGet(port, '/extra.html')) === 'edited\n' && 'ok'), 'ok');
    assert.match((await compose(['exec', '-T', 'client', 'sh', '-c', ncGet('web', '/extra.html')])).stdout, /edited/);
  });

  await t.test('down -v leaves no container, network, volume, bridge or dnsmasq', async () => {
    const down = await compose(['down', '-v', '-t', '1']);
    assert.match(down.stderr, /Removing network proj_default/);
    assert.match(down.stderr, /Removing volume proj_site/);
    assert.deepEqual(await leftovers(), { containers: '', networks: 'berth', volumes: '' });
    assert.deepEqual(dnsmasqs(inst), []);
    assert.ok(!existsSync(`/sys/class/net/${bridge}`), `bridge ${bridge} is gone`);
    assert.equal((await compose(['ps'])).stdout.split('\n').filter((l) => l.startsWith('proj_')).length, 0);
  });
});
