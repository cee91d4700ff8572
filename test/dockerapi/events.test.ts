// The system side of the Docker API with the real docker CLI: `docker events` (past ones
// from --since/--until, filters, and new ones streamed as they happen) from the event log
// berth's CLI writes too, and `docker system df`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { newInstance } from '../helpers/index.js';
import { hasDocker, startService } from './harness.js';

const FORMAT = '{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Status}} {{.From}}';

test('docker events and docker system df', { skip: !hasDocker() && 'no docker CLI on this machine' }, async (t) => {
  const inst = await newInstance();
  const image = await inst.importBusybox('localhost/busybox:latest');
  const svc = await startService(t, inst, inst.env);
  t.after(() => inst.cleanup());
  const { docker, ok } = svc;

  // The commands sleep a moment: a process that exits before its starter records it running
  // loses its start event (the exit is recorded first; see the container records).
  await t.test('events --since --until: create, start, die, destroy of containers made here', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    assert.equal((await docker(['run', '--name', 'ev1', '--network', 'none', image, 'sh', '-c', 'sleep 1; exit 3'])).code, 3);
    assert.equal((await docker(['run', '--name', 'ev2', '--network', 'none', image, 'sleep', '1'])).code, 0);
    // berth's own CLI writes the same log.
    assert.equal((await inst.run(['rm', 'ev1'])).code, 0);
    await ok(['rm', 'ev2']);
    const until = Math.ceil(Date.now() / 1000) + 1;
    const r = await ok(['events', '--since', String(since), '--until', String(until), '--format', FORMAT]);
    const lines = r.trim().split('\n');
    const of = (name: string) => lines.filter((l) => l.split(' ')[2] === name).map((l) => l.split(' ')[1]);
    assert.deepEqual(of('ev1'), ['create', 'start', 'die', 'destroy'], r);
    assert.deepEqual(of('ev2'), ['create', 'start', 'die', 'destroy'], r);
    assert.ok(lines.includes(`container die ev1 die ${image}`), r);
    const dies = await ok(['events', '--since', String(since), '--until', String(until), '--filter', 'event=die', '--filter', 'container=ev2', '--format', FORMAT]);
    assert.equal(dies, `container die ev2 die ${image}\n`);
    // The plain line: time, type, action, ID, attributes.
    const plain = await ok(['events', '--since', String(since), '--until', String(until), '--filter', 'container=ev1', '--filter', 'event=die']);
    assert.match(plain, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z container die [0-9a-f]{64} \(.*exitCode=3.*name=ev1.*\)\n$/);
    const bad = await docker(['events', '--since', String(since), '--until', String(until), '--filter', 'colour=red']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid filter 'colour'/);
  });

  await t.test('events without --until stream new events as they happen', async () => {
    const child = spawn('docker', ['events', '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'], { env: svc.clientEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((r) => child.once('exit', r));
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    // Only new events are sent: volumes made and removed until one shows, so the client is following.
    for (let i = 0; !out.includes('volume create probe'); i++) {
      assert.ok(i < 60, `the client never showed an event: ${out}`);
      assert.equal((await inst.run(['volume', 'create', 'probe'])).code, 0);
      assert.equal((await inst.run(['volume', 'rm', 'probe'])).code, 0);
      await new Promise((r) => setTimeout(r, 250));
    }
    await ok(['run', '--name', 'ev3', '--network', 'none', image, 'sleep', '1']);
    await ok(['rm', 'ev3']);
    const ev3 = () => out.split('\n').filter((l) => l.startsWith('container ') && l.endsWith(' ev3'));
    for (let i = 0; i < 100 && ev3().length < 4; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(ev3(), ['container create ev3', 'container start ev3', 'container die ev3', 'container destroy ev3'], out);
    assert.equal(child.exitCode, null, 'still following');
    child.kill('SIGTERM');
    await exited;
  });

  await t.test('system df: images, containers, volumes', async () => {
    await ok(['create', '--name', 'df1', '--network', 'none', image, 'true']);
    assert.equal((await inst.run(['volume', 'create', 'dfvol'])).code, 0);
    const rows = (await ok(['system', 'df', '--format', '{{.Type}}|{{.TotalCount}}|{{.Active}}'])).trim().split('\n');
    assert.deepEqual(rows, ['Images|1|1', 'Containers|1|0', 'Local Volumes|1|0', 'Build Cache|0|0']);
    const table = await ok(['system', 'df']);
    assert.match(table, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/m);
    assert.match(table, /^Images\s+1\s+1\s+[\d.]+[kMG]?B\s+0B \(0%\)$/m);
    await ok(['rm', 'df1']);
    const after = (await ok(['system', 'df', '--format', '{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Reclaimable}}'])).trim().split('\n');
    assert.equal(after[1], 'Containers|0|0|0B');
    assert.match(after[0], /^Images\|1\|0\|[\d.]+[kMG]?B \(100%\)$/);
  });
});
