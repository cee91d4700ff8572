// berthd's RuntimeService as a kubelet sees it: Version, Status (the network condition
// follows the CNI conf dir), RuntimeConfig, UpdateRuntimeConfig, UNIMPLEMENTED answers;
// and the process: socket file, config and flags, SIGHUP, SIGTERM, a second daemon, a
// request that fails inside without taking the daemon down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { BERTH, newInstance } from '../helpers/index.js';
import { openStore } from '../../src/store/index.js';
import { BERTHD, berthOnly, logged, PEER, peerDiffers, startBerthd, UNTYPED } from './berthd.js';
import { criClient, grpcError, Status } from './client.js';

test('Version, RuntimeConfig, UpdateRuntimeConfig, the streaming RPCs refusing an empty request, and the RPCs not served yet', async (t) => {
  const inst = await newInstance(t);
  const d = await startBerthd(t, inst);
  const v = await d.cri.runtime('Version', { version: '0.1.0' });
  assert.equal(v.runtime_name, peerDiffers('berth', 'containerd', "each runtime's own name"));
  assert.equal(v.runtime_api_version, 'v1');
  assert.equal(v.version, '0.1.0');
  assert.match(v.runtime_version, /^\d+\.\d+\.\d+/);

  // RuntimeConfig came with Kubernetes 1.28's CRI, after containerd 1.6.
  if (PEER) assert.equal((await grpcError(d.cri.runtime('RuntimeConfig'))).code, Status.UNIMPLEMENTED);
  else assert.deepEqual(await d.cri.runtime('RuntimeConfig'), { linux: { cgroup_driver: 'CGROUPFS' } });
  assert.deepEqual(await d.cri.runtime('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.244.1.0/24' } } }), {});
  const info = await d.cri.runtime('Status', { verbose: true });
  if (berthOnly("containerd's verbose config is its CRI plugin config, which has no pod CIDR")) {
    assert.equal(JSON.parse(info.info.config).podCidr, '10.244.1.0/24', 'the pod CIDR is remembered');
  }

  // Both serve the streaming RPCs: an empty request is refused.
  for (const method of ['Exec', 'Attach', 'PortForward']) {
    assert.equal((await grpcError(d.cri.runtime(method, {}))).code, peerDiffers(Status.INVALID_ARGUMENT, Status.UNKNOWN, UNTYPED), method);
  }
  const ours = berthOnly("berth's wording");
  for (const method of ['ListMetricDescriptors']) {
    const e = await grpcError(d.cri.runtime(method, {}));
    assert.equal(e.code, Status.UNIMPLEMENTED, method);
    if (ours) assert.match(e.details, new RegExp(`RuntimeService/${method} is not implemented by berth yet`));
  }
  for (const method of ['StreamContainers', 'StreamPodSandboxMetrics']) {
    const e = await grpcError(d.cri.runtimeStream(method));
    assert.equal(e.code, Status.UNIMPLEMENTED, method);
    if (ours) assert.match(e.details, new RegExp(`RuntimeService/${method} is not implemented by berth yet`));
  }
  const ck = await grpcError(d.cri.runtime('CheckpointContainer', { container_id: 'x' }));
  assert.equal(ck.code, Status.UNIMPLEMENTED);
  if (ours) assert.match(ck.details, /does not checkpoint/);
});

