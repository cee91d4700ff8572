// ExecSync (output, exit code, timeout), the security context seen from inside, container
// and pod stats,
// UpdateContainerResources seen in the cgroup, and ReopenContainerLog after a rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance } from '../helpers/index.js';
import { busyboxImage, PEER, peerDiffers, startBerthd, type Berthd } from './berthd.js';
import { grpcError, Status } from './client.js';
import { sandboxConfig } from './sandbox.js';

async function until<T>(what: string, fn: () => T | undefined | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const exec = async (d: Berthd, id: string, cmd: string[], timeout = 30) => {
  const r = await d.cri.runtime('ExecSync', { container_id: id, cmd, timeout });
  return { out: r.stdout.toString(), err: r.stderr.toString(), code: r.exit_code };
};

test('ExecSync, security contexts from inside, stats, resource updates and log reopening', async (t) => {
  const inst = await newInstance(t);
  t.after(() => inst.cleanup());
  const d = await startBerthd(t, inst);
  const image = await busyboxImage(d, inst);
  const logDir = join(inst.base, 'pod-logs');
  mkdirSync(logDir, { recursive: true });
  const podConfig = sandboxConfig('execs', { log_directory: logDir });
  const { pod_sandbox_id: pod } = await d.cri.runtime('RunPodSandbox', { config: podConfig });
  const run = async (name: string, extra: object) => {
    const { container_id: id } = await d.cri.runtime('CreateContainer', {
      pod_sandbox_id: pod,
      sandbox_config: podConfig,
      config: { metadata: { name, attempt: 0 }, image: { image }, labels: { name }, ...extra },
    });
    await d.cri.runtime('StartContainer', { container_id: id });
    return id;
  };
  const sleeper = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];
  // The kubelet's own /etc/hosts, mounted over the pod's.
  const hostsFile = join(inst.base, 'etc-hosts');
  writeFileSync(hostsFile, '127.0.0.1 localhost\n10.1.2.3 managed-by-the-kubelet\n');
  const user = await run('user', {
    command: sleeper,
    mounts: [{ container_path: '/etc/hosts', host_path: hostsFile, readonly: true }],
    linux: { security_context: { run_as_user: { value: 1000 }, run_as_group: { value: 2000 }, supplemental_groups: [3000], readonly_rootfs: true, no_new_privs: true } },
  });
  const caps = await run('caps', {
    command: sleeper,
    linux: {
      security_context: { capabilities: { drop_capabilities: ['ALL'], add_capabilities: ['CHOWN'] } },
      resources: { memory_limit_in_bytes: 64 << 20, cpu_shares: 512 },
    },
  });
  const ticker = await run('ticker', { command: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'], log_path: 'ticker.log' });

  // ExecSync: stdout, stderr and the exit code apart.
  assert.deepEqual(await exec(d, caps, ['sh', '-c', 'echo to-out; echo to-err >&2; exit 3']), { out: 'to-out\n', err: 'to-err\n', code: 3 });
  assert.equal((await exec(d, caps, ['hostname'])).out, 'execs-host\n', "the pod's hostname");
  assert.match((await exec(d, user, ['cat', '/etc/hosts'])).out, /managed-by-the-kubelet/, "the kubelet's /etc/hosts");
  assert.doesNotMatch((await exec(d, caps, ['cat', '/etc/hosts'])).out, /managed-by-the-kubelet/, "the pod's where none is given");

  // The security contexts, from inside.
  assert.equal((await exec(d, user, ['id', '-u'])).out.trim(), '1000');
  assert.equal((await exec(d, user, ['id', '-g'])).out.trim(), '2000');
  assert.match((await exec(d, user, ['id', '-G'])).out, /\b3000\b/, 'the supplemental group');
  const ro = await exec(d, user, ['touch', '/rootfs-file']);
  assert.notEqual(ro.code, 0);
  assert.match(ro.err, /Read-only file system/);
  assert.match((await exec(d, user, ['grep', 'NoNewPrivs', '/proc/self/status'])).out, /NoNewPrivs:\s+1/);
  assert.match((await exec(d, caps, ['grep', 'CapEff', '/proc/self/status'])).out, /CapEff:\s+0000000000000001$/m, 'only CAP_CHOWN');
  assert.match((await exec(d, caps, ['grep', 'NoNewPrivs', '/proc/self/status'])).out, /NoNewPrivs:\s+0/);

  // A timeout ends the call with DeadlineExceeded and the process with it.
  const t0 = Date.now();
  const timedOut = await grpcError(d.cri.runtime('ExecSync', { container_id: caps, cmd: ['sleep', '37'], timeout: 1 }));
  assert.equal(timedOut.code, Status.DEADLINE_EXCEEDED);
  assert.ok(Date.now() - t0 < 15_000);
  assert.equal((await exec(d, caps, ['sh', '-c', 'ps -o args | grep "^sleep 37" || true'])).out.trim(), '', 'the timed-out process is gone');
  assert.equal((await grpcError(d.cri.runtime('ExecSync', { container_id: 'e'.repeat(64), cmd: ['true'] }))).code, Status.NOT_FOUND);

  // Stats: CPU, memory and the writable layer from the cgroup and the upper dir.
  await exec(d, caps, ['dd', 'if=/dev/zero', 'of=/big', 'bs=1M', 'count=3']);
  let { stats } = await d.cri.runtime('ContainerStats', { container_id: caps });
  // containerd measures writable layers every stats_collect_period (the peer's: 1 s), berth when asked.
  for (let i = 0; PEER && i < 50 && Number(stats.writable_layer.used_bytes.value) < 3 << 20; i++) {
    await new Promise((r) => setTimeout(r, 200));
    ({ stats } = await d.cri.runtime('ContainerStats', { container_id: caps }));
  }
  assert.equal(stats.attributes.id, caps);
  assert.deepEqual(stats.attributes.metadata, { name: 'caps', attempt: 0 });
  assert.ok(Number(stats.cpu.usage_core_nano_seconds.value) > 0, 'cpu time');
  assert.ok(Number(stats.memory.working_set_bytes.value) > 0, 'working set');
  assert.ok(Number(stats.memory.available_bytes.value) <= 64 << 20, 'available under the limit');
  assert.ok(Number(stats.writable_layer.used_bytes.value) >= 3 << 20, `writable layer ${stats.writable_layer.used_bytes.value} ≥ 3 MiB`);
  const listed = (await d.cri.runtime('ListContainerStats', { filter: {} })).stats.map((s: any) => s.attributes.id).sort();
  assert.deepEqual(listed, [user, caps, ticker].sort());
  assert.deepEqual((await d.cri.runtime('ListContainerStats', { filter: { label_selector: { name: 'user' } } })).stats.map((s: any) => s.attributes.id), [user]);

  // The pod's: its containers summed, its interfaces, its processes.
  const podStats = (await d.cri.runtime('PodSandboxStats', { pod_sandbox_id: pod })).stats;
  assert.equal(podStats.attributes.id, pod);
  assert.deepEqual(podStats.attributes.metadata, { name: 'execs', uid: 'uid-execs', namespace: 'testns', attempt: 1 });
  assert.ok(Number(podStats.linux.cpu.usage_core_nano_seconds.value) >= Number(stats.cpu.usage_core_nano_seconds.value));
  assert.ok(Number(podStats.linux.memory.working_set_bytes.value) >= Number(stats.memory.working_set_bytes.value));
  assert.ok(Number(podStats.linux.process.process_count.value) >= 3, 'a process per container at least');
  assert.equal(podStats.linux.network.default_interface.name, 'eth0');
  assert.ok(Number(podStats.linux.network.default_interface.tx_bytes.value) > 0, 'eth0 sent something (its address announcements at least)');
  assert.deepEqual(podStats.linux.containers.map((c: any) => c.attributes.id).sort(), [user, caps, ticker].sort());
  assert.deepEqual((await d.cri.runtime('ListPodSandboxStats', { filter: {} })).stats.map((s: any) => s.attributes.id), [pod]);
  assert.deepEqual((await d.cri.runtime('ListPodSandboxStats', { filter: { label_selector: { app: 'other' } } })).stats, []);
  assert.equal((await grpcError(d.cri.runtime('PodSandboxStats', { pod_sandbox_id: 'e'.repeat(64) }))).code, Status.NOT_FOUND);

  // UpdateContainerResources: the cgroup's limit changes, and the status says so.
  const limit = () => exec(d, caps, ['sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max']);
  assert.equal((await limit()).out.trim(), String(64 << 20));
  await d.cri.runtime('UpdateContainerResources', { container_id: caps, linux: { memory_limit_in_bytes: 96 << 20 } });
  assert.equal((await limit()).out.trim(), String(96 << 20));
  const st = (await d.cri.runtime('ContainerStatus', { container_id: caps })).status;
  assert.equal(st.resources.linux.memory_limit_in_bytes, String(96 << 20));
  assert.equal(st.resources.linux.cpu_shares, '512', 'the other limits stay');

  // ReopenContainerLog: after a rotation conmon writes to a new file; the old one stops growing.
  const logFile = join(logDir, 'ticker.log');
  await until('ticks in the log', () => existsSync(logFile) && readFileSync(logFile, 'utf8').includes('tick 2'));
  renameSync(logFile, `${logFile}.1`);
  await d.cri.runtime('ReopenContainerLog', { container_id: ticker });
  assert.ok(existsSync(logFile), 'a new log file');
  await until('ticks in the new log', () => /stdout F tick \d+/.test(readFileSync(logFile, 'utf8')));
  const old = readFileSync(`${logFile}.1`, 'utf8');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(readFileSync(`${logFile}.1`, 'utf8'), old, 'the rotated file is left alone');

  await d.cri.runtime('StopContainer', { container_id: ticker, timeout: 0 });
  const notRunning = peerDiffers(Status.FAILED_PRECONDITION, Status.UNKNOWN, 'containerd 1.6 returns "container is not running" untyped');
  assert.equal((await grpcError(d.cri.runtime('ReopenContainerLog', { container_id: ticker }))).code, notRunning);
  await d.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  await d.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
});
