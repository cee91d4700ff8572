// run/create's host flags in real containers: what the process sees from inside (groups,
// /dev/shm, sysctls, cgroup files, devices, shared namespaces, oom score, seccomp, tmpfs,
// its address), what inspect shows, and that a bad value is refused before anything exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { listMounts, newInstance, type Instance } from '../helpers/index.js';

const NONE = ['--network', 'none'];

/** `run --rm` in the instance; the output of a run that must succeed. */
async function runOk(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(['run', '--rm', ...args]);
  assert.equal(r.code, 0, `run ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A refused run: exit 125, one line `berth: …` matching message. */
async function refused(inst: Instance, args: string[], message: RegExp): Promise<void> {
  const r = await inst.run(['run', '--rm', ...args]);
  assert.equal(r.code, 125, `run ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /^berth: [^\n]+\n$/, `run ${args.join(' ')}`);
  assert.match(r.stderr, message, `run ${args.join(' ')}`);
}

/** No container, container dir or network namespace left in the instance. */
async function nothingLeft(inst: Instance): Promise<void> {
  assert.equal((await inst.run(['ps', '-aq'])).stdout, '');
  const dirs = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  assert.deepEqual(dirs(join(inst.root, 'containers')), []);
  assert.deepEqual(dirs(join(inst.runRoot, 'netns')), []);
}

function groupsOf(status: string): number[] {
  return (/^Groups:[ \t]*(.*)$/m.exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
}

test("groups: -u USER's supplementary groups and --group-add, looked up in the container's /etc/group", async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  assert.deepEqual(groupsOf(await runOk(inst, [...NONE, img, 'cat', '/proc/self/status'])), []);
  // tester (1000) is a member of extra (2000) in the image's /etc/group.
  assert.deepEqual(groupsOf(await runOk(inst, [...NONE, '-u', 'tester', img, 'cat', '/proc/self/status'])), [2000]);
  assert.deepEqual(groupsOf(await runOk(inst, [...NONE, '-u', '1000', img, 'cat', '/proc/self/status'])), [2000]);
  assert.deepEqual(groupsOf(await runOk(inst, [...NONE, '--group-add', 'extra', '--group-add', '55', img, 'cat', '/proc/self/status'])), [55, 2000]);
  assert.deepEqual(groupsOf(await runOk(inst, [...NONE, '-u', 'tester:testers', '--group-add', 'nogroup', img, 'cat', '/proc/self/status'])), [65534]);
  assert.equal(await runOk(inst, [...NONE, '-u', 'tester', '--group-add', '55', img, 'id']), 'uid=1000(tester) gid=1000(testers) groups=55,2000(extra)\n');
  const r = await inst.run(['run', '--rm', ...NONE, '--group-add', 'nosuch', img, 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^berth: unable to find group nosuch: no matching entries in group file\n$/);
  await refused(inst, ['--group-add', 'keep-groups', img, 'true'], /keep-groups is not supported/);
  await nothingLeft(inst);
});

test('/dev/shm size, sysctls, cgroup limits and the oom score, seen from inside', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const script = [
    'df -k /dev/shm | tail -1',
    'cat /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max /proc/sys/net/ipv4/ip_unprivileged_port_start',
    'cd /sys/fs/cgroup',
    'cat memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes memory/memory.soft_limit_in_bytes cpu/cpu.shares cpuset/cpuset.cpus cpuset/cpuset.mems',
    'cat /proc/self/oom_score_adj',
  ].join('; ');
  const out = (await runOk(inst, [
    '--shm-size', '1m', '--sysctl', 'kernel.shmmax=123456', '--sysctl', 'fs.mqueue.msg_max=20', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=80',
    '-m', '64m', '--memory-swap', '128m', '--memory-reservation', '32m', '-c', '512', '--cpuset-cpus', '0', '--cpuset-mems', '0',
    '--oom-score-adj', '300', img, 'sh', '-c', script,
  ])).trim().split('\n');
  assert.match(out[0]!, /^shm\s+1024\s/, '/dev/shm is 1 MiB');
  assert.deepEqual(out.slice(1), ['123456', '20', '80', String(64 << 20), String(128 << 20), String(32 << 20), '512', '0', '0', '300']);
  // The defaults: 64 MiB of /dev/shm, the host's oom score.
  assert.match(await runOk(inst, [...NONE, img, 'sh', '-c', 'df -k /dev/shm | tail -1']), /^shm\s+65536\s/);
  // The container's process inherits berth's score: below it the kernel wants CAP_SYS_RESOURCE.
  const own = Number(readFileSync('/proc/self/oom_score_adj', 'utf8'));
  const capSysResource = ((BigInt('0x' + /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) >> 24n) & 1n) === 1n;
  if (capSysResource) assert.equal(await runOk(inst, [...NONE, '--oom-score-adj', '-500', img, 'cat', '/proc/self/oom_score_adj']), '-500\n');
  else await refused(inst, [...NONE, '--oom-score-adj', String(own - 1), img, 'true'], /this host permits/);
  await nothingLeft(inst);
});

