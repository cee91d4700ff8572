// berthd's Docker Engine API (berth.toml's docker_socket, --docker-socket) driven by the
// real docker CLI: the CLI's namespace (what `berth ps` shows), never the CRI's k8s.io
// containers, served beside the CRI socket; a failed request and SIGHUP leave it serving;
// SIGTERM ends open streams, lets an answer under way finish, removes both sockets and
// leaves the containers running. Bad settings are refused in one line before anything is
// made; the path is claimed as the CRI socket's is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berthOk, isAlive, newInstance } from '../helpers/index.js';
import { openStore } from '../../src/store/index.js';
import { dockerClient, hasDocker, request } from '../dockerapi/harness.js';
import { logged, PEER, startBerthd, type Berthd } from './berthd.js';
import { sandboxConfig } from './sandbox.js';

async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether berthd has logged the start of a Docker API request whose URL matches url. */
const requested = (d: Berthd, url: RegExp) => () => d.logs().split('\n').some((l) => l.includes('"msg":"docker api request"') && url.test(l));

const skip = (PEER && "berthd's own Docker API socket") || (!hasDocker() && 'no docker CLI on this machine');

test('berthd serves the Docker API on docker_socket: the CLI namespace, beside the CRI; SIGHUP, a failed request, SIGTERM', { skip }, async (t) => {
  const inst = await newInstance();
  const image = await inst.importBusybox('localhost/busybox:latest');
  const dockerSocket = join(inst.base, 'docker.sock');
  appendFileSync(join(inst.configDir, 'berth.toml'), `[daemon]\ndocker_socket = "${dockerSocket}"\n`);
  const d = await startBerthd(t, inst);
  // The instance goes after berthd (after hooks run in the order they were added).
  t.after(() => inst.cleanup());
  // The CRI socket answers first; the Docker API's comes up right after it.
  await until('the docker socket', () => existsSync(dockerSocket));
  const st = lstatSync(dockerSocket);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o660);
  assert.equal(st.uid, 0);
  assert.equal(st.gid, 0);
  const { docker, ok, clientEnv } = dockerClient(inst, dockerSocket, () => `berthd log: ${d.logs()}`);
  assert.equal((await ok(['version', '--format', '{{.Server.APIVersion}}'])).trim(), '1.43');

  // A CRI container, in its pod (host network: no CNI to tear down).
  const podConfig = sandboxConfig('dockerapi', { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } } });
  const { pod_sandbox_id: pod } = await d.cri.runtime('RunPodSandbox', { config: podConfig });
  const { container_id: criId } = await d.cri.runtime('CreateContainer', {
    pod_sandbox_id: pod,
    sandbox_config: podConfig,
    config: { metadata: { name: 'cri-one', attempt: 0 }, image: { image }, command: ['sleep', '300'] },
  });

  const id = (await ok(['run', '-d', '--name', 'web', '--network', 'none', image, 'sleep', '300'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const dockerPs = await ok(['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}} {{.State}}']);
  assert.equal(dockerPs, `${id} web running\n`, "docker lists the CLI's containers, not the CRI's");
  assert.equal(await berthOk(inst, ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}']), `${id} web\n`, 'berth ps (default namespace) shows the same');
  const criIds = (await d.cri.runtime('ListContainers', {})).containers.map((c: any) => c.id);
  assert.deepEqual(criIds, [criId], 'the CRI lists its own container, not the docker one');
  assert.equal((await d.cri.runtime('Version')).runtime_name, 'berth');
  await d.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  await d.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod });

  // A request that fails inside (a damaged image row) is answered and logged; both sockets keep serving.
  const store = openStore(inst.root);
  const rows = store.db.prepare('SELECT id, config FROM images').all() as { id: string; config: string }[];
  store.db.prepare("UPDATE images SET config = '{not json'").run();
  const broken = await docker(['images']);
  const restore = store.db.prepare('UPDATE images SET config = ? WHERE id = ?');
  for (const r of rows) restore.run(r.config, r.id);
  store.close();
  assert.notEqual(broken.code, 0);
  assert.match(broken.stderr, /Error response from daemon/);
  const failed = /"msg":"docker api request failed","method":"GET","path":"\/images\/json"/;
  assert.match(await logged(d, failed), failed);
  assert.equal(d.child.exitCode, null);
  assert.match(await ok(['images', '--format', '{{.Repository}}']), /localhost\/busybox/);

  d.child.kill('SIGHUP');
  await until('the reload', () => /"msg":"reloaded"/.test(d.logs()));
  assert.equal(await ok(['ps', '-q', '--no-trunc']), `${id}\n`, 'still serving after SIGHUP');
  assert.equal((await d.cri.runtime('Version')).runtime_name, 'berth');

  // SIGTERM with an event stream open and a stop under way (sleep as PID 1 ignores SIGTERM:
  // the stop answers after its 3 s timeout): the stream ends at once, the stop finishes.
  await ok(['run', '-d', '--name', 'slow', '--network', 'none', image, 'sleep', '300']);
  const events = spawn('docker', ['events'], { env: clientEnv, stdio: 'ignore' });
  const eventsEnded = new Promise<number>((r) => events.once('exit', () => r(Date.now())));
  t.after(() => void events.kill('SIGKILL'));
  await until('the event stream', requested(d, /\/events/));
  const stopping = docker(['stop', '-t', '3', 'slow']).then((r) => ({ ...r, at: Date.now() }));
  await until('the stop request', requested(d, /\/containers\/slow\/stop/));
  const t0 = Date.now();
  d.child.kill('SIGTERM');
  const stopped = await stopping;
  assert.equal(stopped.code, 0, `the answer under way finished: ${stopped.stderr}`);
  assert.equal(await d.exited, 0);
  assert.ok((await eventsEnded) < stopped.at, 'the event stream ended before the stop answered');
  assert.ok(stopped.at - t0 >= 2000, `the stop waited for its timeout (${stopped.at - t0} ms)`);
  assert.doesNotMatch(d.logs(), /calls still in flight after the grace period/);
  assert.equal(existsSync(dockerSocket), false, 'the docker socket is removed');
  assert.equal(existsSync(d.socket), false, 'the CRI socket is removed');

  // berthd's end left the docker container running.
  const [state, pid] = (await berthOk(inst, ['inspect', '-f', '{{.State.Status}} {{.State.Pid}}', 'web'])).trim().split(' ');
  assert.equal(state, 'running');
  assert.ok(isAlive(Number(pid)), 'its process lives');
  assert.match(await berthOk(inst, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']), /^slow Exited \(137\)/m);
  await berthOk(inst, ['rm', '-f', 'web', 'slow']);
  assert.equal(await berthOk(inst, ['ps', '-aq']), '');
});

test('docker_socket: a bad setting is refused in one line before any socket is made; "" turns it off; a stale socket is replaced, a live one refused', { skip: PEER && "berthd's config and flags" }, async (t) => {
  const inst = await newInstance(t);
  const toml = join(inst.configDir, 'berth.toml');
  const base = readFileSync(toml, 'utf8');
  const refused = async (args: string[], status: number, message: RegExp) => {
    const d = await startBerthd(t, inst, { args, noWait: true });
    assert.equal(await d.exited, status, d.logs());
    assert.match(d.logs(), message);
    assert.equal(existsSync(d.socket), false, 'no CRI socket either');
  };

  writeFileSync(toml, `${base}[daemon]\ndocker_socket = "docker.sock"\n`);
  await refused([], 125, new RegExp(`^berthd: ${toml}: daemon.docker_socket must be an absolute path, not "docker.sock"$`, 'm'));
  writeFileSync(toml, `${base}[daemon]\ndocker_socket = 7\n`);
  await refused([], 125, new RegExp(`^berthd: ${toml}: daemon.docker_socket must be a string$`, 'm'));
  writeFileSync(toml, base);
  await refused(['--docker-socket', 'docker.sock'], 125, /^berthd: --docker-socket must be an absolute path, not "docker.sock"$/m);
  const criSocket = join(inst.base, 'berth.sock');
  await refused(['--docker-socket', criSocket], 125, new RegExp(`^berthd: the Docker API socket and the CRI socket are both ${criSocket}: choose another --docker-socket$`, 'm'));
  // A file that is not a socket is left alone.
  const file = join(inst.base, 'not-a-socket');
  writeFileSync(file, 'keep');
  const d = await startBerthd(t, inst, { args: ['--docker-socket', file], noWait: true });
  assert.notEqual(await d.exited, 0);
  assert.match(d.logs(), new RegExp(`^berthd: ${file} exists and is not a socket: remove it or choose another --docker-socket$`, 'm'));
  assert.equal(readFileSync(file, 'utf8'), 'keep');
  assert.equal(existsSync(d.socket), false);

  // The empty flag turns berth.toml's off.
  const off = join(inst.base, 'off.sock');
  writeFileSync(toml, `${base}[daemon]\ndocker_socket = "${off}"\n`);
  const served = await startBerthd(t, inst, { args: ['--docker-socket', ''] });
  await until('serving', () => /"msg":"berthd serving"/.test(served.logs()));
  assert.equal(existsSync(off), false);
  assert.doesNotMatch(served.logs(), /dockerSocket/);
  assert.equal(await served.stop(), 0);

  // Claimed as the CRI socket: a stale socket file is replaced, a live one refused.
  writeFileSync(toml, base);
  const dockerSocket = join(inst.base, 'docker.sock');
  execFileSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(dockerSocket)})`]);
  const live = await startBerthd(t, inst, { args: ['--docker-socket', dockerSocket] });
  await until('the Docker API', async () => (await request(dockerSocket, 'GET', '/_ping').catch(() => undefined))?.body === 'OK');
  const second = await startBerthd(t, inst, { args: ['--docker-socket', dockerSocket], socket: join(inst.base, 'second.sock'), noWait: true });
  assert.equal(await second.exited, 125);
  assert.match(second.logs(), new RegExp(`^berthd: another server is serving on ${dockerSocket}$`, 'm'));
  assert.equal(existsSync(second.socket), false);
  assert.equal((await request(dockerSocket, 'GET', '/_ping')).body, 'OK', 'the first one still serves');
  assert.equal(await live.stop(), 0);
});
