// Pod sandboxes through the library, as berthd drives them (real namespaces, real CNI
// plugins, real runc and conmon): a pod without any process, containers that join it and
// share its network, IPC, hostname and files; stop and remove leave nothing; a creator
// SIGKILLed half-way leaves a pod that the next look removes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { listMounts, newInstance, type Instance } from '../helpers/index.js';
import { openEngine, type TestEngine } from '../container/engine.js';
import { isBerthError } from '../../src/errors/index.js';
import type { PodManager } from '../../src/pod/index.js';

const dirsOf = (inst: Instance) => ({ root: inst.root, runRoot: inst.runRoot, configDir: inst.configDir });

async function setup(t: Parameters<typeof newInstance>[0]): Promise<{ inst: Instance; e: TestEngine; pods: PodManager; img: string }> {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const e = await openEngine(dirsOf(inst));
  t!.after(() => e.close());
  return { inst, e, pods: await e.engine.pods(), img };
}

function rulesFor(ip: string): string[] {
  return execFileSync('iptables-save', [], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('-A') && l.includes(`${ip}/`));
}

/** Mount points under the instance (namespace pins, rootfs mounts). */
const mountsUnder = (inst: Instance) => listMounts().filter((m) => m.mountPoint.startsWith(inst.base)).map((m) => m.mountPoint);

async function output(e: TestEngine, id: string, command: string[]): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  const r = await e.containers.exec(id, { command }, { stdout: out, stderr: out });
  assert.equal(r.exitCode, 0, `${command.join(' ')}: ${text}`);
  return text.trim();
}