test('--device: the node in the container and its devices cgroup rule', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  // loop-control (10:237) is in no default rule: its rule is the one asked for, read only.
  const out = await runOk(inst, [...NONE, '--device', '/dev/null:/dev/mynull:rw', '--device', '/dev/loop-control:/dev/lc:r', img, 'sh', '-c',
    'stat -c "%F %t:%T" /dev/mynull /dev/lc; echo x > /dev/mynull && echo written; (exec 3</dev/lc) && echo readable; (exec 3>/dev/lc) 2>/dev/null || echo "not writable"; cat /sys/fs/cgroup/devices/devices.list']);
  const lines = out.trim().split('\n');
  assert.deepEqual(lines.slice(0, 5), ['character special file 1:3', 'character special file a:ed', 'written', 'readable', 'not writable']);
  assert.ok(lines.includes('c 10:237 r'), `the rule for /dev/lc: ${out}`);
  // Without the flag the node does not exist, and a node made there would not open.
  assert.equal(await runOk(inst, [...NONE, img, 'sh', '-c', 'test -e /dev/mynull && echo there || echo absent']), 'absent\n');
  await refused(inst, [...NONE, '--device', '/dev/nonexistent-berth', img, 'true'], /device \/dev\/nonexistent-berth does not exist/);
  await nothingLeft(inst);
});

