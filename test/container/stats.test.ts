// Resource usage from real cgroups: memory a container holds, its limit, CPU time of a busy
// process, pids, the writable layer; and `berth stats` showing them as docker does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newInstance, type Instance } from '../helpers/index.js';
import { openEngine } from './engine.js';
import { isBerthError } from '../../src/errors/index.js';

const dirsOf = (inst: Instance) => ({ root: inst.root, runRoot: inst.runRoot, configDir: inst.configDir });
const MiB = 1 << 20;

test('stats: memory, limit, CPU time, pids and the writable layer of a running container', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const e = await openEngine(dirsOf(inst));
  t.after(() => e.close());
  const m = e.containers;
  // 24 MiB in /dev/shm (charged to the container's memory), 6 MiB written to its rootfs, a busy loop.
  const c = await m.start(
    (
      await m.create({
        image: img,
        command: ['sh', '-c', 'dd if=/dev/zero of=/dev/shm/held bs=1M count=24 2>/dev/null; dd if=/dev/zero of=/written bs=1M count=6 2>/dev/null; touch /ready; while :; do :; done'],
        network: { mode: 'none' },
        resources: { memory: 64 * MiB, pids: 50 },
      })
    ).id,
  );
  const deadline = Date.now() + 30_000;
  let s = await m.stats(c.id, { writableLayer: true });
  while ((s.writableLayer?.usedBytes ?? 0) < 6 * MiB && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    s = await m.stats(c.id, { writableLayer: true });
  }
  assert.ok(s.memory.usageBytes >= 24 * MiB && s.memory.usageBytes < 64 * MiB, `usage ${s.memory.usageBytes}`);
  assert.ok(s.memory.workingSetBytes >= 24 * MiB && s.memory.workingSetBytes <= s.memory.usageBytes, `working set ${s.memory.workingSetBytes}`);
  assert.equal(s.memory.limitBytes, 64 * MiB);
  assert.equal(s.pids.limit, 50);
  assert.ok(s.pids.current >= 1 && s.pids.current < 5, `pids ${s.pids.current}`);
  assert.ok(s.writableLayer!.usedBytes >= 6 * MiB && s.writableLayer!.usedBytes < 8 * MiB, `writable layer ${s.writableLayer!.usedBytes}`);
  assert.ok(s.writableLayer!.inodesUsed >= 2);
  // The busy loop accrues CPU time: at least a tenth of the wall time between two reads.
  const later = await new Promise<typeof s>((r) => setTimeout(() => r(m.stats(c.id)), 1000));
  const share = (later.cpuNanos - s.cpuNanos) / ((later.timestamp - s.timestamp) * 1e6);
  assert.ok(share > 0.1 && share < 1.5, `CPU share ${share}`);
  assert.equal(later.writableLayer, undefined, 'the layer is walked only when asked');

  const cli = await inst.run(['stats', '--no-stream', '--format', '{{.Name}}|{{.MemUsage}}|{{.PIDs}}', c.name]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`^${c.name}\\|\\d+(\\.\\d+)?MiB / 64MiB\\|\\d+\\n$`));
  const table = await inst.run(['stats', '--no-stream']);
  assert.match(table.stdout, /^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS\n/);
  assert.match(table.stdout, new RegExp(`^${c.id.slice(0, 12)} +${c.name} +\\d+\\.\\d\\d% `, 'm'));
  // A table template heads its columns with docker's names.
  const picked = await inst.run(['stats', '--no-stream', '--format', 'table {{.ID}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.NetIO}}', c.name]);
  assert.match(picked.stdout, new RegExp(`^CONTAINER ID +CPU % +MEM USAGE / LIMIT +NET I/O\\n${c.id.slice(0, 12)} +\\d+\\.\\d\\d% +\\S+ / 64MiB +\\S+ / \\S+\\n$`));

  await m.stop(c.id, { timeout: 0 });
  await assert.rejects(m.stats(c.id), (err: unknown) => isBerthError(err, 'FailedPrecondition'));
  // A stopped container named (or listed by -a) gets a row of zeros, as podman and docker print.
  const idle = await inst.run(['stats', '--no-stream', '--format', '{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}', c.name]);
  assert.deepEqual([idle.code, idle.stdout], [0, `${c.name}|0.00%|0B / 0B|0B / 0B|0B / 0B|0\n`]);
  const missing = await inst.run(['stats', '--no-stream', 'nosuch']);
  assert.deepEqual([missing.code, missing.stderr], [125, 'berth: no such container: nosuch\n']);
});
