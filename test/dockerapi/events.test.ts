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

  // Processes that exit at once: their exit may be recorded before their starter records
  // them running, and their start is still there, before their die.
  await t.test('events --since --until: create, start, die, destroy of containers made here', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    assert.equal((await docker(['run', '--name', 'ev1', '--network', 'none', image, 'sh', '-c', 'exit 3'])).code, 3);
    assert.equal((await docker(['run', '--name', 'ev2', '--network', 'none', image, 'true'])).code, 0);
    const quick = ['q1', 'q2', 'q3', 'q4', 'q5'];
    for (const name of quick) assert.equal((await docker(['run', '--name', name, '--network', 'none', image, 'true'])).code, 0);
    // Recorded as started, whoever recorded the exit.
    for (const name of ['ev1', 'ev2', ...quick]) {
      const [startedAt, finishedAt] = (await ok(['inspect', '-f', '{{.State.StartedAt}} {{.State.FinishedAt}}', name])).trim().split(' ');
      assert.ok(!startedAt.startsWith('0001-') && Date.parse(startedAt) <= Date.parse(finishedAt), `${name}: ${startedAt} ${finishedAt}`);
    }
    // berth's own CLI writes the same log.
    assert.equal((await inst.run(['rm', 'ev1'])).code, 0);
    await ok(['rm', 'ev2', ...quick]);
    const until = Math.ceil(Date.now() / 1000) + 1;
    const r = await ok(['events', '--since', String(since), '--until', String(until), '--format', FORMAT]);
    const lines = r.trim().split('\n');
    const of = (name: string) => lines.filter((l) => l.split(' ')[2] === name).map((l) => l.split(' ')[1]);
    for (const name of ['ev1', 'ev2', ...quick]) assert.deepEqual(of(name), ['create', 'start', 'die', 'destroy'], `${name}: ${r}`);
    // berth's own `events` reads them the same.
    const own = await inst.run(['events', '--since', String(since), '--until', String(until), '--filter', 'type=container', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    assert.equal(own.code, 0, own.stderr);
    for (const name of ['ev1', 'ev2', ...quick]) {
      const actions = own.stdout.trim().split('\n').filter((l) => l.endsWith(` ${name}`)).map((l) => l.split(' ')[0]);
      assert.deepEqual(actions, ['create', 'start', 'die', 'destroy'], `${name}: ${own.stdout}`);
    }
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
    await ok(['run', '--name', 'ev3', '--network', 'none', image, 'true']);
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