test('--pid/--ipc/--uts host and container:NAME share those namespaces', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const nsScript = 'for n in pid ipc uts; do readlink /proc/self/ns/$n; done; hostname';
  const host = ['pid', 'ipc', 'uts'].map((k) => readlinkSync(`/proc/self/ns/${k}`));
  const own = (await runOk(inst, [...NONE, img, 'sh', '-c', nsScript])).trim().split('\n');
  for (const [i, k] of ['pid', 'ipc', 'uts'].entries()) assert.notEqual(own[i], host[i], `a container has its own ${k} namespace`);
  const shared = (await runOk(inst, [...NONE, '--pid', 'host', '--ipc', 'host', '--uts', 'host', img, 'sh', '-c', nsScript])).trim().split('\n');
  assert.deepEqual(shared, [...host, hostname()]);
  // The host's PID namespace: this test's own process is visible; the host's /dev/shm is there.
  const shmFile = `berth-test-${process.pid}`;
  writeFileSync(join('/dev/shm', shmFile), 'host');
  t.after(() => rmSync(join('/dev/shm', shmFile), { force: true }));
  assert.equal(await runOk(inst, [...NONE, '--pid', 'host', '--ipc', 'host', img, 'sh', '-c', `test -d /proc/${process.pid} && cat /dev/shm/${shmFile}`]), 'host');
  assert.equal(await runOk(inst, [...NONE, img, 'sh', '-c', `test -d /proc/${process.pid} || test -e /dev/shm/${shmFile} || echo private`]), 'private\n');

  const d = await inst.run(['run', '-d', ...NONE, '--name', 'owner', '--hostname', 'ownerhost', '--ipc', 'shareable', '--shm-size', '2m', img, 'sleep', '60']);
  assert.equal(d.code, 0, d.stderr);
  assert.equal((await inst.run(['exec', 'owner', 'sh', '-c', 'echo from-owner > /dev/shm/o; df -k /dev/shm | tail -1'])).stdout.split(/\s+/)[1], '2048');
  const ownerNs = (await inst.run(['exec', 'owner', 'sh', '-c', 'for n in pid ipc uts; do readlink /proc/self/ns/$n; done'])).stdout.trim().split('\n');
  const joined = (await runOk(inst, [...NONE, '--pid', 'container:owner', '--ipc', 'container:owner', '--uts', 'container:owner', img, 'sh', '-c', `${nsScript}; ps -o comm`])).trim().split('\n');
  assert.deepEqual(joined.slice(0, 4), [...ownerNs, 'ownerhost']);
  assert.ok(joined.includes('sleep'), `the owner's processes are visible: ${joined.join(' ')}`);
  // Its /dev/shm too, both ways.
  assert.equal(await runOk(inst, [...NONE, '--ipc', 'container:owner', img, 'sh', '-c', 'cat /dev/shm/o; echo from-joiner > /dev/shm/j']), 'from-owner\n');
  assert.equal((await inst.run(['exec', 'owner', 'cat', '/dev/shm/j'])).stdout, 'from-joiner\n');
  assert.equal(await runOk(inst, [...NONE, img, 'sh', '-c', 'test -e /dev/shm/o || echo own']), 'own\n');
  const ownerId = (await inst.run(['inspect', '-f', '{{.Id}}', 'owner'])).stdout.trim();
  const c = await inst.run(['create', ...NONE, '--pid', 'container:owner', '--uts', 'host', img, 'true']);
  assert.equal(c.code, 0, c.stderr);
  assert.equal((await inst.run(['inspect', '-f', '{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}}', c.stdout.trim()])).stdout, `container:${ownerId} private host\n`);
  assert.equal((await inst.run(['inspect', '-f', '{{.HostConfig.IpcMode}}', 'owner'])).stdout, 'shareable\n');
  assert.equal((await inst.run(['rm', '-f', c.stdout.trim()])).code, 0);
  assert.equal((await inst.run(['create', '--name', 'stopped', ...NONE, img, 'true'])).code, 0);
  await refused(inst, [...NONE, '--pid', 'container:stopped', img, 'true'], /cannot join the namespaces of container stopped: it is not running/);
  const plain = await inst.run(['run', '-d', ...NONE, '--name', 'plain', img, 'sleep', '60']);
  assert.equal(plain.code, 0, plain.stderr);
  await refused(inst, [...NONE, '--ipc', 'container:plain', img, 'true'], /cannot join the IPC namespace of container plain: it is not shareable \(create it with --ipc shareable\)/);
  await refused(inst, [...NONE, '--ipc', 'container:nosuch', img, 'true'], /no such container nosuch/);
  await refused(inst, [...NONE, '--uts', 'bogus', img, 'true'], /unrecognized namespace mode "bogus" for --uts/);
  const ownerDir = join(inst.root, 'containers', ownerId);
  assert.ok(listMounts().some((m) => m.mountPoint === join(ownerDir, 'shm')), "the shareable /dev/shm is mounted in the owner's dir");
  assert.equal((await inst.run(['rm', '-f', 'owner', 'stopped', 'plain'])).code, 0);
  assert.ok(!listMounts().some((m) => m.mountPoint.startsWith(inst.base)), 'no mount left');
  await nothingLeft(inst);
});