test('a pod without a process: containers share its network, IPC and hostname; stop and remove leave nothing', async (t) => {
  const { inst, e, pods, img } = await setup(t);
  const pod = await pods.run({ name: 'web_default_uid1_0', hostname: 'webpod', dns: { servers: ['10.0.0.10'], searches: ['svc.local'], options: ['ndots:5'] } });
  assert.equal(pod.state, 'ready');
  const ip = pod.network!.attachments[0]!.ips[0]!.split('/')[0]!;
  const p = pods.paths(pod);
  assert.ok(mountsUnder(inst).includes(p.netns!) && mountsUnder(inst).includes(p.ipc!) && mountsUnder(inst).includes(p.uts!), 'the namespaces are pinned');
  assert.equal(execFileSync('nsenter', [`--uts=${p.uts}`, 'hostname'], { encoding: 'utf8' }).trim(), 'webpod');
  assert.match(readFileSync(p.resolvConf, 'utf8'), /^nameserver 10\.0\.0\.10$/m);
  assert.match(readFileSync(p.resolvConf, 'utf8'), /^search svc\.local$/m);
  assert.ok(rulesFor(ip).length > 0, 'the network is up');

  // Two containers in it: one listens on the pod's loopback, the other reaches it.
  const join1 = pods.joinSpec(pod);
  const server = await e.containers.start(
    (await e.containers.create({ image: img, command: ['sh', '-c', 'echo hello-from-a | nc -l -p 8080; sleep 1000'], ...join1 }, { podId: pod.id })).id,
  );
  const client = await e.containers.start((await e.containers.create({ image: img, command: ['sleep', '1000'], ...pods.joinSpec(pod) }, { podId: pod.id })).id);
  assert.deepEqual((await pods.containersOf(pod.id)).map((c) => c.id).sort(), [server.id, client.id].sort());
  assert.equal(await output(e, client.id, ['hostname']), 'webpod');
  assert.match(await output(e, client.id, ['cat', '/etc/resolv.conf']), /nameserver 10\.0\.0\.10/);
  assert.match(await output(e, client.id, ['ip', '-4', 'addr', 'show', 'eth0']), new RegExp(`inet ${ip.replace(/\./g, '\\.')}/`));
  let got = '';
  for (let i = 0; i < 50 && !got.includes('hello-from-a'); i++) {
    got = await output(e, client.id, ['sh', '-c', 'nc 127.0.0.1 8080 </dev/null || true']);
    if (!got.includes('hello-from-a')) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(got, 'hello-from-a', "the second container reached the first's listener over the pod's loopback");
  const ipcOf = (pid: number) => statSync(`/proc/${pid}/ns/ipc`).ino;
  assert.equal(ipcOf(server.pid!), ipcOf(client.pid!), 'one IPC namespace');
  assert.equal(ipcOf(server.pid!), statSync(p.ipc!).ino, "the pod's");

  const usage = await pods.stats(pod.id);
  assert.deepEqual(usage.interfaces.map((i) => i.name), ['eth0'], "the pod's interfaces, read through a container in its netns");
  assert.equal(usage.containers.length, 2);
  assert.ok(usage.processes >= 2 && usage.memoryWorkingSetBytes > 0 && usage.cpuNanos > 0, JSON.stringify(usage));

  // Stop: containers down, network down; stopping again is a no-op.
  const stopped = await pods.stop(pod.id);
  assert.equal(stopped.state, 'notready');
  assert.deepEqual((await pods.containersOf(pod.id)).map((c) => c.state), ['stopped', 'stopped']);
  assert.deepEqual(rulesFor(ip), []);
  assert.equal(existsSync(p.netns!), false);
  assert.equal((await pods.stop(pod.id)).state, 'notready');

  await pods.remove(pod.id);
  await assert.rejects(pods.get(pod.id), (err: unknown) => isBerthError(err, 'NotFound'));
  assert.deepEqual(await e.containers.list({ all: true }), []);
  assert.deepEqual(mountsUnder(inst), []);
  assert.deepEqual(readdirSync(join(inst.root, 'pods')), []);
  assert.deepEqual(readdirSync(join(inst.runRoot, 'pods')), []);
  assert.deepEqual(readdirSync(join(inst.root, 'cni', 'results')).filter((f) => f.endsWith('.json')), []);
  const events = (await e.engine.events()).list().filter((ev) => ev.id === pod.id || ev.attributes.pod === pod.id);
  assert.deepEqual(
    events.map((ev) => `${ev.type} ${ev.action}`),
    ['pod create', 'container create', 'container start', 'container create', 'container start', 'container die', 'container die', 'pod stop', 'container destroy', 'container destroy', 'pod remove'],
  );
});

test('host network and IPC: no namespaces of its own; names are unique; bad names refused', async (t) => {
  const { inst, pods } = await setup(t);
  const pod = await pods.run({ name: 'hostpod', network: 'host', ipc: 'host' });
  assert.equal(pod.network, null);
  assert.deepEqual(mountsUnder(inst), []);
  assert.equal(pods.joinSpec(pod).network?.mode, 'host');
  await assert.rejects(pods.run({ name: 'hostpod', network: 'host' }), (err: unknown) => isBerthError(err, 'AlreadyExists'));
  await assert.rejects(pods.run({ name: 'bad/name' }), (err: unknown) => isBerthError(err, 'InvalidArgument'));
  await pods.remove('hostpod');
  assert.deepEqual(await pods.list(), []);
});

test('a creator SIGKILLed after pinning the namespaces: the next look removes the half-made pod', async (t) => {
  const { inst, pods } = await setup(t);
  const parkFile = join(inst.base, 'parked');
  const engineModule = fileURLToPath(new URL('../../src/engine/index.js', import.meta.url));
  const script = `import(${JSON.stringify(engineModule)}).then(async ({ createEngine }) => {
    const e = createEngine({ root: ${JSON.stringify(inst.root)}, runRoot: ${JSON.stringify(inst.runRoot)}, configDir: ${JSON.stringify(inst.configDir)} });
    await (await e.pods()).run({ name: 'halfmade' });
  })`;
  const child = spawn(process.execPath, ['-e', script], { env: { ...inst.env, BERTH_PARK_AT: 'pod-namespaces', BERTH_PARK_FILE: parkFile }, stdio: 'inherit' });
  const exited = new Promise((r) => child.once('exit', r));
  const deadline = Date.now() + 30_000;
  while (!existsSync(parkFile)) {
    assert.ok(Date.now() < deadline && child.exitCode === null, 'the creator parked after pinning the namespaces');
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(mountsUnder(inst).length, 2, 'IPC and UTS are pinned');
  child.kill('SIGKILL');
  await exited;
  assert.deepEqual(await pods.list(), [], 'the next look removed it');
  assert.deepEqual(mountsUnder(inst), []);
  assert.deepEqual(readdirSync(join(inst.root, 'pods')), []);
});

test('a shared PID namespace: one infra process (catatonit) as PID 1, containers see each other; host PID and IPC share the host\'s', async (t) => {
  const { inst, e, pods, img } = await setup(t);
  const pod = await pods.run({ name: 'sharedpid', pid: 'pod', network: 'host' });
  assert.ok(pod.infra && pod.infra.pid > 0, 'an infra process runs');
  // runc start returns once the process was told to exec: it may still be runc's init for a
  // moment, or in the middle of the exec (an empty cmdline).
  const cmdline = () => readFileSync(`/proc/${pod.infra!.pid}/cmdline`, 'utf8');
  for (let i = 0; i < 100 && (cmdline().includes('runc') || cmdline() === ''); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(cmdline(), /^\/catatonit\0-P\0$/);
  const a = await e.containers.start((await e.containers.create({ image: img, command: ['sleep', '1001'], ...pods.joinSpec(pod) }, { podId: pod.id })).id);
  const b = await e.containers.start((await e.containers.create({ image: img, command: ['sleep', '1002'], ...pods.joinSpec(pod) }, { podId: pod.id })).id);
  const ps = await output(e, b.id, ['ps', '-o', 'pid,args']);
  assert.match(ps, /^\s*1 \/catatonit -P$/m, `PID 1 is the infra process: ${ps}`);
  assert.match(ps, /sleep 1001/, "the other container's process is visible");
  assert.equal(await output(e, a.id, ['hostname']), execFileSync('hostname', { encoding: 'utf8' }).trim(), 'host network: the host UTS namespace');
  const infraPid = pod.infra.pid;
  await pods.stop(pod.id);
  assert.equal(existsSync(`/proc/${infraPid}`), false, 'stop ends the infra process');
  await pods.remove(pod.id);
  assert.deepEqual(mountsUnder(inst), []);
  assert.deepEqual(readdirSync(join(inst.runRoot, 'runtime')).filter((f) => f === pod.id), []);

  const host = await pods.run({ name: 'hostns', pid: 'host', ipc: 'host', network: 'host' });
  const c = await e.containers.start((await e.containers.create({ image: img, command: ['sleep', '1003'], ...pods.joinSpec(host) }, { podId: host.id })).id);
  const nsOf = (pid: number | string, type: string) => statSync(`/proc/${pid}/ns/${type}`).ino;
  assert.equal(nsOf(c.pid!, 'pid'), nsOf('self', 'pid'), "the host's PID namespace");
  assert.equal(nsOf(c.pid!, 'ipc'), nsOf('self', 'ipc'), "the host's IPC namespace");
  await pods.remove(host.id);
  assert.deepEqual(await e.containers.list({ all: true }), []);
});
