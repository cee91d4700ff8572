// The event log through the CLI: a container's lifecycle in order, one history for a
// follower and for later readers (resumed by sequence number), filters, bad arguments;
// exits recorded by conmon's exit command while no berth command ran.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { BERTH, newInstance, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const FORMAT = '{{.Seq}} {{.Type}} {{.Action}} {{.Actor.Attributes.name}}';

test('events: lifecycle in order, followed live and resumed by sequence number; filters; bad arguments', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  // A follower started before anything happens.
  const follower = spawn(BERTH, ['events', '--format', FORMAT], { env: inst.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let live = '';
  follower.stdout.on('data', (d) => (live += d));
  t.after(() => follower.kill());
  await new Promise((r) => setTimeout(r, 500));

  assert.equal((await inst.run(['run', '--name', 'one', '--network', 'none', img, 'sh', '-c', 'exit 3'])).code, 3);
  // Exits while no berth command waits: conmon's exit command records it.
  await ok(inst, ['run', '-d', '--name', 'two', '--network', 'none', img, 'sh', '-c', 'sleep 0.3']);
  await ok(inst, ['wait', 'two']);
  await ok(inst, ['rename', 'two', 'deux']);
  await ok(inst, ['rm', 'one', 'deux']);

  const past = (await ok(inst, ['events', '--since', '0', '--until', '0s', '--format', FORMAT])).trim().split('\n');
  const actions = past.map((l) => l.split(' ').slice(1).join(' '));
  assert.deepEqual(actions, [
    'container create one', 'container start one', 'container die one',
    'container create two', 'container start two', 'container die two', 'container rename deux',
    'container destroy one', 'container destroy deux',
  ]);
  const seqs = past.map((l) => Number(l.split(' ')[0]));
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'sequence numbers increase');
  const deadline = Date.now() + 10_000;
  while (live.trim().split('\n').length < past.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(live.trim().split('\n'), past, 'the follower saw the same history');

  // Resuming after event N gives what came after it, and nothing else.
  const resumed = (await ok(inst, ['events', '--since', String(seqs[4]), '--until', '0s', '--format', FORMAT])).trim().split('\n');
  assert.deepEqual(resumed, past.slice(5));
  const dies = await ok(inst, ['events', '--since', '0', '--until', '0s', '--filter', 'event=die', '--format', '{{.Actor.Attributes.name}}={{.Actor.Attributes.exitCode}}']);
  assert.equal(dies, 'one=3\ntwo=0\n');
  // Attributes are a map: an attribute an event lacks is "<no value>"; range goes in key order.
  const creates = await ok(inst, ['events', '--since', '0', '--until', '0s', '--filter', 'event=create', '--filter', 'container=one', '--format', '{{.Actor.Attributes.exitCode}}|{{range $k, $v := .Actor.Attributes}}{{$k}} {{end}}']);
  assert.equal(creates, '<no value>|image name \n');
  // docker's (Status, ID, From) and podman's (Name, Image) template fields.
  const named = await ok(inst, ['events', '--since', '0', '--until', '0s', '--filter', 'event=die', '--filter', 'container=one', '--format', '{{.Status}} {{.Name}} {{.Image}}={{.From}} {{len .ID}}']);
  assert.match(named, new RegExp(`^die one (\\S*${img}\\S*)=\\1 64\n$`));
  // A bad template fails before anything is followed or printed.
  const bad = await inst.run(['events', '--format', '{{.Nope']);
  assert.deepEqual([bad.code, bad.stdout, bad.stderr], [125, '', 'berth: template parsing error: template: :1: unclosed action\n']);
  const dflt = await ok(inst, ['events', '--since', '0', '--until', '0s', '--filter', 'container=one']);
  assert.match(dflt.split('\n')[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z container create [0-9a-f]{64} \(image=[^,]+, name=one\)$/);
  // Another namespace has its own history.
  assert.equal(await ok(inst, ['--namespace', 'k8s.io', 'events', '--since', '0', '--until', '0s']), '');

  for (const [args, message] of [
    [['--filter', 'bogus=1'], /^berth: invalid filter 'bogus'\n$/],
    [['--filter', 'novalue'], /^berth: bad format of filter/],
    [['--since', 'yesterday-ish'], /^berth: invalid value "yesterday-ish" for --since: expected a timestamp/],
  ] as const) {
    const r = await inst.run(['events', ...args, '--until', '0s']);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, message);
  }
});
