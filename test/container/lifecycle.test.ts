// Container lifecycle through the real CLI: real runc, conmon and overlayfs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance, listMounts, listProcesses, isAlive, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[], input?: string): Promise<string> {
  const r = await inst.run(args, { input });
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/**
 * Waits until the monitors of earlier incarnations have exited and no exit command
 * (`container-cleanup ID`, which a monitor starts before it exits) still runs.
 */
async function exitCommandsDone(id: string, monitors: number[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  const busy = () =>
    monitors.some(isAlive) || listProcesses().some((p) => !p.cmdline[0]?.endsWith('conmon') && p.cmdline.includes('container-cleanup') && p.cmdline.includes(id));
  while (busy()) {
    assert.ok(Date.now() < deadline, 'exit commands of the old incarnations finished');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('run passes output, stderr and the exit code through, and --rm leaves nothing', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const r = await inst.run(['run', '--rm', img, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal((await ok(inst, ['ps', '-aq'])).trim(), '');
  assert.equal(listMounts().filter((m) => m.mountPoint.startsWith(inst.base)).length, 0);
});

test('detached container: ps, logs, inspect, stop, start, restart, rm', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const id = (await ok(inst, ['run', '-d', '--name', 'web', img, 'sh', '-c', 'echo started; trap "exit 0" TERM; while true; do sleep 0.1; done'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ps = await ok(inst, ['ps']);
  assert.match(ps, /CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES/);
  assert.match(ps, new RegExp(`${id.slice(0, 12)}\\s+.*Up .*web`));
  // Unique prefix lookup.
  assert.equal((await ok(inst, ['inspect', '-f', '{{.State.Status}}', id.slice(0, 6)])).trim(), 'running');
  let logs = '';
  for (let i = 0; i < 50 && !logs.includes('started'); i++) {
    logs = await ok(inst, ['logs', 'web']);
    if (!logs.includes('started')) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(logs, 'started\n');
  // podman's exit status: 2 for a running container, 1 for a missing one.
  const rm = await inst.run(['rm', 'web']);
  assert.equal(rm.code, 2);
  assert.match(rm.stderr, /^berth: .*running.*(stop|force)/);
  const missing = await inst.run(['rm', 'nosuch', 'nothere']);
  assert.deepEqual([missing.code, missing.stderr], [1, 'berth: no such container: nosuch\nberth: no such container: nothere\n']);
  assert.equal((await inst.run(['rm', 'nosuch', 'web'])).code, 2, 'the running one counts');
  assert.equal((await ok(inst, ['stop', '-t', '5', 'web'])).trim(), 'web');
  assert.equal((await ok(inst, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'web'])).trim(), 'exited 0');
  assert.match(await ok(inst, ['ps', '-a']), /Exited \(0\)/);
  assert.equal(listMounts().filter((m) => m.mountPoint.startsWith(inst.base)).length, 0, 'rootfs unmounted after stop');
  await ok(inst, ['start', 'web']);
  assert.equal((await ok(inst, ['inspect', '-f', '{{.State.Running}}', 'web'])).trim(), 'true');
  // conmon's exit command for the old process runs while the restart makes a new one: it
  // must not touch the new incarnation.
  const oldMonitors: number[] = [];
  for (let i = 0; i < 4; i++) {
    oldMonitors.push(Number((await ok(inst, ['inspect', '-f', '{{.State.ConmonPid}}', 'web'])).trim()));
    await ok(inst, ['restart', '-t', '5', 'web']);
    assert.equal((await ok(inst, ['inspect', '-f', '{{.State.Running}}', 'web'])).trim(), 'true');
  }
  await exitCommandsDone(id, oldMonitors);
  assert.equal((await ok(inst, ['inspect', '-f', '{{.State.Status}}', 'web'])).trim(), 'running', 'still running once the exit commands are done');
  assert.match(await ok(inst, ['exec', 'web', 'cat', '/etc/hostname']), /^[0-9a-f]{12}\n$/);
  await ok(inst, ['rm', '-f', 'web']);
  assert.equal((await ok(inst, ['ps', '-aq'])).trim(), '');
  assert.equal(listMounts().filter((m) => m.mountPoint.startsWith(inst.base)).length, 0);
});

test('stop escalates to SIGKILL after the timeout (exit 137); kill -s sends a signal', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  // PID 1 without a handler ignores SIGTERM.
  await ok(inst, ['run', '-d', '--name', 'stubborn', img, 'sleep', '1000']);
  const t0 = Date.now();
  await ok(inst, ['stop', '-t', '1', 'stubborn']);
  assert.ok(Date.now() - t0 >= 900, 'waited for the timeout');
  assert.equal((await ok(inst, ['inspect', '-f', '{{.State.ExitCode}}', 'stubborn'])).trim(), '137');
  await ok(inst, ['run', '-d', '--name', 'trapper', img, 'sh', '-c', 'trap "exit 42" USR1; while true; do sleep 0.1; done']);
  await ok(inst, ['kill', '-s', 'USR1', 'trapper']);
  assert.equal((await ok(inst, ['wait', 'trapper'])).trim(), '42');
});

test('errors: unknown image, unknown container, name in use, missing command, bad flags', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const cases: [string[], RegExp, number][] = [
    [['run', '--rm', '--pull', 'never', 'nosuchimage'], /^berth: .*no such image/i, 125],
    [['logs', 'nosuchcontainer'], /^berth: no such container: nosuchcontainer$/, 125],
    [['run', '--rm', img, '/no/such/binary'], /^berth: .*(not found|no such file)/i, 127],
    [['run', '--rm', '--bogus', img], /^berth: unknown flag: --bogus$/, 125],
    [['run', '--rm', '--memory', 'lots', img, 'true'], /^berth: invalid size "lots"/, 125],
    [['run', '--rm', '-v', '/srv:/x:bogus', img, 'true'], /^berth: invalid volume specification "\/srv:\/x:bogus": unknown option "bogus"$/, 125],
    [['frobnicate'], /^berth: unknown command "frobnicate"/, 125],
  ];
  for (const [args, re, code] of cases) {
    const r = await inst.run(args);
    assert.equal(r.code, code, `berth ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.trim(), re);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  await ok(inst, ['create', '--name', 'taken', img, 'true']);
  const dup = await inst.run(['create', '--name', 'taken', img, 'true']);
  assert.equal(dup.code, 125);
  assert.match(dup.stderr, /^berth: the container name "taken" is already in use/);
  assert.equal((await ok(inst, ['ps', '-aq'])).trim().split('\n').length, 1, 'failed creates leave no container');
});

test('exec: exit codes, env, user, workdir, detached', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '-d', '--name', 'box', img, 'sleep', '1000']);
  assert.equal((await inst.run(['exec', 'box', 'sh', '-c', 'exit 5'])).code, 5);
  assert.equal(await ok(inst, ['exec', '-e', 'GREETING=hi', 'box', 'sh', '-c', 'echo $GREETING']), 'hi\n');
  assert.equal(await ok(inst, ['exec', '-u', 'tester', '-w', '/tmp', 'box', 'sh', '-c', 'id -un; pwd']), 'tester\n/tmp\n');
  assert.equal((await inst.run(['exec', 'box', 'nosuchcmd'])).code, 127);
  const hostCaps = /CapBnd:\s+([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1];
  assert.match(await ok(inst, ['exec', '--privileged', 'box', 'grep', 'CapEff', '/proc/self/status']), new RegExp(`CapEff:\\s+${hostCaps}`));
  assert.match(await ok(inst, ['exec', 'box', 'grep', 'CapEff', '/proc/self/status']), /CapEff:\s+00000000a80425fb/);
  await ok(inst, ['exec', '-d', 'box', 'sh', '-c', 'echo detached > /tmp/mark']);
  let mark = '';
  for (let i = 0; i < 50 && !mark; i++) {
    mark = (await inst.run(['exec', 'box', 'cat', '/tmp/mark'])).stdout;
    if (!mark) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(mark, 'detached\n');
  assert.equal(await ok(inst, ['exec', '-i', 'box', 'cat'], 'piped stdin\n'), 'piped stdin\n');
  // An exec ends when its process exits even if a background child keeps stdout open.
  const t0 = Date.now();
  const r = await inst.run(['exec', 'box', 'sh', '-c', 'sleep 30 & echo parent done']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /parent done/);
  assert.ok(Date.now() - t0 < 20_000, 'exec did not wait for the background child');
});

test('users, groups, env, workdir, hostname, entrypoint', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  assert.match(await ok(inst, ['run', '--rm', '-u', 'tester', img, 'id']), /^uid=1000\(tester\) gid=1000\(testers\) groups=.*2000\(extra\)/);
  assert.equal(await ok(inst, ['run', '--rm', '-u', 'tester:extra', img, 'id', '-g']), '2000\n');
  assert.equal(await ok(inst, ['run', '--rm', '-u', '1234:5678', img, 'id', '-u']), '1234\n');
  const bad = await inst.run(['run', '--rm', '-u', 'nobodyhere', img, 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /nobodyhere/);
  const envFile = `${inst.base}/env`;
  (await import('node:fs')).writeFileSync(envFile, '# comment\nFROM_FILE=yes\n');
  assert.equal(
    await ok(inst, ['run', '--rm', '-e', 'A=1', '--env-file', envFile, '-w', '/etc', '--hostname', 'boxhost', img, 'sh', '-c', 'echo $A $FROM_FILE $(pwd) $(hostname)']),
    '1 yes /etc boxhost\n',
  );
  assert.equal(await ok(inst, ['run', '--rm', '--entrypoint', 'echo', img, 'via', 'entrypoint']), 'via entrypoint\n');
  // --env-host: the host's variables, under --env-file's and --env's.
  const hosted = await inst.run(['run', '--rm', '--env-host', '--env-file', envFile, '-e', 'B=flag', img, 'sh', '-c', 'echo $ONLY_HOST $B $FROM_FILE'], {
    env: { ONLY_HOST: 'host', B: 'host', FROM_FILE: 'host' },
  });
  assert.deepEqual([hosted.code, hosted.stdout], [0, 'host flag yes\n'], hosted.stderr);
  assert.equal(await ok(inst, ['run', '--rm', img, 'sh', '-c', 'echo [$BERTH_ROOT]']), '[]\n', 'not without it');
  // --annotation: in the OCI spec and in inspect.
  await ok(inst, ['create', '--name', 'noted', '--annotation', 'io.example/a=1', '--annotation', 'b=x=y', img, 'true']);
  assert.equal(await ok(inst, ['inspect', '-f', '{{json .Config.Annotations}}', 'noted']), '{"b":"x=y","io.example/a":"1"}\n');
  const id = (await ok(inst, ['inspect', '-f', '{{.Id}}', 'noted'])).trim();
  const spec = JSON.parse(readFileSync(join(inst.root, 'containers', id, 'config.json'), 'utf8'));
  assert.equal(spec.annotations['io.example/a'], '1');
  const badAnnotation = await inst.run(['create', '--annotation', 'novalue', img, 'true']);
  assert.deepEqual([badAnnotation.code, badAnnotation.stderr], [125, 'berth: invalid annotation "novalue": must be formatted KEY=VALUE\n']);
});

test('mounts: bind (rw and ro), tmpfs, read-only rootfs', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const host = `${inst.base}/share`;
  (await import('node:fs')).mkdirSync(host);
  await ok(inst, ['run', '--rm', '-v', `${host}:/data`, img, 'sh', '-c', 'echo written > /data/f']);
  assert.equal(readFileSync(`${host}/f`, 'utf8'), 'written\n');
  const ro = await inst.run(['run', '--rm', '-v', `${host}:/data:ro`, img, 'sh', '-c', 'echo x > /data/g']);
  assert.notEqual(ro.code, 0);
  assert.ok(!existsSync(`${host}/g`));
  assert.match(await ok(inst, ['run', '--rm', '--tmpfs', '/scratch:size=1m', img, 'sh', '-c', 'grep /scratch /proc/mounts']), /tmpfs \/scratch tmpfs/);
  const rofs = await inst.run(['run', '--rm', '--read-only', img, 'touch', '/newfile']);
  assert.notEqual(rofs.code, 0);
  assert.match(rofs.stderr, /Read-only file system/);
});

test('limits are visible inside the container', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const out = await ok(inst, [
    'run', '--rm', '--memory', '64m', '--pids-limit', '50', '--cpus', '0.5', '--ulimit', 'nofile=1024:2048', img, 'sh', '-c',
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us; ulimit -n; ulimit -Hn',
  ]);
  assert.equal(out, '67108864\n50\n50000\n1024\n2048\n');
});

test('capabilities: default set, drop all, add, privileged; --init; network none and host', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const capEff = async (...flags: string[]) => (await ok(inst, ['run', '--rm', ...flags, img, 'sh', '-c', 'grep CapEff /proc/self/status'])).trim().split(/\s+/)[1];
  assert.equal(await capEff(), '00000000a80425fb', 'docker default capability set');
  assert.equal(await capEff('--cap-drop', 'ALL'), '0000000000000000');
  assert.equal(BigInt('0x' + (await capEff('--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN'))), 1n << 12n);
  const hostCaps = /CapBnd:\s+([0-9a-f]+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1];
  assert.equal(await capEff('--privileged'), hostCaps);
  assert.match(await ok(inst, ['run', '--rm', '--init', img, 'cat', '/proc/1/cmdline']), /init/);
  const links = await ok(inst, ['run', '--rm', '--network', 'none', img, 'sh', '-c', 'ls /sys/class/net']);
  assert.equal(links.trim(), 'lo');
  // Other tests add and remove host interfaces meanwhile: look for one made for this test.
  const marker = `bth${process.pid % 100000}`;
  const { execFileSync } = await import('node:child_process');
  execFileSync('ip', ['link', 'add', marker, 'type', 'bridge']);
  t.after(() => execFileSync('ip', ['link', 'del', marker]));
  const seen = (await ok(inst, ['run', '--rm', '--network', 'host', img, 'ls', '/sys/class/net'])).trim().split(/\s+/);
  assert.ok(seen.includes(marker) && seen.includes('lo'), `host network shows the host's interfaces: ${seen.join(' ')}`);
  // With host networking the container has the host's name, and inspect says so (it used to show the ID).
  const { hostname } = await import('node:os');
  const hostNet = (await ok(inst, ['run', '-d', '--network', 'host', img, 'sleep', '100'])).trim();
  assert.equal((await ok(inst, ['exec', hostNet, 'hostname'])).trim(), hostname());
  assert.equal((await ok(inst, ['inspect', '-f', '{{.Config.Hostname}}', hostNet])).trim(), hostname());
  assert.equal((await ok(inst, ['exec', hostNet, 'cat', '/etc/hostname'])).trim(), hostname());
  const own = (await ok(inst, ['create', '--network', 'none', img, 'true'])).trim();
  assert.equal((await ok(inst, ['inspect', '-f', '{{.Config.Hostname}}', own])).trim(), own.slice(0, 12));
  await ok(inst, ['rm', '-f', hostNet, own]);
});

test('--log-driver none: the output still reaches run and attach, no log file, logs refused', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const r = await inst.run(['run', '--name', 'quiet', '--network', 'none', '--log-driver', 'none', img, 'sh', '-c', 'echo out; echo err >&2']);
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'out\n', 'err\n']);
  const id = (await ok(inst, ['inspect', '-f', '{{.Id}}', 'quiet'])).trim();
  assert.equal(existsSync(join(inst.root, 'containers', id, 'ctr.log')), false, 'conmon wrote no log');
  assert.equal(await ok(inst, ['inspect', '-f', '{{.HostConfig.LogConfig.Type}} [{{.LogPath}}]', 'quiet']), 'none []\n');
  const logs = await inst.run(['logs', 'quiet']);
  assert.deepEqual([logs.code, logs.stderr], [125, "berth: container quiet is using the 'none' log driver, cannot read logs\n"]);
  // A start attaches as well; the default driver (json-file is taken for it) keeps a log.
  const again = await inst.run(['start', '-a', 'quiet']);
  assert.deepEqual([again.code, again.stdout], [0, 'out\n']);
  await ok(inst, ['run', '--name', 'kept', '--network', 'none', '--log-driver', 'json-file', img, 'echo', 'logged']);
  assert.equal(await ok(inst, ['logs', 'kept']), 'logged\n');
  assert.equal(await ok(inst, ['inspect', '-f', '{{.HostConfig.LogConfig.Type}}', 'kept']), 'k8s-file\n');
  const bad = await inst.run(['run', '--log-driver', 'journald', img, 'true']);
  assert.deepEqual([bad.code, bad.stderr], [125, 'berth: unsupported --log-driver "journald": use k8s-file, json-file or none\n']);
  assert.equal(await ok(inst, ['ps', '-a', '--format', '{{.Names}}']), 'kept\nquiet\n', 'the refused run made nothing');
});