test('Status: NetworkReady follows the CNI conf dir', { skip: PEER && "berth's CNI conf dir, from its berth.toml" }, async (t) => {
  const inst = await newInstance(t);
  const confDir = join(inst.base, 'cni'); // newInstance's [network] cni_conf_dir
  const d = await startBerthd(t, inst);
  const before = await d.cri.runtime('Status', { verbose: false });
  const cond = (s: any, type: string) => s.status.conditions.find((c: any) => c.type === type);
  assert.deepEqual(cond(before, 'RuntimeReady'), { type: 'RuntimeReady', status: true, reason: '', message: '' });
  assert.equal(cond(before, 'NetworkReady').status, false);
  assert.equal(cond(before, 'NetworkReady').reason, 'NetworkPluginNotReady');
  assert.match(cond(before, 'NetworkReady').message, new RegExp(`no CNI network config found in ${confDir}`));
  assert.deepEqual(before.info, {}, 'info only when verbose');

  mkdirSync(confDir, { recursive: true });
  writeFileSync(
    join(confDir, '10-pods.conflist'),
    JSON.stringify({ cniVersion: '1.0.0', name: 'pods', plugins: [{ type: 'bridge', bridge: inst.bridge, ipam: { type: 'host-local', subnet: inst.subnet } }] }),
  );
  const after = await d.cri.runtime('Status', { verbose: true });
  assert.deepEqual(cond(after, 'NetworkReady'), { type: 'NetworkReady', status: true, reason: '', message: '' });
  assert.deepEqual(JSON.parse(after.info.cniconfig).networks, ['pods']);
  assert.equal(after.info.lastCNILoadStatus, 'OK');
  assert.equal(JSON.parse(after.info.config).root, inst.root);
  assert.equal(JSON.parse(after.info.config).namespace, 'k8s.io', 'CRI objects live in their own namespace');
});

test('the socket: mode 0660, root-owned; SIGHUP reloads; SIGTERM exits 0 and removes it', { skip: PEER && "berthd's socket, signals and logs" }, async (t) => {
  const inst = await newInstance(t);
  const d = await startBerthd(t, inst);
  const st = lstatSync(d.socket);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o660);
  assert.equal(st.uid, 0);
  assert.equal(st.gid, 0);

  d.child.kill('SIGHUP');
  assert.match(await logged(d, /"msg":"reloaded"/), /"msg":"reloaded"/);
  assert.equal((await d.cri.runtime('Version')).runtime_name, 'berth', 'still serving after SIGHUP');

  // Logs are JSON lines.
  for (const line of d.logs().trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line);

  // An open event watch does not hold the shutdown up: it is ended, not waited for.
  const watch = d.cri.runtimeWatch('GetContainerEvents', {});
  await watch.opened;
  assert.equal((await d.cri.runtime('Version')).runtime_name, 'berth');
  const t0 = Date.now();
  assert.equal(await d.stop('SIGTERM'), 0);
  assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms with a watch open`);
  await watch.ended;
  assert.equal(existsSync(d.socket), false, 'socket removed');
  assert.match(d.logs(), /"msg":"shutting down","signal":"SIGTERM"/);
  assert.doesNotMatch(d.logs(), /calls still in flight after the grace period/);
});

test('a stale socket file is replaced; a live berthd on the socket is refused', { skip: PEER && "berthd's start-up" }, async (t) => {
  const inst = await newInstance(t);
  const socket = join(inst.base, 'stale.sock');
  // A socket file nobody listens on, what a SIGKILLed berthd leaves (node would unlink
  // its own on close): bound, never listened on.
  execFileSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(socket)})`]);
  assert.ok(lstatSync(socket).isSocket(), 'a stale socket file is there');
  const d = await startBerthd(t, inst, { socket });
  assert.equal((await d.cri.runtime('Version')).runtime_name, 'berth');

  const second = await startBerthd(t, inst, { socket, noWait: true });
  assert.equal(await second.exited, 125);
  assert.match(second.logs(), new RegExp(`another berthd is serving on ${socket}`));
  assert.equal((await d.cri.runtime('Version')).runtime_name, 'berth', 'the first one still serves');

  // A regular file where the socket should be is not removed.
  const file = join(inst.base, 'not-a-socket');
  writeFileSync(file, 'keep');
  const third = await startBerthd(t, inst, { socket: file, noWait: true });
  assert.notEqual(await third.exited, 0);
  assert.match(third.logs(), /exists and is not a socket/);
  assert.equal(readFileSync(file, 'utf8'), 'keep');
});

