// Health checks against real containers: a check that passes, one that fails (unhealthy
// after its retries), one killed at its timeout, the start period, `healthcheck run`'s exit
// codes and errors, ps and inspect, health_status events, the on-failure actions, the
// image's HEALTHCHECK (and --no-healthcheck), and the timer: small, gone after stop, kill
// and rm, back after a start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxTarball, listProcesses, newInstance, type Instance } from '../helpers/index.js';
import { parseDuration, parseHealthCmd } from '../../src/cli/healthcheck.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const inspect = async (inst: Instance, name: string) => JSON.parse(await ok(inst, ['inspect', name]))[0];
const status = async (inst: Instance, name: string) => (await ok(inst, ['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Names}} {{.Status}}'])).trim();

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The health check timers of this instance's containers: their loops, sleeps and checks under way. */
function timers(inst: Instance, id?: string): { pid: number; cmdline: string[] }[] {
  const all = listProcesses();
  const ours = (p: { cmdline: string[] }) => p.cmdline.includes(inst.root) && (!id || p.cmdline.includes(id));
  const loops = all.filter((p) => ours(p) && (p.cmdline.includes('berth-healthcheck') || p.cmdline.includes('container-healthcheck')));
  const pids = new Set(loops.map((p) => p.pid));
  const children = all.filter((p) => pids.has(parentPid(p.pid)));
  return [...new Set([...loops, ...children])];
}

function parentPid(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  } catch {
    return -1;
  }
}

const NET = ['--network', 'none'];