test('--security-opt seccomp=FILE, --read-only with its tmpfs, JSON --entrypoint, -a', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const profile = join(inst.base, 'deny-mkdir.json');
  writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
  const denied = await inst.run(['run', '--rm', ...NONE, '--security-opt', `seccomp=${profile}`, img, 'mkdir', '/tmp/d']);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /Operation not permitted/);
  assert.equal(await runOk(inst, [...NONE, img, 'sh', '-c', 'mkdir /tmp/d && echo made']), 'made\n');
  writeFileSync(join(inst.base, 'bad.json'), '{"defaultAction": 1}');
  await refused(inst, [...NONE, '--security-opt', `seccomp=${join(inst.base, 'bad.json')}`, img, 'true'], /seccomp profile .*bad.json: defaultAction: unknown action 1/);

  const rw = 'for d in /tmp /run /var/tmp /; do touch $d/x 2>/dev/null && echo "$d yes" || echo "$d no"; done';
  assert.equal(await runOk(inst, [...NONE, '--read-only', img, 'sh', '-c', rw]), '/tmp yes\n/run yes\n/var/tmp yes\n/ no\n');
  assert.equal(await runOk(inst, [...NONE, '--read-only', '--read-only-tmpfs=false', img, 'sh', '-c', rw]), '/tmp no\n/run no\n/var/tmp no\n/ no\n');

  assert.equal(await runOk(inst, [...NONE, '--entrypoint', '["/bin/echo","x"]', img, 'y']), 'x y\n');
  const both = 'echo out; echo err >&2';
  const out = await inst.run(['run', '--rm', ...NONE, '-a', 'stdout', img, 'sh', '-c', both]);
  assert.deepEqual([out.code, out.stdout, out.stderr], [0, 'out\n', '']);
  const err = await inst.run(['run', '--rm', ...NONE, '-a', 'stderr', img, 'sh', '-c', both]);
  assert.deepEqual([err.code, err.stdout, err.stderr], [0, '', 'err\n']);
  const input = await inst.run(['run', '--rm', ...NONE, '-i', '-a', 'stdout', img, 'sh', '-c', 'read -t 2 line; echo "got:$line"'], { input: 'typed\n' });
  assert.deepEqual([input.code, input.stdout], [0, 'got:\n'], 'stdin not attached: nothing typed arrives');
  const inAndOut = await inst.run(['run', '--rm', ...NONE, '-i', '-a', 'stdin', '-a', 'stdout', img, 'cat'], { input: 'typed\n' });
  assert.deepEqual([inAndOut.code, inAndOut.stdout], [0, 'typed\n']);
  await refused(inst, [...NONE, '-d', '-a', 'stdout', img, 'true'], /--attach and --detach/);
  // --tz: the zone's file at /etc/localtime (local: the host's).
  assert.equal(await runOk(inst, [...NONE, '--tz', 'Asia/Tokyo', img, 'date', '+%Z']), 'JST\n');
  const local = await inst.run(['run', '--rm', ...NONE, '-i', '--tz', 'local', img, 'cmp', '/etc/localtime', '-'], { input: readFileSync('/etc/localtime') });
  assert.deepEqual([local.code, local.stdout, local.stderr], [0, '', ''], "--tz local: the host's zone file");
  await refused(inst, [...NONE, '--tz', 'Nowhere/City', img, 'true'], /invalid --tz "Nowhere\/City": unknown time zone/);
  await refused(inst, [...NONE, '--tz', '../etc/passwd', img, 'true'], /invalid --tz "\.\.\/etc\/passwd": a time zone such as/);
  await nothingLeft(inst);
});

