// The containerd peer itself (containerd.ts): it serves the CRI, runs a pod with a busybox
// container from the local registry on the instance's network, and stop() leaves nothing
// behind — no process, mount, netns, CNI rule, cgroup or file of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { listMounts, newInstance, processesUsing } from '../helpers/index.js';
import { startContainerd } from './containerd.js';
import { sandboxConfig } from './sandbox.js';

test('the containerd peer runs a pod from the local registry and stop() removes everything it made', async (t) => {
  const inst = await newInstance(t);
  const c = await startContainerd(t, inst);
  assert.equal((await c.cri.runtime('Version', {})).runtime_name, 'containerd');
  const { image_ref } = await c.cri.image('PullImage', { image: { image: c.images.busybox } }, { timeoutMs: 120_000 });
  assert.match(image_ref, /^sha256:/);
  const config = sandboxConfig('peer');
  const { pod_sandbox_id: pod } = await c.cri.runtime('RunPodSandbox', { config }, { timeoutMs: 120_000 });
  const { status } = await c.cri.runtime('PodSandboxStatus', { pod_sandbox_id: pod });
  assert.equal(status.state, 'SANDBOX_READY');
  assert.ok(status.network.ip.startsWith(inst.subnet.slice(0, inst.subnet.lastIndexOf('.') + 1)), `${status.network.ip} in ${inst.subnet}`);
  const { container_id: id } = await c.cri.runtime('CreateContainer', {
    pod_sandbox_id: pod,
    sandbox_config: config,
    config: { metadata: { name: 'sleeper', attempt: 0 }, image: { image: c.images.busybox }, command: ['sleep', '3600'] },
  });
  await c.cri.runtime('StartContainer', { container_id: id });
  const r = await c.cri.runtime('ExecSync', { container_id: id, cmd: ['hostname'], timeout: 10 });
  assert.equal(r.stdout.toString(), 'peer-host\n');
  const dir = join(inst.base, 'containerd');
  assert.ok(processesUsing(dir).some((p) => p.cmdline[0]?.endsWith('containerd-shim-runc-v2')), 'a shim runs');
  assert.match(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }), new RegExp(status.network.ip.replace(/\./g, '\\.')), 'a CNI masquerade rule');

  // A pod left running: stop() takes it down too.
  assert.equal(await c.stop(), 0);
  assert.deepEqual(processesUsing(dir).map((p) => p.cmdline.join(' ')), []);
  assert.deepEqual(listMounts().filter((m) => m.mountPoint.startsWith(dir)).map((m) => m.mountPoint), []);
  assert.doesNotMatch(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }), new RegExp(`${status.network.ip.replace(/\./g, '\\.')}\\b`));
  assert.equal(existsSync(`/sys/fs/cgroup/memory/k8s.io/${id}`), false);
  assert.equal(existsSync(dir), false);
});
