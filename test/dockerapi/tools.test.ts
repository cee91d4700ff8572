// The Docker API's container tools driven by the real docker CLI (28): top, stats,
// pause/unpause, cp both ways (archive GET/HEAD/PUT), diff, export, container prune, commit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GROUP, newInstance, PASSWD } from '../helpers/index.js';
import { DEBIAN_PYTHON, hasDocker, request, startService } from './harness.js';

/** docker's sizes: 1.5MiB, 12kB, 0B → bytes. */
function bytesOf(s: string): number {
  const m = /^([\d.]+)\s*(B|kB|MB|GB|KiB|MiB|GiB)$/.exec(s.trim());
  assert.ok(m, `a size: "${s}"`);
  const unit: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
  return Number(m[1]) * unit[m[2]];
}

test('the docker CLI: top, stats, pause, cp, diff, export, prune, commit', { skip: !hasDocker() && 'no docker CLI on this machine' }, async (t) => {
  const inst = await newInstance();
  const image = await inst.importBusybox('localhost/busybox:latest');
  const svc = await startService(t, inst);
  t.after(() => inst.cleanup());
  const { docker, ok } = svc;
  const dockerEnv = svc.clientEnv;
  const sh = (cmd: string) => spawnSync('sh', ['-c', cmd], { env: dockerEnv, encoding: 'utf8', timeout: 60_000 });

  // A counter the pause must stop; files for cp, diff, export and commit.
  await ok(['run', '-d', '--name', 'box', '--network', 'none', image, 'sh', '-c',
    'mkdir -p /data/d/sub; echo file > /data/f; chown 1234:2345 /data/f; echo one > /data/d/a; echo two > /data/d/sub/b; rmdir /home/tester; i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done']);
  await ok(['exec', 'box', 'sh', '-c', 'while [ ! -s /tmp/n ]; do sleep 0.1; done']);

  await t.test('top: ps -ef by default, ps_args; not running: an error', async () => {
    const out = await ok(['top', 'box']);
    const [header, ...rows] = out.trim().split('\n');
    assert.match(header, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    assert.ok(rows.some((r) => /sh -c mkdir -p \/data/.test(r)), out);
    assert.ok(rows.every((r) => !/docker top/.test(r)), 'only the container\'s processes');
    const custom = await request(svc.socket, 'GET', '/v1.43/containers/box/top?ps_args=-o%20pid,args');
    assert.equal(custom.status, 200);
    const body = JSON.parse(custom.body) as { Titles: string[]; Processes: string[][] };
    assert.deepEqual(body.Titles, ['PID', 'COMMAND']);
    assert.ok(body.Processes.some((p) => p.length === 2 && /^\d+$/.test(p[0]) && p[1].startsWith('sh -c mkdir')), custom.body);
    await ok(['create', '--name', 'idle', '--network', 'none', image, 'true']);
    const idle = await docker(['top', 'idle']);
    assert.notEqual(idle.code, 0);
    assert.match(idle.stderr, /Error response from daemon: Container [0-9a-f]{64} is not running/);
    await ok(['rm', 'idle']);
    const none = await docker(['top', 'nosuch']);
    assert.match(none.stderr, /No such container: nosuch/);
  });

  await t.test('stats: --no-stream shows plausible values; the API streams a sample a second', async () => {
    await ok(['run', '-d', '--name', 'busy', '-m', '64m', image, 'sh', '-c', 'while :; do :; done']);
    try {
      const line = (await ok(['stats', '--no-stream', '--format', '{{json .}}', 'busy'])).trim();
      const s = JSON.parse(line) as Record<string, string>;
      assert.equal(s.Name, 'busy');
      const cpu = Number(s.CPUPerc.replace('%', ''));
      assert.ok(cpu > 1 && cpu <= 205, `a busy loop's CPU %: ${s.CPUPerc}`);
      const [used, limit] = s.MemUsage.split(' / ');
      assert.ok(bytesOf(used) > 0, s.MemUsage);
      assert.equal(limit, '64MiB');
      const [rx, tx] = s.NetIO.split(' / ');
      assert.ok(bytesOf(rx) >= 0 && bytesOf(tx) >= 0, s.NetIO);
      const [rd, wr] = s.BlockIO.split(' / ');
      assert.ok(bytesOf(rd) >= 0 && bytesOf(wr) >= 0, s.BlockIO);
      assert.ok(Number(s.PIDs) >= 1, s.PIDs);
      // Without names: the running containers; a stopped one: zeros.
      assert.deepEqual((await ok(['stats', '--no-stream', '--format', '{{.Name}}'])).trim().split('\n').sort(), ['box', 'busy']);
      await ok(['create', '--name', 'stopped', '--network', 'none', image, 'true']);
      assert.equal((await ok(['stats', '--no-stream', '--format', '{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}', 'stopped'])).trim(), 'stopped 0.00% 0B / 0B 0');
      await ok(['rm', 'stopped']);
      // The table too.
      const table = await ok(['stats', '--no-stream', 'busy']);
      assert.match(table, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS\n[0-9a-f]{12}\s+busy\s+[\d.]+%/);

      const streamed = await request(svc.socket, 'GET', '/v1.43/containers/busy/stats?stream=true', 2);
      assert.equal(streamed.status, 200);
      const [a, b] = streamed.body.trim().split('\n').map((l) => JSON.parse(l));
      assert.ok(b, streamed.body);
      assert.equal(b.preread, a.read);
      assert.deepEqual(b.precpu_stats, a.cpu_stats);
      const gap = Date.parse(b.read) - Date.parse(a.read);
      assert.ok(gap >= 900 && gap < 5000, `a second apart: ${gap} ms`);
      assert.ok(b.cpu_stats.cpu_usage.total_usage > a.cpu_stats.cpu_usage.total_usage);
      assert.ok(b.cpu_stats.system_cpu_usage > a.cpu_stats.system_cpu_usage);
      assert.ok(b.cpu_stats.online_cpus >= 1);
      assert.ok(b.cpu_stats.cpu_usage.usage_in_usermode + b.cpu_stats.cpu_usage.usage_in_kernelmode > 0);
      assert.equal(b.memory_stats.limit, 64 * 1024 * 1024);
      assert.ok(b.memory_stats.usage > 0 && typeof b.memory_stats.stats === 'object');
      assert.ok(b.pids_stats.current >= 1);
      assert.ok(b.networks?.eth0 && typeof b.networks.eth0.rx_bytes === 'number', JSON.stringify(b.networks));
      assert.equal(b.name, '/busy');
      const oneShot = await request(svc.socket, 'GET', '/v1.43/containers/busy/stats?stream=false&one-shot=true');
      const o = JSON.parse(oneShot.body);
      assert.equal(o.preread, '0001-01-01T00:00:00Z');
      assert.ok(o.cpu_stats.cpu_usage.total_usage > 0);
    } finally {
      await ok(['rm', '-f', 'busy']);
    }
  });

  await t.test('update: memory and pids limits in the cgroup, the restart policy; errors', async () => {
    assert.equal((await ok(['update', '--memory', '96m', '--memory-swap', '128m', '--pids-limit', '64', 'box'])).trim(), 'box');
    const pid = (await ok(['inspect', '-f', '{{.State.Pid}}', 'box'])).trim();
    const cgroupOf = (ctl: string) => readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]!.split(',').includes(ctl))!.split(':')[2]!;
    assert.equal(readFileSync(`/sys/fs/cgroup/memory${cgroupOf('memory')}/memory.limit_in_bytes`, 'utf8').trim(), String(96 << 20));
    assert.equal(readFileSync(`/sys/fs/cgroup/pids${cgroupOf('pids')}/pids.max`, 'utf8').trim(), '64');
    await ok(['update', '--restart', 'unless-stopped', 'box']);
    assert.equal((await ok(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}', 'box'])).trim(), `${96 << 20} 64 unless-stopped`);
    await ok(['update', '--restart', 'no', 'box']);
    const missing = await docker(['update', '--memory', '64m', 'nosuch']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such container: nosuch/);
  });

  await t.test('pause/unpause: the counter stops and goes on; State.Paused; errors', async () => {
    const counter = async () => Number((await ok(['exec', 'box', 'cat', '/tmp/n'])).trim());
    await ok(['pause', 'box']);
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'box'])).trim(), 'paused true');
    assert.equal((await ok(['info', '--format', '{{.ContainersPaused}}'])).trim(), '1', 'docker info counts it paused');
    // A paused container's files are still read (docker cp reads them through its root).
    const read = async () => Number(sh('docker cp box:/tmp/n - | tar -xO').stdout.trim());
    const n1 = await read();
    await new Promise((r) => setTimeout(r, 600));
    const n2 = await read();
    assert.ok(n1 > 0, `counter ${n1}`);
    assert.equal(n2, n1, 'the counter stopped');
    const again = await docker(['pause', 'box']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /Error response from daemon: Container [0-9a-f]{64} is already paused/);
    await ok(['unpause', 'box']);
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'box'])).trim(), 'running false');
    await new Promise((r) => setTimeout(r, 600));
    assert.ok((await counter()) > n2, 'the counter goes on');
    const notPaused = await docker(['unpause', 'box']);
    assert.notEqual(notPaused.code, 0);
    assert.match(notPaused.stderr, /Error response from daemon: Container [0-9a-f]{64} is not paused/);
  });

  await t.test('cp both ways: a file, a directory, ownership, a missing path', async () => {
    const host = join(inst.base, 'cp');
    mkdirSync(host);
    // Out: a file (to a new name and into a directory) and a directory (to a new name).
    await ok(['cp', 'box:/data/f', join(host, 'f-out')]);
    assert.equal(readFileSync(join(host, 'f-out'), 'utf8'), 'file\n');
    await ok(['cp', 'box:/data/d', join(host, 'd-out')]);
    assert.equal(readFileSync(join(host, 'd-out', 'a'), 'utf8'), 'one\n');
    assert.equal(readFileSync(join(host, 'd-out', 'sub', 'b'), 'utf8'), 'two\n');
    // SRC/.: the directory's content, to a new name and into an existing directory.
    await ok(['cp', 'box:/data/d/.', join(host, 'dot-out')]);
    assert.equal(readFileSync(join(host, 'dot-out', 'sub', 'b'), 'utf8'), 'two\n');
    mkdirSync(join(host, 'dot-into'));
    await ok(['cp', 'box:/data/d/.', join(host, 'dot-into')]);
    assert.equal(readFileSync(join(host, 'dot-into', 'a'), 'utf8'), 'one\n');
    // The root: its content lands in DEST (a new name or an existing directory), under docker's
    // entry names (/ and /NAME: the client rebases them by the source's base name, '/').
    // Kernel filesystems mounted in the running container come as empty directories.
    await ok(['cp', 'box:/', join(host, 'root-new')]);
    mkdirSync(join(host, 'root-into'));
    await ok(['cp', 'box:/', join(host, 'root-into')]);
    for (const dest of ['root-new', 'root-into']) {
      assert.equal(readFileSync(join(host, dest, 'data', 'f'), 'utf8'), 'file\n', dest);
      assert.equal(readFileSync(join(host, dest, 'etc', 'passwd'), 'utf8'), PASSWD, dest);
      assert.equal(readlinkSync(join(host, dest, 'bin', 'sh')), 'busybox', dest);
      assert.deepEqual(readdirSync(join(host, dest, 'proc')), [], `${dest}: /proc empty`);
      assert.deepEqual(readdirSync(join(host, dest, 'sys')), [], `${dest}: /sys empty`);
    }
    assert.deepEqual(readdirSync(host).filter((n) => n.startsWith('root-')).sort(), ['root-into', 'root-new'], 'no entry landed beside DEST');
    const rootNames = sh(`docker cp box:/ - | python3 -c "import sys, tarfile; print('\\n'.join(m.name for m in tarfile.open(fileobj=sys.stdin.buffer, mode='r|')))"`);
    assert.equal(rootNames.status, 0, rootNames.stderr);
    const names = rootNames.stdout.replace(/\n$/, '').split('\n');
    assert.equal(names[0], '', 'the root itself first (python drops the slash of "/")');
    for (const want of ['/etc/passwd', '/data/f', '/bin/sh', '/proc']) assert.ok(names.includes(want), `${want} in the archive`);
    assert.ok(names.every((n) => n === '' || n.startsWith('/')), names.filter((n) => !n.startsWith('/')).slice(0, 5).join(' '));
    // /etc/. : the directory's content, to a new name and into an existing directory; /etc: the directory into it.
    await ok(['cp', 'box:/etc/.', join(host, 'etc-new')]);
    mkdirSync(join(host, 'etc-into'));
    await ok(['cp', 'box:/etc/.', join(host, 'etc-into')]);
    await ok(['cp', 'box:/etc', join(host, 'etc-into')]);
    assert.equal(readFileSync(join(host, 'etc-new', 'passwd'), 'utf8'), PASSWD);
    assert.equal(readFileSync(join(host, 'etc-into', 'group'), 'utf8'), GROUP);
    assert.equal(readFileSync(join(host, 'etc-into', 'etc', 'group'), 'utf8'), GROUP);
    // The archive keeps the owner (the docker CLI itself extracts as its own user).
    const listing = sh('docker cp box:/data/f - | tar -tvf -');
    assert.equal(listing.status, 0, listing.stderr);
    assert.match(listing.stdout, /^-rw-r--r-- 1234\/2345\s+5 .* f$/m);
    // The stat header of HEAD.
    const head = await request(svc.socket, 'HEAD', '/v1.43/containers/box/archive?path=/data/d');
    assert.equal(head.status, 200);
    const stat = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat']), 'base64').toString());
    assert.equal(stat.name, 'd');
    assert.equal(stat.mode, 2 ** 31 + 0o755);
    assert.equal(stat.linkTarget, '');
    assert.ok(!Number.isNaN(Date.parse(stat.mtime)));
    const link = await request(svc.socket, 'HEAD', '/v1.43/containers/box/archive?path=/bin/sh');
    const linkStat = JSON.parse(Buffer.from(String(link.headers['x-docker-container-path-stat']), 'base64').toString());
    assert.equal(linkStat.mode & 2 ** 27, 2 ** 27, 'a symlink');
    assert.equal(linkStat.linkTarget, '/bin/busybox');

    // In: a file owned by 1234:2345 keeps its owner; a directory to a new name; into a directory.
    writeFileSync(join(host, 'in.txt'), 'in\n');
    chownSync(join(host, 'in.txt'), 1234, 2345);
    mkdirSync(join(host, 'dir-in', 'deep'), { recursive: true });
    writeFileSync(join(host, 'dir-in', 'deep', 'x'), 'x\n');
    await ok(['cp', join(host, 'in.txt'), 'box:/data/in.txt']);
    await ok(['cp', join(host, 'in.txt'), 'box:/data/d/']);
    await ok(['cp', join(host, 'dir-in'), 'box:/data/newdir']);
    assert.equal(await ok(['exec', 'box', 'stat', '-c', '%u:%g %s', '/data/in.txt', '/data/d/in.txt']), '1234:2345 3\n1234:2345 3\n');
    assert.equal(await ok(['exec', 'box', 'cat', '/data/newdir/deep/x']), 'x\n');
    // From a tar on stdin.
    const tarIn = sh(`tar -C ${host} -cf - in.txt | docker cp - box:/tmp`);
    assert.equal(tarIn.status, 0, tarIn.stderr);
    assert.equal(await ok(['exec', 'box', 'cat', '/tmp/in.txt']), 'in\n');

    // -a (copyUIDGID): the container user's uid and primary gid, for a container that has one;
    // names are looked up in the container's /etc/passwd and /etc/group.
    const users: [string, string[], string][] = [
      ['usr', ['-u', '1000:1000'], '1000:1000'],
      ['nob', ['-u', 'nobody'], '65534:65534'],
      ['grp', ['-u', 'tester:extra'], '1000:2000'],
    ];
    await ok(['commit', '-c', 'USER tester', 'box', 'localhost/as-tester:1']);
    users.push(['img', [], '1000:1000']);
    try {
      for (const [name, flags, owner] of users) {
        await ok(['run', '-d', '--name', name, ...flags, '--network', 'none', name === 'img' ? 'localhost/as-tester:1' : image, 'sleep', '1000']);
        await ok(['cp', '-a', join(host, 'in.txt'), `${name}:/tmp/a.txt`]);
        await ok(['cp', join(host, 'in.txt'), `${name}:/tmp/b.txt`]);
        assert.equal(await ok(['exec', name, 'stat', '-c', '%u:%g', '/tmp/a.txt', '/tmp/b.txt']), `${owner}\n1234:2345\n`, name);
      }
      // A stopped container's user too (its rootfs mounted for the copy).
      await ok(['stop', '-t', '0', 'nob']);
      await ok(['cp', '-a', join(host, 'in.txt'), 'nob:/tmp/c.txt']);
      await ok(['start', 'nob']);
      assert.equal(await ok(['exec', 'nob', 'stat', '-c', '%u:%g', '/tmp/c.txt']), '65534:65534\n');
    } finally {
      await ok(['rm', '-f', ...users.map(([name]) => name)]);
      await ok(['rmi', 'localhost/as-tester:1']);
    }
    // noOverwriteDirNonDir (the docker CLI sends it): a file does not replace a directory.
    mkdirSync(join(host, 'replace'));
    writeFileSync(join(host, 'replace', 'd'), 'not a dir\n');
    const replace = sh(`tar -C ${join(host, 'replace')} -cf - d | docker cp - box:/data`);
    assert.notEqual(replace.status, 0);
    assert.match(replace.stderr, /Error response from daemon: cannot overwrite directory "\/data\/d" with non-directory/);
    assert.equal(await ok(['exec', 'box', 'cat', '/data/d/a']), 'one\n');
    // Missing paths: docker's message.
    const missing = await docker(['cp', 'box:/nope', join(host, 'x')]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), 'Error response from daemon: Could not find the file /nope in container box');
    const missingDir = await docker(['cp', join(host, 'in.txt'), 'box:/nope/x']);
    assert.notEqual(missingDir.code, 0);
    assert.match(missingDir.stderr, /Could not find the file \/nope in container box/);
    const api = await request(svc.socket, 'GET', '/v1.43/containers/box/archive?path=/nope');
    assert.equal(api.status, 404);
    assert.equal(JSON.parse(api.body).message, 'Could not find the file /nope in container box');
    const notDir = await request(svc.socket, 'PUT', '/v1.43/containers/box/archive?path=/data/f');
    assert.equal(notDir.status, 400);
    assert.match(JSON.parse(notDir.body).message, /not a directory/);
    const noCtr = await docker(['cp', 'nosuch:/x', host]);
    assert.match(noCtr.stderr, /No such container: nosuch/);
  });

  await t.test('diff: added, changed, deleted', async () => {
    const lines = (await ok(['diff', 'box'])).trim().split('\n');
    for (const want of ['A /data', 'A /data/f', 'A /data/in.txt', 'C /home', 'D /home/tester', 'C /tmp', 'A /tmp/n']) assert.ok(lines.includes(want), `${want} in:\n${lines.join('\n')}`);
    const api = await request(svc.socket, 'GET', '/v1.43/containers/box/changes');
    const body = JSON.parse(api.body) as { Path: string; Kind: number }[];
    assert.deepEqual(body.find((c) => c.Path === '/data/f'), { Path: '/data/f', Kind: 1 });
    assert.deepEqual(body.find((c) => c.Path === '/home/tester'), { Path: '/home/tester', Kind: 2 });
    assert.deepEqual(body.find((c) => c.Path === '/home'), { Path: '/home', Kind: 0 });
  });

  await t.test('export: a tar of the whole filesystem', async () => {
    const r = sh('docker export box | tar -tf -');
    assert.equal(r.status, 0, r.stderr);
    const names = r.stdout.split('\n').map((n) => n.replace(/^\.\//, '').replace(/\/$/, ''));
    for (const want of ['bin/busybox', 'bin/sh', 'etc/passwd', 'data/f', 'data/d/sub/b']) assert.ok(names.includes(want), `${want} exported`);
    assert.ok(!names.includes('home/tester'), 'a deleted directory is not exported');
    const out = join(inst.base, 'export.tar');
    await ok(['export', '-o', out, 'box']);
    assert.ok(statSync(out).size > 100_000);
  });

  await t.test('commit, then run the new image', async () => {
    const id = (await ok(['commit', '-c', 'CMD ["cat", "/data/f", "/data/newdir/deep/x"]', '-m', 'a message', '-a', 'someone', 'box', 'localhost/committed:v1'])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await ok(['run', '--rm', '--network', 'none', 'localhost/committed:v1']), 'file\nx\n');
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'box'])).trim(), 'running false', 'paused for the commit only');
    // Without a name: an untagged image; --pause=false leaves the container running meanwhile.
    const bare = (await ok(['commit', '--pause=false', 'box'])).trim();
    assert.match(bare, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await ok(['run', '--rm', '--network', 'none', bare.slice(7, 19), 'cat', '/data/in.txt']), 'in\n');
    assert.match(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), /^localhost\/committed:v1$/m);
    const noCtr = await docker(['commit', 'nosuch', 'localhost/x:1']);
    assert.match(noCtr.stderr, /No such container: nosuch/);
  });

  await t.test('docker-py: top, stats, diff, pause, get_archive/put_archive', async () => {
    const script = `
import docker, io, json, sys, tarfile
c = docker.DockerClient(base_url=sys.argv[1], version='auto').containers.get('box')
top = c.top(ps_args='-o pid,args')
assert top['Titles'] == ['PID', 'COMMAND'], top
s = c.stats(stream=False)
assert s['memory_stats']['usage'] > 0 and s['pids_stats']['current'] >= 1, s
assert s['precpu_stats']['cpu_usage']['total_usage'] > 0, 'two samples'
assert {'Path': '/data/f', 'Kind': 1} in c.diff()
c.pause(); c.reload(); assert c.status == 'paused', c.status
c.unpause(); c.reload(); assert c.status == 'running', c.status
bits, stat = c.get_archive('/data/d')
assert stat['name'] == 'd' and stat['mode'] & 0x80000000, stat
names = tarfile.open(fileobj=io.BytesIO(b''.join(bits))).getnames()
assert 'd/sub/b' in names, names
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w') as t:
    data = b'from python\\n'
    info = tarfile.TarInfo('py.txt'); info.size = len(data); info.uid = 4321
    t.addfile(info, io.BytesIO(data))
assert c.put_archive('/tmp', buf.getvalue()) is True
r = c.exec_run(['stat', '-c', '%u %s', '/tmp/py.txt'])
assert r.output == b'4321 12\\n', r.output
try:
    c.get_archive('/nope'); raise SystemExit('no error')
except docker.errors.NotFound as e:
    assert ('Could not find the file /nope in container ' + c.id) in str(e), str(e)
print('ok')
`;
    const r = spawnSync(DEBIAN_PYTHON, ['-c', script, `unix://${svc.socket}`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ok\n');
  });

  await t.test('container prune: filters, then every container not running', async () => {
    await ok(['run', '--name', 'p1', '--label', 'keep=no', '--network', 'none', image, 'sh', '-c', 'head -c 100000 /dev/zero > /big']);
    await ok(['run', '--name', 'p2', '--label', 'keep=yes', '--network', 'none', image, 'true']);
    await ok(['create', '--name', 'p3', '--network', 'none', image, 'true']);
    const p1 = (await ok(['inspect', '-f', '{{.Id}}', 'p1'])).trim();
    // cp with a stopped container: its rootfs is mounted for the copy.
    const big = sh('docker cp p1:/big - | tar -tvf -');
    assert.equal(big.status, 0, big.stderr);
    assert.match(big.stdout, /^-\S+ 0\/0\s+100000 .* big$/m);
    const into = sh(`echo stopped > ${join(inst.base, 'st.txt')} && docker cp ${join(inst.base, 'st.txt')} p1:/tmp/ && docker cp p1:/tmp/st.txt - | tar -xO`);
    assert.equal(into.stdout, 'stopped\n', into.stderr);
    assert.equal(await ok(['container', 'prune', '-f', '--filter', 'until=1h']), 'Total reclaimed space: 0B\n', 'nothing is older than an hour');
    const labelled = await ok(['container', 'prune', '-f', '--filter', 'label=keep=no']);
    assert.match(labelled, new RegExp(`^Deleted Containers:\\n${p1}\\n\\nTotal reclaimed space: (\\d+(\\.\\d+)?)kB\\n$`));
    assert.ok(Number(/space: ([\d.]+)kB/.exec(labelled)![1]) >= 100, labelled);
    const rest = await ok(['container', 'prune', '-f']);
    const deleted = rest.split('\n').filter((l) => /^[0-9a-f]{64}$/.test(l));
    assert.equal(deleted.length, 2, rest);
    assert.deepEqual((await ok(['ps', '-a', '--format', '{{.Names}}'])).trim().split('\n'), ['box'], 'the running one stays');
    // docker system prune: containers, networks, dangling images and the (empty) build cache.
    await ok(['create', '--name', 'p3', '--network', 'none', image, 'true']);
    const system = await docker(['system', 'prune', '-f']);
    assert.equal(system.code, 0, system.stderr);
    assert.match(system.stdout, /Deleted Containers:\n[0-9a-f]{64}\n/);
    assert.deepEqual((await ok(['ps', '-a', '--format', '{{.Names}}'])).trim().split('\n'), ['box']);
  });

  await ok(['rm', '-f', 'box']);
});
