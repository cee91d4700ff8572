// The everyday commands podman users reach for: top, diff, update, container prune, image
// history, container, image and network exists, network prune.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newInstance, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[], input?: string): Promise<string> {
  const r = await inst.run(args, input !== undefined ? { input } : {});
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('top, diff, update, container prune, image history, exists, network prune', async (t) => {
  const inst = await newInstance(t);
  t.after(() => inst.cleanup());
  const img = await inst.importBusybox();
  const bindSource = mkdtempSync(join(tmpdir(), 'berth-diff-'));
  t.after(() => rmSync(bindSource, { recursive: true, force: true }));
  await ok(inst, ['run', '-d', '--name', 'worker', '--network', 'none', '-v', `${bindSource}:/data`, img, 'sh', '-c', 'echo new > /tmp/added; rm /bin/true; echo x >> /etc/passwd; sleep 600']);

  // top: the host's ps, the container's rows.
  const top = await ok(inst, ['top', 'worker']);
  assert.match(top.split('\n')[0]!, /PID/);
  assert.match(top, /sleep 600/);
  assert.doesNotMatch(top, /berth/, "only the container's processes");
  assert.match(await ok(inst, ['top', 'worker', '-o', 'pid,comm']), /^\s*\d+ sleep$/m);
  assert.equal((await inst.run(['top', 'worker', '-o', 'comm'])).code, 125, 'no PID column: refused');

  // diff: A added, C changed (and the dirs above), D deleted.
  const diff = (await ok(inst, ['diff', 'worker'])).trim().split('\n');
  for (const line of ['C /tmp', 'A /tmp/added', 'C /bin', 'D /bin/true', 'C /etc', 'C /etc/passwd']) assert.ok(diff.includes(line), `${line} in ${diff.join(' | ')}`);
  // Not the mount points the runtime made (the image has none of them), as in podman's diff.
  for (const path of ['/dev', '/proc', '/sys', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/data'])
    assert.ok(!diff.some((l) => l.slice(2) === path), `${path} in ${diff.join(' | ')}`);
  // podman's JSON: a list per kind, in the lines' order.
  const json = await ok(inst, ['diff', '--format', 'json', 'worker']);
  assert.match(json, /^\{\n {5}"changed": \[\n {10}"\/bin",/);
  const report = JSON.parse(json) as Record<string, string[]>;
  assert.deepEqual(Object.keys(report), ['changed', 'added', 'deleted']);
  assert.deepEqual(report.deleted, ['/bin/true']);
  assert.deepEqual([...report.changed!, ...report.added!].sort(), diff.filter((l) => !l.startsWith('D ')).map((l) => l.slice(2)).sort());
  const badFormat = await inst.run(['diff', '--format', 'table', 'worker']);
  assert.deepEqual([badFormat.code, badFormat.stderr], [125, "berth: only supported value for '--format' is 'json'\n"]);

  // update: the cgroup's limits change on the running container.
  const id = (await ok(inst, ['inspect', '-f', '{{.Id}}', 'worker'])).trim();
  assert.equal((await ok(inst, ['update', '--memory', '64m', '--pids-limit', '50', 'worker'])).trim(), id);
  const pid = (await ok(inst, ['inspect', '-f', '{{.State.Pid}}', 'worker'])).trim();
  const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:memory:/.test(l))!.split(':')[2]!;
  assert.equal(readFileSync(`/sys/fs/cgroup/memory${cgroup}/memory.limit_in_bytes`, 'utf8').trim(), String(64 << 20));
  assert.equal((await ok(inst, ['inspect', '-f', '{{.HostConfig.Memory}}', 'worker'])).trim(), String(64 << 20));
  assert.equal((await inst.run(['update', 'worker'])).code, 125, 'nothing to change');
  // update --restart: the policy alone changes, and is refused for a container removed on exit.
  await ok(inst, ['update', '--restart', 'on-failure:3', 'worker']);
  assert.equal((await ok(inst, ['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.Memory}}', 'worker'])).trim(), `on-failure:3 ${64 << 20}`);
  const badPolicy = await inst.run(['update', '--restart', 'sometimes', 'worker']);
  assert.deepEqual([badPolicy.code, badPolicy.stderr.trim()], [125, 'berth: invalid restart policy "sometimes": use no, always, unless-stopped or on-failure[:MAX-RETRIES]']);
  await ok(inst, ['update', '--restart', 'no', 'worker']);
  assert.equal((await ok(inst, ['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}', 'worker'])).trim(), 'no');
  await ok(inst, ['run', '-d', '--rm', '--name', 'gone-on-exit', '--network', 'none', img, 'sleep', '100']);
  const autoRemoved = await inst.run(['update', '--restart', 'always', 'gone-on-exit']);
  assert.equal(autoRemoved.code, 125);
  assert.match(autoRemoved.stderr, /AutoRemove is enabled/);
  await ok(inst, ['rm', '-f', 'gone-on-exit']);

  // rm of a created container needs no -f (its process has run nothing), as in podman.
  await ok(inst, ['create', '--name', 'made', '--network', 'none', img, 'true']);
  assert.equal(await ok(inst, ['diff', 'made']), 'C /etc\n', 'a new container has changed only the dir of its /etc files');
  assert.equal(await ok(inst, ['rm', 'made']), 'made\n');
  assert.equal((await inst.run(['inspect', 'made'])).code, 125);

  // container prune: the stopped ones only.
  await ok(inst, ['create', '--name', 'idle', '--label', 'tier=web', img, 'true']);
  await ok(inst, ['run', '--name', 'done', '--network', 'none', img, 'true']);
  // ps --sort, podman's keys: created newest first, runningfor the longest running first.
  const sorted = async (key: string) => (await ok(inst, ['ps', '-a', '--sort', key, '--format', '{{.Names}}'])).trim().split('\n');
  assert.deepEqual(await sorted('created'), ['done', 'idle', 'worker']);
  assert.deepEqual(await sorted('runningfor'), ['worker', 'done', 'idle'], 'never started: last');
  assert.deepEqual(await sorted('status'), ['idle', 'done', 'worker'], 'Created, Exited, Up');
  const byId = (await ok(inst, ['ps', '-a', '--sort', 'id', '--format', '{{.ID}}'])).trim().split('\n');
  assert.deepEqual(byId, [...byId].sort());
  const badSort = await inst.run(['ps', '--sort', 'age']);
  assert.deepEqual([badSort.code, badSort.stderr], [125, 'berth: invalid --sort "age": command, created, id, image, names, runningfor, size or status\n']);
  // inspect --size: the writable layer, and with the image.
  const [rw, rootFs] = (await ok(inst, ['inspect', '--size', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'worker'])).trim().split(' ').map(Number);
  const imageSize = Number((await ok(inst, ['image', 'inspect', '-f', '{{.Size}}', img])).trim());
  assert.ok(rw! > 0 && rootFs === rw! + imageSize, `SizeRw ${rw}, SizeRootFs ${rootFs}, image ${imageSize}`);
  assert.doesNotMatch(await ok(inst, ['inspect', 'worker']), /SizeRw/, 'only when asked for');
  // ps --filter, podman's keys: the values of one key are alternatives, different keys (and labels) must all match.
  const picked = async (...filters: string[]) =>
    (await ok(inst, ['ps', '-a', '--sort', 'names', '--format', '{{.Names}}', ...filters.flatMap((f) => ['--filter', f])])).trim().split('\n').filter(Boolean);
  assert.deepEqual(await picked('status=created', 'status=exited'), ['done', 'idle']);
  assert.deepEqual(await picked('status=exited', 'name=^d'), ['done']);
  assert.deepEqual(await picked('name=^(idle|worker)$'), ['idle', 'worker']);
  assert.deepEqual(await picked('before=done'), ['idle', 'worker']);
  assert.deepEqual(await picked('since=worker'), ['done', 'idle']);
  assert.deepEqual(await picked('label=tier=web'), ['idle']);
  assert.deepEqual(await picked('label=tier', 'label=tier=db'), []);
  assert.deepEqual(await picked('volume=/data'), ['worker']);
  assert.deepEqual(await picked('volume=' + bindSource), ['worker']);
  assert.deepEqual(await picked('network=berth'), ['idle'], 'the others run with --network none');
  assert.deepEqual(await picked('exited=0'), ['done']);
  assert.deepEqual(await picked('until=1h'), []);
  assert.deepEqual(await picked('until=' + new Date(Date.now() + 60_000).toISOString()), ['done', 'idle', 'worker']);
  // A bad filter is refused even where no container would be listed.
  for (const [filter, message] of [
    ['bogus=1', 'invalid filter "bogus": supported are id, name, status, exited, ancestor, label, health, before, since, until, restart-policy, network, volume'],
    ['status=stopped', 'invalid filter "status=stopped": status is one of created, running, paused, exited, removing'],
    ['before=nosuch', 'invalid filter "before=nosuch": no such container: nosuch'],
    ['name=(', 'invalid filter "name=(": not a regular expression'],
    ['novalue', 'bad filter "novalue": expected KEY=VALUE'],
  ]) {
    const bad = await inst.run(['ps', '--filter', filter!, '--filter', 'id=0000']);
    assert.deepEqual([bad.code, bad.stderr, bad.stdout], [125, `berth: ${message}\n`, ''], filter);
  }

  // init: a stopped container gets its process back, waiting for start; a created one already has it; a running one is refused.
  assert.equal(await ok(inst, ['init', 'done']), 'done\n');
  assert.equal(await ok(inst, ['inspect', '-f', '{{.State.Status}}', 'done']), 'created\n');
  assert.equal(await ok(inst, ['container', 'init', 'idle']), 'idle\n');
  const initRunning = await inst.run(['init', 'worker']);
  assert.deepEqual([initRunning.code, initRunning.stderr], [125, 'berth: container worker has already been created in runtime: container state improper\n']);
  await ok(inst, ['start', '-a', 'done']);
  assert.equal(await ok(inst, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'done']), 'exited 0\n');
  // container prune --filter: only the stopped containers that match go.
  assert.equal(await ok(inst, ['container', 'prune', '-f', '--filter', 'label=tier=web']), '');
  const pruned = (await ok(inst, ['container', 'prune', '-f'])).trim().split('\n');
  assert.equal(pruned.length, 1, `only the exited one: ${pruned}`);
  assert.deepEqual((await ok(inst, ['ps', '-a', '--format', '{{.Names}}'])).trim().split('\n').sort(), ['idle', 'worker']);

  // image history: newest first, the image's ID on the first row.
  const imgId = (await ok(inst, ['image', 'inspect', '-f', '{{.Id}}', img])).trim().replace(/^sha256:/, '');
  const history = (await ok(inst, ['history', img])).trim().split('\n');
  assert.match(history[0]!, /^ID\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT/);
  assert.ok(history[1]!.startsWith(imgId.slice(0, 12)), history.join('\n'));
  assert.deepEqual((await ok(inst, ['image', 'history', '-q', img])).trim().split('\n')[0], imgId.slice(0, 12));

  // container exists and image exists: exit 0 or 1, 125 for a bad reference.
  assert.equal((await inst.run(['container', 'exists', 'worker'])).code, 0);
  assert.equal((await inst.run(['container', 'exists', id.slice(0, 12)])).code, 0, 'by ID prefix');
  assert.equal((await inst.run(['container', 'exists', 'nosuch'])).code, 1);
  assert.equal((await inst.run(['container', 'exists', img])).code, 1, 'an image is no container');
  assert.equal((await inst.run(['image', 'exists', img])).code, 0);
  assert.equal((await inst.run(['image', 'exists', 'nosuch'])).code, 1);
  assert.equal((await inst.run(['image', 'exists', 'worker'])).code, 1, 'a container is no image');
  const badRef = await inst.run(['image', 'exists', 'BAD::ref']);
  assert.deepEqual([badRef.code, badRef.stderr], [125, 'berth: invalid reference format: "BAD::ref"\n']);

  // network exists / prune.
  assert.equal((await inst.run(['network', 'exists', 'nosuch'])).code, 1);
  assert.equal((await inst.run(['network', 'exists', 'berth'])).code, 0, 'the default network');
  await ok(inst, ['network', 'create', 'spare']);
  assert.equal((await inst.run(['network', 'exists', 'spare'])).code, 0);
  await ok(inst, ['network', 'create', 'kept']);
  await ok(inst, ['create', '--name', 'user', '--network', 'kept', img, 'true']);
  assert.equal((await ok(inst, ['network', 'prune', '-f'])).trim(), 'spare');
  assert.equal((await inst.run(['network', 'exists', 'kept'])).code, 0, 'named by a container');
  await ok(inst, ['rm', '-f', 'worker', 'idle', 'user']);
  await ok(inst, ['network', 'rm', 'kept']);
});

test('wait --condition: running, paused, stopped; --interval; --ignore; bad values', async (t) => {
  const inst = await newInstance(t);
  t.after(() => inst.cleanup());
  const img = await inst.importBusybox();
  await ok(inst, ['create', '--name', 'later', '--network', 'none', img, 'sh', '-c', 'sleep 600']);
  // Waiting for running returns once a start has come (podman prints -1 for a state).
  const waiting = inst.run(['wait', '--condition', 'running', '-i', '50ms', 'later']);
  await new Promise((r) => setTimeout(r, 300));
  await ok(inst, ['start', 'later']);
  assert.equal(await ok(inst, ['wait', '--condition', 'running', 'later']), '-1\n', 'already running');
  const started = await waiting;
  assert.deepEqual([started.code, started.stdout], [0, '-1\n']);
  await ok(inst, ['pause', 'later']);
  assert.equal(await ok(inst, ['wait', '--condition', 'paused', '--condition', 'stopped', 'later']), '-1\n');
  await ok(inst, ['unpause', 'later']);
  // stopped (or exited): the exit code, as without --condition.
  const stopped = inst.run(['wait', '--condition', 'exited', '--condition', 'stopped', 'later']);
  await ok(inst, ['kill', 'later']);
  assert.deepEqual([(await stopped).code, (await stopped).stdout], [0, '137\n']);
  assert.equal(await ok(inst, ['wait', '--condition', 'running', '--condition', 'stopped', 'later']), '137\n', 'met by the exit');
  // --ignore: a missing container prints -1; without it, an error.
  assert.equal(await ok(inst, ['wait', '--ignore', 'nosuch', 'later']), '-1\n137\n');
  const missing = await inst.run(['wait', 'nosuch']);
  assert.deepEqual([missing.code, missing.stderr], [125, 'berth: no such container: nosuch\n']);
  for (const [flags, re] of [
    [['--condition', 'asleep'], /^berth: invalid --condition "asleep": created, exited, healthy, paused, removing, running, stopped, unhealthy$/m],
    [['--condition', 'running', '-i', 'soon'], /^berth: invalid value "soon" for --interval/m],
  ] as const) {
    const r = await inst.run(['wait', ...flags, 'later']);
    assert.equal(r.code, 125, flags.join(' '));
    assert.match(r.stderr, re);
  }
  await ok(inst, ['rm', 'later']);
});

test('stop, kill, restart and rm take --all, --latest, --cidfile and (stop, rm) --ignore; run --replace', async (t) => {
  const inst = await newInstance(t);
  t.after(() => inst.cleanup());
  const img = await inst.importBusybox();
  const dir = mkdtempSync(join(tmpdir(), 'berth-cid-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const states = async () => (await ok(inst, ['ps', '-a', '--sort', 'names', '--format', '{{.Names}} {{.State}}'])).trim().split('\n');
  const cid = join(dir, 'one.cid');
  const one = (await ok(inst, ['run', '-d', '--name', 'one', '--cidfile', cid, '--network', 'none', img, 'sleep', '600'])).trim();
  await ok(inst, ['run', '-d', '--name', 'two', '--network', 'none', img, 'sleep', '600']);
  await ok(inst, ['create', '--name', 'three', '--network', 'none', img, 'true']);

  // --replace: the running container of that name goes, a new one takes the name.
  const replaced = (await ok(inst, ['run', '-d', '--replace', '--name', 'two', '--network', 'none', img, 'sleep', '600'])).trim();
  assert.equal((await ok(inst, ['inspect', '-f', '{{.Id}}', 'two'])).trim(), replaced);
  assert.deepEqual(await states(), ['one running', 'three created', 'two running']);
  const taken = await inst.run(['run', '-d', '--name', 'two', '--network', 'none', img, 'true']);
  assert.equal(taken.code, 125, 'without --replace the name is taken');

  // --latest: the newest container; --cidfile: the container run --cidfile wrote.
  assert.equal(await ok(inst, ['stop', '-t', '0', '--latest']), `${replaced}\n`);
  assert.equal(await ok(inst, ['kill', '--cidfile', cid]), `${one}\n`);
  await ok(inst, ['wait', 'one']);
  assert.deepEqual(await states(), ['one exited', 'three created', 'two exited']);
  // --all: restart --running takes only the running ones; stop and kill -a the running ones.
  await ok(inst, ['start', 'one']);
  assert.equal(await ok(inst, ['restart', '-t', '0', '--all', '--running']), `${one}\n`);
  assert.equal(await ok(inst, ['stop', '-t', '0', '-a']), `${one}\n`);
  assert.equal(await ok(inst, ['kill', '-a']), '');

  // --ignore: a missing container (or cidfile) is not an error; without it, exit 1 or 125.
  assert.equal(await ok(inst, ['rm', '--ignore', 'nosuch', 'three']), 'three\n');
  assert.equal(await ok(inst, ['stop', '-i', '--cidfile', join(dir, 'missing.cid')]), '');
  const missing = await inst.run(['rm', 'nosuch']);
  assert.deepEqual([missing.code, missing.stderr], [1, 'berth: no such container: nosuch\n']);
  const noFile = await inst.run(['stop', '--cidfile', join(dir, 'missing.cid')]);
  assert.equal(noFile.code, 125);
  assert.match(noFile.stderr, /^berth: reading the cidfile .*missing\.cid: no such file or directory\n$/);
  const both = await inst.run(['rm', '-a', 'one']);
  assert.deepEqual([both.code, both.stderr], [125, 'berth: --all, --latest and containers named cannot be given together\n']);
  assert.equal((await ok(inst, ['rm', '-a'])).trim().split('\n').length, 2);
  assert.deepEqual(await states(), ['']);
});

test("logs of several containers: each line after its container's ID (or --names), in the order written; -f follows them all", async (t) => {
  const inst = await newInstance(t);
  t.after(() => inst.cleanup());
  const img = await inst.importBusybox();
  // a writes a2 only once b has written b1 (a file in a shared volume says so): a1, b1, a2 whatever the machine's pace.
  await ok(inst, ['volume', 'create', 'sync']);
  const a = (await ok(inst, ['run', '-d', '--name', 'a', '--network', 'none', '-v', 'sync:/s', img, 'sh', '-c', 'echo a1; until [ -e /s/b1 ]; do sleep 0.05; done; echo a2'])).trim();
  while (!(await ok(inst, ['logs', 'a'])).includes('a1')) await new Promise((r) => setTimeout(r, 50));
  const b = (await ok(inst, ['run', '-d', '--name', 'b', '--network', 'none', '-v', 'sync:/s', img, 'sh', '-c', 'echo b1; sleep 0.3; touch /s/b1'])).trim();
  // -f ends when both containers have exited, with every line of both.
  const followed = (await ok(inst, ['logs', '-f', '--names', 'a', 'b'])).split('\n').filter(Boolean).sort();
  assert.deepEqual(followed, ['a a1', 'a a2', 'b b1']);
  assert.equal(await ok(inst, ['logs', 'a', 'b']), `${a.slice(0, 12)} a1\n${b.slice(0, 12)} b1\n${a.slice(0, 12)} a2\n`);
  assert.equal(await ok(inst, ['logs', '--names', '--tail', '1', 'a', 'b']), 'b b1\na a2\n');
  assert.equal(await ok(inst, ['logs', '--names', 'a']), 'a1\na2\n', 'one container: no prefix');
  const missing = await inst.run(['logs', 'a', 'nosuch']);
  assert.deepEqual([missing.code, missing.stdout, missing.stderr], [125, '', 'berth: no such container: nosuch\n']);
});
