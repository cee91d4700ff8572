// Mount propagation through the CRI takes the CLI's code path: PROPAGATION_BIDIRECTIONAL is
// rshared (the source must be on a shared mount, as containerd checks), HOST_TO_CONTAINER
// rslave, and the container's mountinfo shows them so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance } from '../helpers/index.js';
import { startBerthd } from '../cri/berthd.js';
import { grpcError, Status } from '../cri/client.js';
import { sandboxConfig } from '../cri/sandbox.js';

test('CRI propagation: bidirectional is shared, host-to-container a slave; a private source is refused', async (t) => {
  const inst = await newInstance(t);
  const image = await inst.importBusybox();
  const d = await startBerthd(t, inst);
  const logDir = join(inst.base, 'pod-logs');
  mkdirSync(logDir, { recursive: true });
  const podConfig = sandboxConfig('prop', { log_directory: logDir });
  const { pod_sandbox_id: pod } = await d.cri.runtime('RunPodSandbox', { config: podConfig });
  // A shared tmpfs under the instance's dir (its cleanup unmounts it), and a private dir.
  const shared = join(inst.base, 'shared');
  mkdirSync(shared);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', shared]);
  execFileSync('mount', ['--make-shared', shared]);
  const plain = join(inst.base, 'plain');
  mkdirSync(plain);
  const create = (name: string, mounts: object[]) =>
    d.cri.runtime('CreateContainer', {
      pod_sandbox_id: pod,
      sandbox_config: podConfig,
      config: { metadata: { name, attempt: 0 }, image: { image }, command: ['cat', '/proc/self/mountinfo'], mounts, log_path: `${name}.log` },
    });

  const refused = await grpcError(create('bad', [{ container_path: '/b', host_path: plain, propagation: 'PROPAGATION_BIDIRECTIONAL' }]));
  assert.equal(refused.code, Status.FAILED_PRECONDITION);
  assert.match(refused.details, /is not on a shared mount: rshared propagation needs one/);

  const { container_id: id } = await create('good', [
    { container_path: '/b', host_path: shared, propagation: 'PROPAGATION_BIDIRECTIONAL' },
    { container_path: '/h', host_path: shared, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
    { container_path: '/p', host_path: plain, propagation: 'PROPAGATION_PRIVATE' },
  ]);
  await d.cri.runtime('StartContainer', { container_id: id });
  const log = join(logDir, 'good.log');
  const deadline = Date.now() + 20_000;
  while (!(existsSync(log) && readFileSync(log, 'utf8').includes(' /p ')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  // CRI log lines: TIME STREAM TAG LINE.
  const lines = readFileSync(log, 'utf8').split('\n').map((l) => l.split(' ').slice(3));
  const optional = (dest: string) => {
    const f = lines.find((l) => l[4] === dest);
    assert.ok(f, `a mount at ${dest}`);
    return f.slice(6, f.indexOf('-'));
  };
  assert.ok(optional('/b').some((o) => o.startsWith('shared:')), 'bidirectional: shared');
  assert.ok(optional('/h').some((o) => o.startsWith('master:')), 'host to container: a slave');
  assert.deepEqual(optional('/p'), [], 'private');
  await d.cri.runtime('RemoveContainer', { container_id: id });
  await d.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  await d.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
});