test('config: [daemon] and [cri] in berth.toml, flags over them', { skip: PEER && "berthd's config and flags" }, async (t) => {
  const inst = await newInstance(t);
  const socket = join(inst.base, 'from-toml.sock');
  appendFileSync(join(inst.configDir, 'berth.toml'), `[daemon]\nsocket = "${socket}"\nlog_level = "warn"\n[cri]\ncgroup_driver = "systemd"\n`);
  // No --socket flag: berth.toml's socket.
  const child = spawn(BERTHD, ['--root', inst.root, '--runroot', inst.runRoot, '--config-dir', inst.configDir], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  const c = criClient(socket);
  t.after(() => c.close());
  let cfg;
  for (let i = 0; i < 200 && !cfg; i++) {
    cfg = await c.runtime('RuntimeConfig', {}, { timeoutMs: 1000 }).catch(() => undefined);
    if (!cfg) await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(cfg, { linux: { cgroup_driver: 'SYSTEMD' } });
  child.kill('SIGTERM');
  await exited;

  // The flag wins.
  const d = await startBerthd(t, inst, { args: ['--cgroup-driver', 'cgroupfs'] });
  assert.deepEqual(await d.cri.runtime('RuntimeConfig'), { linux: { cgroup_driver: 'CGROUPFS' } });
  const bad = await startBerthd(t, inst, { args: ['--cgroup-driver', 'nonsense'], socket: join(inst.base, 'bad.sock'), noWait: true });
  assert.equal(await bad.exited, 125);
  assert.match(bad.logs(), /--cgroup-driver must be cgroupfs or systemd/);
});

test('a request that fails inside answers UNKNOWN and the daemon keeps serving', { skip: PEER && "damages berth's store" }, async (t) => {
  const inst = await newInstance(t);
  await inst.importBusybox('corrupt-me');
  const d = await startBerthd(t, inst);
  assert.equal((await d.cri.image('ListImages')).images.length, 1);
  // A damaged row: the image config is no JSON any more.
  const store = openStore(inst.root);
  store.db.prepare("UPDATE images SET config = '{not json'").run();
  store.close();
  const e = await grpcError(d.cri.image('ListImages'));
  assert.equal(e.code, Status.UNKNOWN);
  const failed = /"level":"error".*"msg":"rpc failed","method":"ImageService\/ListImages"/;
  assert.match(await logged(d, failed), failed);
  assert.equal((await d.cri.runtime('Version')).runtime_name, 'berth');
  assert.equal(d.child.exitCode, null);
  assert.equal(await d.stop(), 0);
});

test('berth daemon runs berthd; the CLI bundle itself carries no gRPC', { skip: PEER && "berth's CLI" }, async (t) => {
  const inst = await newInstance(t);
  const socket = join(inst.base, 'cli.sock');
  const child = spawn(BERTH, ['--root', inst.root, '--runroot', inst.runRoot, '--config-dir', inst.configDir, 'daemon', '--socket', socket, '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  const c = criClient(socket);
  t.after(() => c.close());
  let v;
  for (let i = 0; i < 300 && !v; i++) {
    v = await c.runtime('Version', {}, { timeoutMs: 1000 }).catch(() => undefined);
    if (!v) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(v?.runtime_name, 'berth', stderr);
  assert.match(stderr, new RegExp(`"msg":"berthd serving".*"root":"${inst.root}"`), 'the global flags reach the daemon');
  child.kill('SIGTERM');
  assert.equal(await exited, 0);

  const help = await inst.run(['daemon', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: berth daemon \[OPTIONS\]   \(also: berthd \[OPTIONS\]\)/);
  assert.match((await inst.run(['--help'])).stdout, /\n  daemon +Run berthd/);
  // Every other command starts without loading gRPC: it is not even in their bundle.
  const cli = readFileSync(join(BERTH, '..', '..', 'build', 'berth.cjs'), 'utf8');
  assert.equal(/@grpc|grpc-js|protobufjs/.test(cli), false);
});
