// Containers in pods through berthd as a kubelet drives them: create → start → RUNNING →
// its effects seen from the host (its CRI log under the pod's log dir, a file in a volume
// given through a symlink) → stop with a timeout (SIGKILL) → EXITED with code and reason →
// remove; an exit recorded while nobody asks, and the events a watcher saw; two containers sharing the
// pod's network; bad requests and unknown IDs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance, type Instance } from '../helpers/index.js';
import { openStore } from '../../src/store/index.js';
import { berthOnly, busyboxImage, peerDiffers, startBerthd, UNTYPED, type Berthd } from './berthd.js';
import { grpcError, Status } from './client.js';
import { sandboxConfig } from './sandbox.js';

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function setup(t: Parameters<typeof newInstance>[0], name: string): Promise<{ inst: Instance; d: Berthd; pod: string; podConfig: any; image: string; logDir: string }> {
  const inst = await newInstance(t);
  t!.after(() => inst.cleanup());
  const d = await startBerthd(t!, inst);
  // Images are shared by every namespace: one imported by the CLI serves the CRI's pods.
  const image = await busyboxImage(d, inst);
  const logDir = join(inst.base, 'pod-logs', name);
  mkdirSync(logDir, { recursive: true });
  const podConfig = sandboxConfig(name, { log_directory: logDir });
  const { pod_sandbox_id: pod } = await d.cri.runtime('RunPodSandbox', { config: podConfig });
  return { inst, d, pod, podConfig, image, logDir };
}

const containerConfig = (name: string, image: string, extra: object = {}): any => ({
  metadata: { name, attempt: 0 },
  image: { image },
  labels: { role: name },
  annotations: { 'example.com/c': name },
  ...extra,
});

const status = async (d: Berthd, id: string) => (await d.cri.runtime('ContainerStatus', { container_id: id })).status;

test('container lifecycle in a pod: create, start, RUNNING, log and volume, stop with SIGKILL after the timeout, EXITED, remove', async (t) => {
  const { inst, d, pod, podConfig, image, logDir } = await setup(t, 'life');
  const volume = join(inst.base, 'volume');
  mkdirSync(volume);
  writeFileSync(join(volume, 'in'), 'from-the-host\n');
  const link = join(inst.base, 'volume-link');
  symlinkSync(volume, link);
  mkdirSync(join(logDir, 'worker'));
  const req = {
    pod_sandbox_id: pod,
    sandbox_config: podConfig,
    config: containerConfig('worker', image, {
      // A shell as PID 1 ignores SIGTERM: only the SIGKILL after the timeout ends it. PID 1 of
      // its own namespace, as the kubelet asks (it copies the pod's namespace options: unset,
      // pid would be POD, the pod's namespace, whose PID 1 is containerd's pause).
      linux: { security_context: { namespace_options: podConfig.linux.security_context.namespace_options } },
      command: ['sh', '-c'],
      args: ['echo "hello-$GREETING from $(hostname)"; cat /data/in > /data/out; exec sh -c "while true; do sleep 1; done"'],
      envs: [{ key: 'GREETING', value: 'cri' }],
      working_dir: '/tmp',
      mounts: [{ container_path: '/data', host_path: link, propagation: 'PROPAGATION_PRIVATE' }],
      log_path: 'worker/0.log',
    }),
  };
  const before = BigInt(Date.now()) * 1_000_000n;
  const { container_id: id } = await d.cri.runtime('CreateContainer', req);
  assert.match(id, /^[0-9a-f]{64}$/);
  let s = await status(d, id);
  assert.equal(s.state, 'CONTAINER_CREATED');
  assert.deepEqual(s.metadata, { name: 'worker', attempt: 0 });
  assert.ok(BigInt(s.created_at) >= before - 1_000_000_000n, 'created_at in ns');
  assert.equal(s.started_at, '0');
  assert.equal(s.log_path, join(logDir, 'worker/0.log'));
  assert.deepEqual(s.labels, { role: 'worker' });
  assert.deepEqual(s.annotations, { 'example.com/c': 'worker' }, 'exactly the annotations given');
  assert.equal(s.image.image, image);
  // image_id came with Kubernetes 1.30's CRI, after containerd 1.6.
  assert.match(s.image_id, peerDiffers(/^sha256:[0-9a-f]{64}$/, /^$/, 'containerd 1.6 predates ContainerStatus.image_id'));
  assert.ok(s.image_ref, 'an image_ref');
  assert.equal(s.mounts.length, 1);
  assert.equal(s.mounts[0].container_path, '/data');
  const hostPath = peerDiffers(volume, link, "containerd echoes the request's host_path; berth, like cri-o, reports the path it mounted");
  assert.equal(s.mounts[0].host_path, hostPath, 'the symlink resolved');
  assert.equal(s.mounts[0].propagation, 'PROPAGATION_PRIVATE');

  await d.cri.runtime('StartContainer', { container_id: id });
  s = await status(d, id);
  assert.equal(s.state, 'CONTAINER_RUNNING');
  assert.ok(BigInt(s.started_at) >= BigInt(s.created_at));
  assert.equal(s.finished_at, '0');

  // Its effects, seen from the host: the CRI-format log under the pod's log dir, the volume.
  const logFile = join(logDir, 'worker/0.log');
  const line = await until('the log line', () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('hello-cri')) : undefined));
  assert.match(line, /^\d{4}-\d\d-\d\dT\S+ stdout F hello-cri from life-host$/, "the CRI log format; the pod's hostname");
  assert.equal(await until('the file written in the volume', () => (existsSync(join(volume, 'out')) ? readFileSync(join(volume, 'out'), 'utf8') : undefined)), 'from-the-host\n');

  const list = async (filter: object) => (await d.cri.runtime('ListContainers', { filter })).containers.map((c: any) => c.id);
  assert.deepEqual(await list({}), [id]);
  assert.deepEqual(await list({ pod_sandbox_id: pod }), [id]);
  assert.deepEqual(await list({ pod_sandbox_id: 'f'.repeat(64) }), []);
  assert.deepEqual(await list({ id: id.slice(0, 10) }), [id]);
  assert.deepEqual(await list({ state: { state: 'CONTAINER_RUNNING' } }), [id]);
  assert.deepEqual(await list({ state: { state: 'CONTAINER_EXITED' } }), []);
  assert.deepEqual(await list({ label_selector: { role: 'worker' } }), [id]);
  assert.deepEqual(await list({ label_selector: { role: 'other' } }), []);
  const listed = (await d.cri.runtime('ListContainers', {})).containers[0];
  assert.equal(listed.pod_sandbox_id, pod);
  assert.deepEqual(listed.metadata, { name: 'worker', attempt: 0 });
  assert.equal(listed.state, 'CONTAINER_RUNNING');
  assert.deepEqual(listed.annotations, { 'example.com/c': 'worker' });

  const t0 = Date.now();
  await d.cri.runtime('StopContainer', { container_id: id, timeout: 2 });
  const took = Date.now() - t0;
  assert.ok(took >= 1900 && took < 15_000, `SIGKILL after the 2 s timeout (took ${took} ms)`);
  s = await status(d, id);
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 137);
  assert.equal(s.reason, 'Error');
  assert.ok(BigInt(s.finished_at) >= BigInt(s.started_at));
  assert.deepEqual(await list({ state: { state: 'CONTAINER_EXITED' } }), [id]);
  await d.cri.runtime('StopContainer', { container_id: id, timeout: 0 });

  await d.cri.runtime('RemoveContainer', { container_id: id });
  assert.equal((await grpcError(d.cri.runtime('ContainerStatus', { container_id: id }))).code, Status.NOT_FOUND);
  await d.cri.runtime('RemoveContainer', { container_id: id });
  assert.deepEqual(await list({}), []);
  assert.ok(existsSync(logFile), "the log stays: the kubelet owns the pod's log dir");
  await d.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  await d.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
});