test('health flags: durations, the command forms, and bad values refused before anything is made', async (t) => {
  assert.equal(parseDuration('30s', 'x'), 30_000);
  assert.equal(parseDuration('1m30s', 'x'), 90_000);
  assert.equal(parseDuration('1.5s', 'x'), 1500);
  assert.equal(parseDuration('250ms', 'x'), 250);
  assert.equal(parseDuration('0', 'x'), 0);
  assert.throws(() => parseDuration('30', 'x'), /invalid value "30" for x/);
  assert.throws(() => parseDuration('3 s', 'x'), /invalid value/);
  assert.deepEqual(parseHealthCmd('curl -f localhost || exit 1'), ['CMD-SHELL', 'curl -f localhost || exit 1']);
  assert.deepEqual(parseHealthCmd('["CMD","test","-e","/x"]'), ['CMD', 'test', '-e', '/x']);
  assert.deepEqual(parseHealthCmd('["test","-e","/x"]'), ['CMD', 'test', '-e', '/x']);
  assert.deepEqual(parseHealthCmd('["CMD-SHELL","exit 0"]'), ['CMD-SHELL', 'exit 0']);
  assert.deepEqual(parseHealthCmd('none'), ['NONE']);
  assert.throws(() => parseHealthCmd('[1,2]'), /not a JSON array of strings/);

  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  for (const [flags, re] of [
    [['--health-cmd', 'true', '--no-healthcheck'], /cannot specify both --no-healthcheck and --health-cmd/],
    [['--health-cmd', 'true', '--health-interval', 'often'], /invalid value "often" for --health-interval/],
    [['--health-cmd', 'true', '--health-interval', '500ms'], /healthcheck-interval must be at least 1 second/],
    [['--health-cmd', 'true', '--health-timeout', '0s'], /healthcheck-timeout must be at least 1 second/],
    [['--health-cmd', 'true', '--health-retries', '0'], /healthcheck-retries must be greater than 0/],
    [['--health-cmd', 'true', '--health-on-failure', 'explode'], /invalid on-failure action "explode"/],
    [['--health-cmd', ''], /must provide a non-empty command/],
  ] as const) {
    const r = await inst.run(['run', '-d', ...NET, ...flags, img, 'sleep', '60']);
    assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  assert.equal(await ok(inst, ['ps', '-aq']), '', 'nothing was created');
});

test('a passing check, a failing one (unhealthy after its retries), ps, inspect, events and the timer', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const since = new Date(Date.now() - 1000).toISOString();

  // Checks run when asked (no interval): passes once /tmp/ok exists.
  const id = (await ok(inst, ['run', '-d', '--name', 'asked', ...NET, '--health-cmd', 'echo checked; test -e /tmp/ok', '--health-interval', 'disable', '--health-retries', '2', img, 'sleep', '600'])).trim();
  assert.match(await status(inst, 'asked'), /^asked Up .* \(starting\)$/);
  let i = await inspect(inst, 'asked');
  assert.deepEqual(i.Config.Healthcheck, { Test: ['CMD-SHELL', 'echo checked; test -e /tmp/ok'], Timeout: 30e9, Retries: 2 });
  assert.deepEqual(i.State.Health, { Status: 'starting', FailingStreak: 0, Log: null });
  assert.equal(await ok(inst, ['inspect', '-f', '{{.State.Healthcheck.Status}}', 'asked']), 'starting\n', "podman's alias");
  for (const n of [1, 2]) {
    const r = await inst.run(['healthcheck', 'run', 'asked']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, 'unhealthy\n');
    assert.equal((await inspect(inst, 'asked')).State.Health.Status, n < 2 ? 'starting' : 'unhealthy', `after ${n} failures (2 retries)`);
  }
  i = await inspect(inst, 'asked');
  assert.equal(i.State.Health.FailingStreak, 2);
  const last = i.State.Health.Log.at(-1);
  assert.equal(last.ExitCode, 1);
  assert.equal(last.Output, 'checked');
  assert.ok(Date.parse(last.End) >= Date.parse(last.Start));
  assert.match(await status(inst, 'asked'), /^asked Up .* \(unhealthy\)$/);
  assert.equal(await ok(inst, ['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}']), 'asked\n');

  // Fixed: healthy, the streak reset; at most 5 results kept.
  await ok(inst, ['exec', 'asked', 'touch', '/tmp/ok']);
  for (let n = 0; n < 4; n++) {
    const good = await inst.run(['healthcheck', 'run', 'asked']);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout, '');
  }
  i = await inspect(inst, 'asked');
  assert.equal(i.State.Health.Status, 'healthy');
  assert.equal(i.State.Health.FailingStreak, 0);
  assert.deepEqual(i.State.Health.Log.map((l: { ExitCode: number }) => l.ExitCode), [1, 0, 0, 0, 0]);
  assert.match(await status(inst, 'asked'), /^asked Up .* \(healthy\)$/);
  assert.equal(await ok(inst, ['ps', '--filter', 'health=healthy', '--format', '{{.Names}}']), 'asked\n');
  assert.equal(await ok(inst, ['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}']), '');

  // Stopped: the last run's health stays; a new run starts over.
  await ok(inst, ['stop', '-t', '0', 'asked']);
  assert.equal((await inspect(inst, 'asked')).State.Health.Status, 'healthy');
  assert.match(await status(inst, 'asked'), /^asked Exited/);
  const r = await inst.run(['healthcheck', 'run', 'asked']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^berth: container asked is not running$/m);
  await ok(inst, ['start', 'asked']);
  i = await inspect(inst, 'asked');
  assert.deepEqual([i.State.Health.Status, i.State.Health.FailingStreak, i.State.Health.Log.length], ['starting', 0, 5]);

  // A container without a check: health none, no suffix, an empty Health.
  await ok(inst, ['run', '-d', '--name', 'plain', ...NET, img, 'sleep', '600']);
  assert.equal(await ok(inst, ['ps', '--filter', 'health=none', '--format', '{{.Names}}']), 'plain\n');
  assert.match(await status(inst, 'plain'), /^plain Up [^(]*$/);
  const p = await inspect(inst, 'plain');
  assert.deepEqual(p.State.Health, { Status: '', FailingStreak: 0, Log: null });
  assert.equal(p.Config.Healthcheck, null);
  const bad = await inst.run(['ps', '--filter', 'health=great']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /invalid filter "health=great"/);
  assert.deepEqual(timers(inst), [], 'no timer without an interval');

  // Scheduled: unhealthy by the timer's checks, then healthy once fixed.
  const web = (await ok(inst, ['run', '-d', '--name', 'web', ...NET, '--health-cmd', 'test -e /tmp/ok', '--health-interval', '1s', '--health-retries', '2', img, 'sleep', '600'])).trim();
  assert.equal((await inspect(inst, 'web')).Config.Healthcheck.Interval, 1e9);
  await until('unhealthy by the timer', async () => ((await inspect(inst, 'web')).State.Health.Status === 'unhealthy' ? true : undefined));
  await ok(inst, ['exec', 'web', 'touch', '/tmp/ok']);
  await until('healthy by the timer', async () => {
    const h = (await inspect(inst, 'web')).State.Health;
    return h.Status === 'healthy' && h.FailingStreak === 0 ? true : undefined;
  });

  // Each result is a health_status event.
  const events = await ok(inst, ['events', '--since', since, '--until', new Date().toISOString(), '--filter', 'event=health_status']);
  assert.match(events, new RegExp(`container health_status ${id} \\(.*health_status=unhealthy`));
  assert.match(events, new RegExp(`container health_status ${web} \\(.*health_status=healthy`));

  // The timer: one small loop; gone after stop, back after start, gone after kill and rm.
  // The loop's shell forks for each sleep and check: until that child execs it has the loop's
  // command line too, so a loop counts only where its parent is not one.
  const oneLoop = (what: string) => {
    const shells = timers(inst, web).filter((x) => x.cmdline.includes('berth-healthcheck'));
    const pids = new Set(shells.map((x) => x.pid));
    const loops = shells.filter((x) => !pids.has(parentPid(x.pid)));
    assert.equal(loops.length, 1, `${what}: ${JSON.stringify(timers(inst))}`);
  };
  oneLoop('the first run');
  // The loop and its sleep (a check under way is a berth process for that moment only).
  const rss = timers(inst, web)
    .filter((x) => x.cmdline.includes('berth-healthcheck') || x.cmdline[0] === 'sleep')
    .reduce((kb, x) => kb + Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${x.pid}/status`, 'utf8'))?.[1] ?? 0), 0);
  assert.ok(rss < 8 * 1024, `the timer's processes hold ${rss} kB`);
  await ok(inst, ['stop', '-t', '0', 'web']);
  // The loop and its sleep go at once; a check under way ends with its exec.
  assert.deepEqual(timers(inst, web).filter((x) => !x.cmdline.includes('container-healthcheck')), [], 'no loop after stop');
  await until('nothing of the timer after stop', async () => (timers(inst, web).length === 0 ? true : undefined), 5000);
  await ok(inst, ['start', 'web']);
  oneLoop('the start after stop');
  await ok(inst, ['kill', 'web']);
  await until('the kill', async () => ((await inspect(inst, 'web')).State.Status === 'exited' ? true : undefined));
  await until('the timer gone after kill', async () => (timers(inst, web).length === 0 ? true : undefined), 5000);
  await ok(inst, ['start', 'web']);
  oneLoop('the start after kill');
  await ok(inst, ['rm', '-f', 'web', 'asked', 'plain']);
  await until('nothing of the timer after rm', async () => (timers(inst).length === 0 ? true : undefined), 5000);
});

test('a check killed at its timeout, the start period, the errors of healthcheck run, on-failure actions', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();

  // Timeout: the check is killed after 1 s and counts as a failure (ExitCode -1).
  await ok(inst, ['run', '-d', '--name', 'slow', ...NET, '--health-cmd', 'echo begun; exec sleep 40', '--health-timeout', '1s', '--health-interval', 'disable', img, 'sleep', '600']);
  const started = Date.now();
  const r = await inst.run(['healthcheck', 'run', 'slow']);
  const took = Date.now() - started;
  assert.equal(r.code, 125, r.stderr);
  assert.match(r.stderr, /^berth: healthcheck command exceeded timeout of 1s$/m);
  assert.ok(took < 10_000, `the check ended after ${took} ms`);
  const h = (await inspect(inst, 'slow')).State.Health;
  assert.equal(h.FailingStreak, 1);
  assert.equal(h.Log[0].ExitCode, -1);
  assert.equal(h.Log[0].Output, 'begun');
  const ps = await ok(inst, ['exec', 'slow', 'ps', '-o', 'args']);
  assert.doesNotMatch(ps, /sleep 40/, 'the timed-out check was killed');
  // No timer for an interval of disable.
  assert.deepEqual(timers(inst), []);

  // Start period: failures do not count until a check has passed.
  await ok(inst, ['run', '-d', '--name', 'boot', ...NET, '--health-cmd', 'test -e /tmp/up', '--health-start-period', '60s', '--health-retries', '1', '--health-interval', 'disable', img, 'sleep', '600']);
  assert.deepEqual((await inspect(inst, 'boot')).Config.Healthcheck.StartPeriod, 60e9);
  for (let n = 0; n < 2; n++) {
    const f = await inst.run(['healthcheck', 'run', 'boot']);
    assert.equal(f.code, 1);
    assert.equal(f.stdout, 'unhealthy\n');
  }
  let b = (await inspect(inst, 'boot')).State.Health;
  assert.deepEqual([b.Status, b.FailingStreak, b.Log.length], ['starting', 0, 2]);
  await ok(inst, ['exec', 'boot', 'touch', '/tmp/up']);
  assert.equal((await inst.run(['healthcheck', 'run', 'boot'])).code, 0);
  await ok(inst, ['exec', 'boot', 'rm', '/tmp/up']);
  assert.equal((await inst.run(['healthcheck', 'run', 'boot'])).code, 1);
  b = (await inspect(inst, 'boot')).State.Health;
  assert.deepEqual([b.Status, b.FailingStreak], ['unhealthy', 1], 'after a pass, a failure in the start period counts');

  // Errors: no check, no such container, not running.
  await ok(inst, ['run', '-d', '--name', 'nocheck', ...NET, img, 'sleep', '600']);
  for (const [name, re] of [
    ['nocheck', /^berth: container nocheck has no defined healthcheck$/m],
    ['nosuch', /^berth: no such container: nosuch$/m],
  ] as const) {
    const e = await inst.run(['healthcheck', 'run', name]);
    assert.equal(e.code, 125);
    assert.match(e.stderr, re);
  }

  // On failure: kill ends the container; restart starts it again.
  await ok(inst, ['run', '-d', '--name', 'victim', ...NET, '--health-cmd', 'false', '--health-retries', '1', '--health-interval', 'disable', '--health-on-failure', 'kill', img, 'sleep', '600']);
  assert.equal((await inst.run(['healthcheck', 'run', 'victim'])).code, 1);
  await until('killed', async () => ((await inspect(inst, 'victim')).State.Status === 'exited' ? true : undefined));
  await ok(inst, ['run', '-d', '--name', 'phoenix', ...NET, '--health-cmd', 'false', '--health-retries', '1', '--health-interval', 'disable', '--health-on-failure', 'restart', img, 'sleep', '600']);
  const before = (await inspect(inst, 'phoenix')).State.StartedAt;
  assert.equal((await inst.run(['healthcheck', 'run', 'phoenix'])).code, 1);
  const after = await inspect(inst, 'phoenix');
  assert.equal(after.State.Status, 'running');
  assert.notEqual(after.State.StartedAt, before, 'restarted');
  assert.equal(after.State.Health.Status, 'starting');
  await ok(inst, ['rm', '-f', 'slow', 'boot', 'nocheck', 'victim', 'phoenix']);
});