test('--ip, --expose with -P, --cidfile, --label-file and what inspect shows', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const prefix = inst.subnet.split('/')[0]!.split('.').slice(0, 3).join('.');
  const ip = `${prefix}.77`;
  const addr = await runOk(inst, ['--ip', ip, img, 'sh', '-c', 'ip -4 -o addr show eth0']);
  assert.match(addr, new RegExp(`inet ${ip.replace(/\./g, '\\.')}/24 `));
  await refused(inst, ['--ip', '10.1.2.3', img, 'true'], /10\.1\.2\.3/);
  await refused(inst, [...NONE, '--ip', ip, img, 'true'], /--ip can only be set when the container has its own network/);

  const dir = mkdtempSync(join(inst.base, 'files-'));
  const cid = join(dir, 'cid');
  writeFileSync(join(dir, 'labels'), 'team=a\n# comment\nstage=test\n');
  const seccomp = join(dir, 'allow.json');
  writeFileSync(seccomp, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW' }));
  const d = await inst.run(['run', '-d', '--name', 'web', '--ip', ip, '--expose', '8080', '--expose', '9000-9001/udp', '-P', '--cidfile', cid,
    '--label-file', join(dir, 'labels'), '-l', 'stage=prod', '-m', '64m', '--memory-swap', '-1', '--memory-reservation', '16m', '-c', '256',
    '--cpuset-cpus', '0', '--device', '/dev/null:/dev/n:r', '--shm-size', '2m', '--sysctl', 'net.ipv4.ip_forward=1', '--group-add', 'extra',
    '--oom-score-adj', '200', '--security-opt', `seccomp=${seccomp}`, '--read-only', img, 'sleep', '60']);
  assert.equal(d.code, 0, d.stderr);
  const id = d.stdout.trim();
  assert.equal(readFileSync(cid, 'utf8'), id);
  const view = JSON.parse((await inst.run(['inspect', 'web'])).stdout)[0];
  assert.equal(view.NetworkSettings.IPAddress, ip);
  assert.deepEqual(Object.keys(view.Config.ExposedPorts).sort(), ['8080/tcp', '9000/udp', '9001/udp']);
  assert.deepEqual(Object.keys(view.NetworkSettings.Ports).sort(), ['8080/tcp', '9000/udp', '9001/udp'], '-P publishes the exposed ports');
  assert.ok(Number(view.NetworkSettings.Ports['8080/tcp'][0].HostPort) > 0);
  assert.deepEqual(view.Config.Labels, { team: 'a', stage: 'prod' });
  const h = view.HostConfig;
  assert.deepEqual(
    [h.Memory, h.MemorySwap, h.MemoryReservation, h.CpuShares, h.CpusetCpus, h.ShmSize, h.OomScoreAdj, h.ReadonlyRootfs, h.ContainerIDFile],
    [64 << 20, -1, 16 << 20, 256, '0', 2 << 20, 200, true, cid],
  );
  assert.deepEqual(h.Devices, [{ PathOnHost: '/dev/null', PathInContainer: '/dev/n', CgroupPermissions: 'r' }]);
  assert.deepEqual(h.Sysctls, { 'net.ipv4.ip_forward': '1' });
  assert.deepEqual(h.GroupAdd, ['extra']);
  assert.deepEqual(h.SecurityOpt, [`seccomp=${seccomp}`]);
  assert.deepEqual([h.PidMode, h.IpcMode, h.UTSMode], ['private', 'private', 'private']);
  assert.deepEqual(h.Tmpfs, { '/run': 'rw,rprivate,nosuid,nodev,tmpcopyup', '/tmp': 'rw,rprivate,nosuid,nodev,tmpcopyup', '/var/tmp': 'rw,rprivate,nosuid,nodev,tmpcopyup' });
  // The address is taken: a second container asking for it is refused, and leaves nothing.
  const again = await inst.run(['run', '--rm', '--ip', ip, img, 'true']);
  assert.equal(again.code, 125);
  // The id file exists: refused before anything is made.
  const second = await inst.run(['create', '--cidfile', cid, img, 'true']);
  assert.equal(second.code, 125);
  assert.equal(second.stderr, `berth: container id file exists. Ensure another container is not using it or delete ${cid}\n`);
  assert.equal((await inst.run(['ps', '-aq'])).stdout.trim().split('\n').length, 1);

  // update: run's resource flags, checked against the container's own limits.
  const lastCpu = /(\d+)\s*$/.exec(readFileSync('/sys/fs/cgroup/cpuset/cpuset.cpus', 'utf8'))![1];
  const up = await inst.run(['update', '--memory-swap', '256m', '--memory-reservation', '8m', '-c', '300', '--cpuset-cpus', lastCpu!, 'web']);
  assert.equal(up.code, 0, up.stderr);
  const files = 'cd /sys/fs/cgroup; cat memory/memory.memsw.limit_in_bytes memory/memory.soft_limit_in_bytes cpu/cpu.shares cpuset/cpuset.cpus';
  assert.equal((await inst.run(['exec', 'web', 'sh', '-c', files])).stdout, `${256 << 20}\n${8 << 20}\n300\n${lastCpu}\n`);
  assert.equal((await inst.run(['inspect', '-f', '{{.HostConfig.MemorySwap}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}}', 'web'])).stdout, `${256 << 20} 300 ${lastCpu}\n`);
  const tooSmall = await inst.run(['update', '--memory-swap', '32m', 'web']);
  assert.equal(tooSmall.code, 125);
  assert.match(tooSmall.stderr, /memoryswap limit should be larger than memory limit/);
  assert.equal((await inst.run(['rm', '-f', 'web'])).code, 0);
  // A network whose plugins do not take an address (a conflist of older berths) refuses --ip.
  const file = join(inst.base, 'cni', '87-berth.conflist');
  const conf = JSON.parse(readFileSync(file, 'utf8'));
  delete conf.plugins[0].capabilities;
  writeFileSync(file, JSON.stringify(conf));
  await refused(inst, ['--ip', ip, img, 'true'], /network berth does not take a static address: none of its plugins declares the CNI "ips" capability/);
  await nothingLeft(inst);
});