test("an exit is recorded while nobody asks (conmon's hook, berthd's exit watch); Completed for exit 0", async (t) => {
  const { inst, d, pod, podConfig, image } = await setup(t, 'exits');
  const { container_id: id } = await d.cri.runtime('CreateContainer', {
    pod_sandbox_id: pod,
    sandbox_config: podConfig,
    config: containerConfig('oneshot', image, { command: ['true'] }),
  });
  // containerd 1.6 has no GetContainerEvents (the evented PLEG came with 1.7).
  const events = berthOnly('containerd 1.6 answers GetContainerEvents UNIMPLEMENTED');
  const watch = events ? d.cri.runtimeWatch('GetContainerEvents', {}) : undefined;
  if (watch) {
    t.after(() => watch.cancel());
    await watch.opened;
  }
  await d.cri.runtime('StartContainer', { container_id: id });
  if (berthOnly("berth's store")) {
    // The row itself, read without any RPC that would look at the container.
    const store = openStore(inst.root);
    t.after(() => store.close());
    const row = await until('the exit in the store', () => {
      const r = store.db.prepare('SELECT state, exit_code FROM containers WHERE id = ?').get(id) as { state: string; exit_code: number } | undefined;
      return r?.state === 'stopped' ? r : undefined;
    });
    assert.equal(row.exit_code, 0);
  } else {
    await until('the exit', async () => (await status(d, id)).state === 'CONTAINER_EXITED');
  }
  const s = await status(d, id);
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal(s.exit_code, 0);
  assert.equal(s.reason, 'Completed');
  // Removing the pod removes its containers.
  await d.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
  assert.equal((await grpcError(d.cri.runtime('ContainerStatus', { container_id: id }))).code, Status.NOT_FOUND);

  if (!watch) return;
  // GetContainerEvents saw what happened after it was opened, in order, with statuses.
  const types = ['CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'];
  await until('the events', () => (watch.items.length >= types.length ? true : undefined)).catch((e: Error) => {
    const why = d.logs().split('\n').filter((l) => /stream|event/i.test(l)).slice(-5).join('\n');
    throw new Error(`${e.message}; got ${JSON.stringify(watch.items.map((i: any) => i.container_event_type))}; berthd: ${why}`);
  });
  assert.deepEqual(watch.items.map((e: any) => e.container_event_type), types);
  assert.ok(watch.items.every((e: any) => e.container_id === id && BigInt(e.created_at) > 0n));
  // Statuses are read when the event is sent: a container removed by then has none.
  const [started, stopped, deleted] = watch.items;
  const states = (e: any) => e.containers_statuses.map((c: any) => c.state);
  assert.ok(states(started).every((st: string) => st === 'CONTAINER_RUNNING' || st === 'CONTAINER_EXITED'), String(states(started)));
  assert.ok(states(stopped).every((st: string) => st === 'CONTAINER_EXITED'), String(states(stopped)));
  assert.deepEqual(states(deleted), [], 'nothing left to report of a deleted container');
  assert.ok(watch.items.every((e: any) => e.pod_sandbox_status === null || e.pod_sandbox_status.id === pod), "the container's pod");
  watch.cancel();
  await watch.ended;
});