/** A docker-archive of the busybox rootfs whose config has a HEALTHCHECK. */
function healthyImageArchive(dir: string, healthcheck: object): string {
  const work = join(dir, 'hc-image');
  execFileSync('mkdir', ['-p', work]);
  copyFileSync(busyboxTarball(), join(work, 'layer.tar'));
  const diffId = 'sha256:' + createHash('sha256').update(readFileSync(join(work, 'layer.tar'))).digest('hex');
  const config = JSON.stringify({
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    config: { Cmd: ['sleep', '600'], Healthcheck: healthcheck },
    rootfs: { type: 'layers', diff_ids: [diffId] },
  });
  const configName = createHash('sha256').update(config).digest('hex') + '.json';
  writeFileSync(join(work, configName), config);
  writeFileSync(join(work, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: ['localhost/healthy:1'], Layers: ['layer.tar'] }]));
  const archive = join(dir, 'healthy.tar');
  execFileSync('tar', ['-cf', archive, '-C', work, 'manifest.json', configName, 'layer.tar']);
  return archive;
}

test("the image's HEALTHCHECK is used by default, flags override its fields, --no-healthcheck disables it", async (t) => {
  const inst = await newInstance(t);
  const archive = healthyImageArchive(inst.base, { Test: ['CMD-SHELL', 'test -e /etc/passwd'], Interval: 1e9, Timeout: 5e9, Retries: 1 });
  await ok(inst, ['load', '-q', '-i', archive]);

  const id = (await ok(inst, ['run', '-d', '--name', 'imaged', ...NET, 'localhost/healthy:1'])).trim();
  assert.deepEqual((await inspect(inst, 'imaged')).Config.Healthcheck, { Test: ['CMD-SHELL', 'test -e /etc/passwd'], Interval: 1e9, Timeout: 5e9, Retries: 1 });
  await until('healthy by the image\'s check', async () => ((await inspect(inst, 'imaged')).State.Health.Status === 'healthy' ? true : undefined));
  assert.equal(timers(inst, id).filter((x) => x.cmdline.includes('berth-healthcheck')).length, 1);

  // A flag replaces that field only.
  await ok(inst, ['create', '--name', 'tuned', ...NET, '--health-retries', '4', '--health-interval', 'disable', 'localhost/healthy:1']);
  assert.deepEqual((await inspect(inst, 'tuned')).Config.Healthcheck, { Test: ['CMD-SHELL', 'test -e /etc/passwd'], Timeout: 5e9, Retries: 4 });
  await ok(inst, ['create', '--name', 'other', ...NET, '--health-cmd', '["CMD","true"]', 'localhost/healthy:1']);
  assert.deepEqual((await inspect(inst, 'other')).Config.Healthcheck.Test, ['CMD', 'true']);

  // --no-healthcheck: none at all.
  const off = (await ok(inst, ['run', '-d', '--name', 'off', ...NET, '--no-healthcheck', 'localhost/healthy:1'])).trim();
  const i = await inspect(inst, 'off');
  assert.deepEqual(i.Config.Healthcheck, { Test: ['NONE'] });
  assert.equal(i.State.Health.Status, '');
  assert.match(await status(inst, 'off'), /^off Up [^(]*$/);
  assert.deepEqual(timers(inst, off), []);
  const r = await inst.run(['healthcheck', 'run', 'off']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /has no defined healthcheck/);
  await ok(inst, ['rm', '-f', 'imaged', 'tuned', 'other', 'off']);
  assert.deepEqual(timers(inst), []);
});