test('bad values of the host flags: one line, exit 125, nothing created', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const dir = mkdtempSync(join(inst.base, 'files-'));
  const cases: [string[], RegExp][] = [
    [['--memory-swap', '1g'], /memory limit/],
    [['-m', '64m', '--memory-reservation', '128m'], /memory reservation/],
    [['--memory-reservation', 'lots'], /invalid size "lots"/],
    [['-c', '0'], /--cpu-shares/],
    [['--cpuset-cpus', '999'], /requested CPUs are not available/],
    [['--cpuset-mems', 'x'], /cpuset mems/],
    [['--device', '/etc/passwd'], /is not a device/],
    [['--device', '/dev/null:/dev/x:z'], /invalid device mode/],
    [['--shm-size', '-1'], /--shm-size/],
    [['--sysctl', 'kernel.panic=1'], /not namespaced/],
    [['--network', 'host', '--sysctl', 'net.core.somaxconn=10'], /host network/],
    [['--pid', 'parent'], /--pid/],
    [['--ipc', 'none2'], /--ipc/],
    [['--uts', 'host', '-h', 'name'], /hostname/],
    [['--expose', '80/icmp'], /--expose/],
    [['--ip', '300.1.1.1'], /not an ip address/],
    [['--label-file', join(dir, 'missing')], /unable to process labels/],
    [['--oom-score-adj', '-1001'], /between -1000 and 1000/],
    [['--security-opt', `seccomp=${join(dir, 'missing.json')}`], /opening seccomp profile/],
    [['--cidfile', join(dir, 'no', 'cid')], /not a directory/],
    [['--entrypoint', '["x",'], /--entrypoint/],
    [['-a', 'stdall'], /--attach/],
  ];
  for (const [flags, message] of cases) await refused(inst, [...flags, img, 'true'], message);
  for (const [flags, message] of cases.filter(([f]) => f[0] !== '-a')) {
    const r = await inst.run(['create', ...flags, img, 'true']);
    assert.equal(r.code, 125, `create ${flags.join(' ')}`);
    assert.match(r.stderr, message);
  }
  await nothingLeft(inst);
});
