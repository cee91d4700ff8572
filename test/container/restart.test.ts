// Restart policies, daemonless: conmon's exit command brings a container back after the
// backoff; on-failure counts its retries; a user's stop or kill leaves it stopped until it
// is started again; start --all --filter restart-policy= (for boot); bad policies refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newInstance, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const inspect = async (inst: Instance, name: string) => JSON.parse(await ok(inst, ['inspect', name]))[0];

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('restart policies: always comes back until stopped, on-failure counts retries, kill and stop win, start --all at boot', async (t) => {
  const inst = await newInstance(t);
  t.after(() => inst.cleanup());
  const img = await inst.importBusybox();

  // always: each exit brings it back (the backoff doubles from 100 ms).
  await ok(inst, ['run', '-d', '--restart', 'always', '--name', 'phoenix', '--network', 'none', img, 'sh', '-c', 'sleep 0.3; exit 3']);
  await until('two restarts', async () => ((await inspect(inst, 'phoenix')).RestartCount >= 2 ? true : undefined));
  const i = await inspect(inst, 'phoenix');
  assert.deepEqual(i.HostConfig.RestartPolicy, { Name: 'always', MaximumRetryCount: 0 });
  // A user's stop ends it for good, also when it comes during a backoff.
  await ok(inst, ['stop', '-t', '1', 'phoenix']);
  const stopped = await inspect(inst, 'phoenix');
  await new Promise((r) => setTimeout(r, 2500));
  const later = await inspect(inst, 'phoenix');
  assert.equal(later.State.Status, 'exited');
  assert.equal(later.RestartCount, stopped.RestartCount, 'not restarted after the stop');

  // on-failure:2 — two restarts, then it stays exited with its code.
  await ok(inst, ['run', '-d', '--restart', 'on-failure:2', '--name', 'flaky', '--network', 'none', img, 'sh', '-c', 'exit 1']);
  await until('the retries used up', async () => {
    const c = await inspect(inst, 'flaky');
    return c.RestartCount === 2 && c.State.Status === 'exited' ? c : undefined;
  });
  await new Promise((r) => setTimeout(r, 1500));
  const flaky = await inspect(inst, 'flaky');
  assert.equal(flaky.RestartCount, 2);
  assert.equal(flaky.State.ExitCode, 1);
  // on-failure and a clean exit: no restart.
  await ok(inst, ['run', '--restart', 'on-failure', '--name', 'clean', '--network', 'none', img, 'true']);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await inspect(inst, 'clean')).RestartCount, 0);

  // kill is a user's stop too.
  await ok(inst, ['run', '-d', '--restart', 'always', '--name', 'killed', '--network', 'none', img, 'sleep', '600']);
  await ok(inst, ['kill', 'killed']);
  await until('the kill', async () => ((await inspect(inst, 'killed')).State.Status === 'exited' ? true : undefined));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await inspect(inst, 'killed')).State.Status, 'exited');
  assert.equal((await inspect(inst, 'killed')).RestartCount, 0);

  // At boot: the stopped containers with a policy come back with start --all --filter.
  const started = (await ok(inst, ['start', '--all', '--filter', 'restart-policy=always'])).trim().split('\n').sort();
  assert.deepEqual(started, ['killed', 'phoenix']);
  assert.equal((await inspect(inst, 'killed')).State.Status, 'running');
  await ok(inst, ['rm', '-f', 'phoenix', 'killed', 'flaky', 'clean']);

  for (const [args, re] of [
    [['run', '--rm', '--restart', 'always', img, 'true'], /the --rm option conflicts with --restart/],
    [['run', '--restart', 'sometimes', img, 'true'], /invalid restart policy "sometimes"/],
    [['run', '--restart', 'always:3', img, 'true'], /invalid restart policy "always:3"/],
    [['run', '--stop-signal', 'BOGUS', img, 'true'], /invalid signal: "BOGUS"/],
  ] as const) {
    const r = await inst.run([...args]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, re);
  }
  assert.equal((await ok(inst, ['ps', '-aq'])).trim(), '', 'nothing was created by the refused runs');
});