test("two containers in one pod share its network: one listens, the other connects to 127.0.0.1", async (t) => {
  const { d, pod, podConfig, image } = await setup(t, 'shared');
  const create = async (name: string, args: string[]) =>
    (await d.cri.runtime('CreateContainer', { pod_sandbox_id: pod, sandbox_config: podConfig, config: containerConfig(name, image, { command: ['sh', '-c'], args }) })).container_id;
  const server = await create('server', ['echo hello-from-server | nc -l -p 8080; sleep 1000']);
  await d.cri.runtime('StartContainer', { container_id: server });
  const client = await create('client', [
    'for i in $(seq 1 100); do got=$(nc 127.0.0.1 8080 </dev/null) && [ -n "$got" ] && { echo "got:$got" > /tmp/got; exit 0; }; sleep 0.1; done; exit 1',
  ]);
  await d.cri.runtime('StartContainer', { container_id: client });
  const s = await until('the client to finish', async () => {
    const st = await status(d, client);
    return st.state === 'CONTAINER_EXITED' ? st : undefined;
  });
  assert.equal(s.exit_code, 0, "the client reached the server's listener on the pod's loopback");
  assert.equal(s.reason, 'Completed');
  const ids = (await d.cri.runtime('ListContainers', { filter: { pod_sandbox_id: pod } })).containers.map((c: any) => c.id).sort();
  assert.deepEqual(ids, [server, client].sort());
  // Stopping the pod stops its containers.
  await d.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  assert.equal((await status(d, server)).state, 'CONTAINER_EXITED');
  await d.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
  assert.deepEqual((await d.cri.runtime('ListContainers', {})).containers, []);
});

test('bad container requests and unknown IDs', async (t) => {
  const { d, pod, podConfig, image } = await setup(t, 'bad');
  const unknown = 'e'.repeat(64);
  const code = async (method: string, req: object) => (await grpcError(d.cri.runtime(method, req))).code;
  const invalid = peerDiffers(Status.INVALID_ARGUMENT, Status.UNKNOWN, UNTYPED);
  assert.equal(await code('CreateContainer', { pod_sandbox_id: pod, sandbox_config: podConfig, config: { image: { image } } }), invalid, 'no metadata');
  assert.equal(await code('CreateContainer', { pod_sandbox_id: pod, sandbox_config: podConfig, config: containerConfig('noimage', '') }), invalid, 'no image');
  assert.equal(await code('CreateContainer', { pod_sandbox_id: unknown, sandbox_config: podConfig, config: containerConfig('x', image) }), Status.NOT_FOUND, 'unknown pod');
  assert.equal(await code('CreateContainer', { pod_sandbox_id: pod, sandbox_config: podConfig, config: containerConfig('x', 'no-such-image:1') }), Status.NOT_FOUND, 'unknown image');
  assert.equal(
    await code('CreateContainer', {
      pod_sandbox_id: pod,
      sandbox_config: podConfig,
      config: containerConfig('grouponly', image, { linux: { security_context: { run_as_group: { value: 10 } } } }),
    }),
    invalid,
    'run_as_group without a user',
  );
  assert.equal(await code('StartContainer', { container_id: unknown }), Status.NOT_FOUND);
  assert.equal(await code('StopContainer', { container_id: unknown }), Status.NOT_FOUND);
  assert.equal(await code('ContainerStatus', { container_id: unknown }), Status.NOT_FOUND);
  assert.equal(await code('ContainerStatus', { container_id: '' }), invalid);
  assert.deepEqual(await d.cri.runtime('RemoveContainer', { container_id: unknown }), {}, 'removing an unknown container succeeds');
  assert.deepEqual((await d.cri.runtime('ListContainers', {})).containers, [], 'no half-made container is left');
  await d.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  // containerd looks for the pod's pause task and reports it NotFound; the pod itself is
  // there, only not ready: a failed precondition.
  const stopped = peerDiffers(Status.FAILED_PRECONDITION, Status.NOT_FOUND, 'containerd 1.6: "failed to get sandbox container task: no running task found"');
  assert.equal(await code('CreateContainer', { pod_sandbox_id: pod, sandbox_config: podConfig, config: containerConfig('late', image) }), stopped, 'a stopped pod takes no container');
});
