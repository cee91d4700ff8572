// Volumes against real containers: bind options as the container's mountinfo shows them,
// named volumes (create, ls, inspect, rm, prune, exists), copy-up of the image's content,
// anonymous volumes removed with rm -v and run --rm, and --mount.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listMounts, newInstance, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** The container's mountinfo line for mount point dest: its per-mount options and optional fields. */
function mountLine(mountinfo: string, dest: string): { opts: string[]; optional: string[] } {
  const line = mountinfo.split('\n').find((l) => l.split(' ')[4] === dest);
  assert.ok(line, `no mount at ${dest} in:\n${mountinfo}`);
  const f = line.split(' ');
  const sep = f.indexOf('-');
  return { opts: f[5]!.split(','), optional: f.slice(6, sep) };
}

const run = (inst: Instance, img: string, ...args: string[]) => ok(inst, ['run', '--rm', '--network', 'none', ...args.slice(0, -1), img, 'sh', '-c', args.at(-1)!]);

test('bind options: ro, nosuid, nodev, noexec, z/Z and propagation in the container\'s mountinfo; bad options refused', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const src = join(inst.base, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'f'), 'hello\n');

  const info = await run(inst, img, '-v', `${src}:/a:ro,nosuid,nodev,noexec,Z`, '-v', `${src}:/b:z,cached`, '-v', `${src}:/c:rw,suid,dev,exec,delegated`, 'cat /a/f; cat /proc/self/mountinfo');
  assert.match(info, /^hello\n/);
  const a = mountLine(info, '/a').opts;
  for (const o of ['ro', 'nosuid', 'nodev', 'noexec']) assert.ok(a.includes(o), `/a has ${o}: ${a}`);
  const b = mountLine(info, '/b').opts;
  assert.ok(b.includes('rw') && !b.includes('nosuid') && !b.includes('noexec'), `/b: ${b}`);
  const c = mountLine(info, '/c').opts;
  assert.ok(c.includes('rw') && !c.includes('nosuid') && !c.includes('nodev') && !c.includes('noexec'), `/c: ${c}`);

  // Propagation: rshared needs a shared source (the host's / is private here), as docker says.
  const shared = join(inst.base, 'shared');
  mkdirSync(shared);
  // Under the instance's dir: its cleanup unmounts it.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', shared]);
  execFileSync('mount', ['--make-shared', shared]);
  const refused = await inst.run(['run', '--rm', '--network', 'none', '-v', `${src}:/p:rshared`, img, 'true']);
  assert.equal(refused.code, 125);
  assert.match(refused.stderr, /^berth: path \S+ is not on a shared mount: rshared propagation needs one/);
  const prop = await run(inst, img, '-v', `${shared}:/s:rshared`, '-v', `${shared}:/sl:rslave`, '-v', `${src}:/pr:private`, 'cat /proc/self/mountinfo');
  assert.ok(mountLine(prop, '/s').optional.some((o) => o.startsWith('shared:')), 'rshared bind is shared');
  assert.ok(mountLine(prop, '/sl').optional.some((o) => o.startsWith('master:')), 'rslave bind is a slave');
  assert.deepEqual(mountLine(prop, '/pr').optional, [], 'private bind propagates nothing');
  // Both ways: a mount made in the container shows on the host.
  await run(inst, img, '--privileged', '-v', `${shared}:/s:rshared`, 'mkdir -p /s/sub && mount -t tmpfs none /s/sub && touch /s/sub/x && umount /s/sub');

  // Bad options: one line naming the option, exit 125, nothing created.
  for (const [spec, msg] of [
    [`${src}:/d:bogus`, 'unknown option "bogus"'],
    [`${src}:/d:ro,rw`, 'conflicting options "ro" and "rw"'],
    [`${src}:/d:shared,private`, 'conflicting options "shared" and "private"'],
  ]) {
    const r = await inst.run(['run', '--network', 'none', '-v', spec!, img, 'true']);
    assert.equal(r.code, 125, spec);
    assert.equal(r.stderr, `berth: invalid volume specification "${spec}": ${msg}\n`);
  }
  const badMount = await inst.run(['create', '--mount', `type=bind,source=${src},target=/d,color=red`, img, 'true']);
  assert.equal(badMount.code, 125);
  assert.equal(badMount.stderr, `berth: invalid --mount "type=bind,source=${src},target=/d,color=red": unknown option "color" for type=bind\n`);
  assert.equal(await ok(inst, ['ps', '-aq']), '');
  assert.equal(await ok(inst, ['volume', 'ls', '-q']), '');
});

test('named volumes: create, ls, inspect, exists, rm refused while used, rm -f, prune; data outlives containers', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  assert.equal(await ok(inst, ['volume', 'create', '--label', 'app=web', '--label', 'tier', 'data']), 'data\n');
  const dup = await inst.run(['volume', 'create', 'data']);
  assert.equal(dup.code, 125);
  assert.match(dup.stderr, /^berth: volume with name data already exists\n$/);
  const anon = (await ok(inst, ['volume', 'create'])).trim();
  assert.match(anon, /^[0-9a-f]{64}$/);
  const [v] = JSON.parse(await ok(inst, ['volume', 'inspect', 'data']));
  assert.deepEqual(Object.keys(v), ['Name', 'Driver', 'Mountpoint', 'CreatedAt', 'Labels', 'Scope', 'Options', 'MountCount', 'NeedsCopyUp']);
  assert.equal(v.Name, 'data');
  assert.equal(v.Driver, 'local');
  assert.equal(v.Scope, 'local');
  assert.equal(v.Mountpoint, join(inst.root, 'volumes', 'data', '_data'));
  assert.ok(existsSync(v.Mountpoint));
  assert.deepEqual(v.Labels, { app: 'web', tier: '' });
  assert.deepEqual(v.Options, {});
  assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
  assert.equal(await ok(inst, ['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Labels.app}}', 'data']), 'data local web\n');
  assert.equal((await inst.run(['volume', 'inspect', 'nope'])).stderr, 'berth: no such volume nope\n');
  const byName = [anon, 'data'].sort();
  assert.equal(await ok(inst, ['volume', 'ls']), `DRIVER   VOLUME NAME\n${byName.map((n) => `local    ${n}\n`).join('')}`);
  assert.deepEqual(JSON.parse(await ok(inst, ['volume', 'ls', '--format', 'json'])).map((x: { Name: string }) => x.Name), byName);
  assert.equal(await ok(inst, ['volume', 'ls', '--noheading']), byName.map((n) => `local    ${n}\n`).join(''));
  assert.equal(await ok(inst, ['volume', 'ls', '--format', 'table {{.Driver}}\t{{.Name}}']), `DRIVER   VOLUME NAME\n${byName.map((n) => `local    ${n}\n`).join('')}`);
  assert.equal(await ok(inst, ['volume', 'ls', '--format', '{{.Name}}', '--filter', 'label=app=web']), 'data\n');
  assert.equal(await ok(inst, ['volume', 'ls', '-q', '--filter', 'label=tier']), 'data\n');
  assert.equal(await ok(inst, ['volume', 'ls', '-q', '--filter', 'name=dat']), 'data\n');
  assert.equal((await inst.run(['volume', 'ls', '--filter', 'color=red'])).code, 125);
  assert.equal((await inst.run(['volume', 'exists', 'data'])).code, 0);
  assert.equal((await inst.run(['volume', 'exists', 'nope'])).code, 1);

  // Data written by one container is there for the next, after the first is removed.
  await ok(inst, ['run', '--name', 'writer', '--network', 'none', '-v', 'data:/data', img, 'sh', '-c', 'echo kept > /data/f']);
  assert.equal(await ok(inst, ['volume', 'ls', '-q', '--filter', 'dangling=false']), 'data\n');
  assert.equal(await ok(inst, ['volume', 'ls', '-q', '--filter', 'dangling=true']), `${anon}\n`);
  const inUse = await inst.run(['volume', 'rm', 'data']);
  assert.equal(inUse.code, 125);
  assert.match(inUse.stderr, /^berth: volume data is being used by the following container\(s\): [0-9a-f]{64}: volume is being used\n$/);
  await ok(inst, ['rm', '-v', 'writer']);
  assert.equal(await ok(inst, ['run', '--rm', '--network', 'none', '-v', 'data:/other:ro', img, 'cat', '/other/f']), 'kept\n');
  const df = (JSON.parse(await ok(inst, ['system', 'df', '--format', 'json'])) as { Type: string; TotalCount: number; Active: number; RawSize: number; RawReclaimable: number }[]).find((r) => r.Type === 'Local Volumes')!;
  assert.deepEqual([df.TotalCount, df.Active, df.RawSize, df.RawReclaimable], [2, 0, 'kept\n'.length, 'kept\n'.length]);

  // Created on first use by -v NAME:/path; rm -f removes the containers that use it.
  await ok(inst, ['create', '--name', 'user', '-v', 'fresh:/x', img, 'true']);
  assert.equal((await inst.run(['volume', 'exists', 'fresh'])).code, 0);
  assert.equal(await ok(inst, ['volume', 'rm', '-f', 'fresh']), 'fresh\n');
  assert.equal(await ok(inst, ['ps', '-aq']), '');

  // prune: only volumes no container uses; named volumes are never removed with a container.
  await ok(inst, ['create', '--name', 'keeper', '-v', 'data:/data', img, 'true']);
  assert.equal(await ok(inst, ['volume', 'prune', '-f']), `${anon}\n`);
  await ok(inst, ['rm', '-fv', 'keeper']);
  assert.equal(await ok(inst, ['volume', 'ls', '-q']), 'data\n');
  assert.equal(await ok(inst, ['volume', 'prune', '--filter', 'label=other', '-f']), '');
  assert.equal(await ok(inst, ['volume', 'rm', 'data']), 'data\n');
  assert.deepEqual(readdirSync(join(inst.root, 'volumes')), []);
});

test('copy-up: a new volume gets the image\'s content with owners and modes; a non-empty one keeps its own', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const listing = 'ls -ln /home | tail -n +2 | while read m l u g rest; do echo "$m $u $g ${rest##* }"; done';
  assert.equal(await run(inst, img, '-v', 'homes:/home', listing), 'drwxr-xr-x 1000 1000 tester\n');
  // The mount point's own mode and owner come along too (the image's /tmp is 1777).
  assert.equal(await run(inst, img, '-v', 'tmpvol:/tmp', '-v', 'tester:/home/tester', 'stat -c "%a %u:%g" /tmp /home/tester'), '1777 0:0\n755 1000:1000\n');
  // Copied once: what the first container did stays, even for a later, different image path.
  await run(inst, img, '-v', 'homes:/home', 'rm -r /home/tester && touch /home/mine');
  assert.equal(await run(inst, img, '-v', 'homes:/home', 'ls /home'), 'mine\n');
  // A volume someone already wrote into gets nothing copied.
  await ok(inst, ['volume', 'create', 'full']);
  const [v] = JSON.parse(await ok(inst, ['volume', 'inspect', 'full']));
  assert.equal(v.NeedsCopyUp, true);
  writeFileSync(join(v.Mountpoint, 'own'), '');
  assert.equal(await run(inst, img, '-v', 'full:/home', 'ls /home'), 'own\n');
  assert.equal(JSON.parse(await ok(inst, ['volume', 'inspect', 'full']))[0].NeedsCopyUp, false);
  // nocopy: an empty volume stays empty; the image's /etc copies up with its files.
  assert.equal(await run(inst, img, '-v', 'empty:/home:nocopy', 'ls -A /home'), '');
  assert.equal(await run(inst, img, '--mount', 'type=volume,src=etc,dst=/mnt/etc', 'true'), '');
  assert.equal(await run(inst, img, '-v', 'etc2:/etc', 'cat /etc/group | head -1'), 'root:x:0:\n');
  for (const n of ['homes', 'tmpvol', 'tester', 'full', 'empty', 'etc', 'etc2']) await ok(inst, ['volume', 'rm', n]);
});

test('anonymous volumes: -v /path and the image\'s VOLUME; removed by rm -v and run --rm, kept by plain rm', async (t) => {
  const inst = await newInstance(t);
  await inst.importBusybox();
  const img = 'busybox-vol';
  // An image whose config declares a VOLUME over a directory with content.
  await ok(inst, ['import', '--change', 'VOLUME /home', (await import('../helpers/index.js')).busyboxTarball(), img]);
  const id = (await ok(inst, ['create', '--network', 'none', '-v', '/scratch', img, 'true'])).trim();
  const mounts = JSON.parse(await ok(inst, ['inspect', id]))[0].Mounts as { Type: string; Name: string; Destination: string; Source: string; Driver: string; RW: boolean; Propagation: string }[];
  assert.deepEqual(mounts.map((m) => [m.Type, m.Destination, m.Driver, m.RW, m.Propagation]), [
    ['volume', '/scratch', 'local', true, 'rprivate'],
    ['volume', '/home', 'local', true, 'rprivate'],
  ]);
  for (const m of mounts) {
    assert.match(m.Name, /^[0-9a-f]{64}$/);
    assert.equal(m.Source, join(inst.root, 'volumes', m.Name, '_data'));
  }
  assert.equal(JSON.parse(await ok(inst, ['volume', 'inspect', mounts[0]!.Name]))[0].Anonymous, true);
  await ok(inst, ['start', '-a', id]);
  assert.deepEqual(readdirSync(mounts[1]!.Source), ['tester'], 'the image\'s /home copied up');
  await ok(inst, ['rm', '-v', id]);
  assert.equal(await ok(inst, ['volume', 'ls', '-q']), '');

  // Plain rm keeps them (prune removes them later); run --rm removes them; named ones stay.
  await ok(inst, ['run', '--name', 'plain', '--network', 'none', img, 'sh', '-c', 'echo data > /home/f']);
  await ok(inst, ['rm', 'plain']);
  assert.equal((await ok(inst, ['volume', 'ls', '-q'])).split('\n').filter(Boolean).length, 1);
  const pruned = await ok(inst, ['system', 'prune', '-f', '--volumes']);
  assert.match(pruned, /^Deleted Volumes:\n[0-9a-f]{64}\n\n/);
  assert.match(pruned, /\nTotal reclaimed space: 5B\n$/, 'the volume held what the container wrote');
  assert.equal(await run(inst, img, '-v', 'named:/named', '-v', '/anon', 'ls /home'), 'tester\n');
  assert.equal(await ok(inst, ['volume', 'ls', '-q']), 'named\n');
  // A -v at the image's VOLUME path takes its place.
  assert.equal(await run(inst, img, '-v', 'named:/home', 'ls /home'), '');
  assert.equal(await ok(inst, ['volume', 'ls', '-q']), 'named\n');
  await ok(inst, ['volume', 'rm', 'named']);
});

test('--mount bind, volume and tmpfs; inspect Mounts as podman shows them', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const src = join(inst.base, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'f'), 'bound\n');
  const out = await run(
    inst, img,
    '--mount', `type=bind,source=${src},target=/b,readonly`,
    '--mount', 'type=volume,source=mv,destination=/v',
    '--mount', 'type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770',
    'cat /b/f; touch /v/w; stat -c %a /t; cat /proc/self/mountinfo',
  );
  assert.match(out, /^bound\n1770\n/);
  assert.ok(mountLine(out, '/b').opts.includes('ro'));
  assert.match(out.split('\n').find((l) => l.split(' ')[4] === '/t')!, / tmpfs tmpfs .*size=1024k/);
  const id = (await ok(inst, ['create', '--network', 'none', '--mount', `type=bind,src=${src},dst=/b,bind-propagation=rprivate`, '-v', `mv:/v:ro,Z,nosuid`, img, 'true'])).trim();
  const [c] = JSON.parse(await ok(inst, ['inspect', id]));
  assert.deepEqual(c.Mounts, [
    { Type: 'volume', Name: 'mv', Source: join(inst.root, 'volumes', 'mv', '_data'), Destination: '/v', Driver: 'local', Mode: 'Z', Options: ['rbind', 'nosuid'], RW: false, Propagation: 'rprivate' },
    { Type: 'bind', Source: src, Destination: '/b', Driver: '', Mode: '', Options: ['rbind'], RW: true, Propagation: 'rprivate' },
  ]);
  await ok(inst, ['rm', '-fv', id]);
  await ok(inst, ['volume', 'rm', 'mv']);
});

test('driver options: the volume\'s filesystem is mounted on first use and unmounted by volume rm; bad options refused', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const fsType = (info: string, dest: string) => {
    const f = info.split('\n').find((l) => l.split(' ')[4] === dest)?.split(' ');
    return f?.[f.indexOf('-') + 1];
  };
  await ok(inst, ['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=1m,mode=0770', 'tv']);
  const [v] = JSON.parse(await ok(inst, ['volume', 'inspect', 'tv']));
  assert.deepEqual(v.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,mode=0770' });
  const info = await run(inst, img, '-v', 'tv:/t', 'stat -c %a /t; echo x > /t/f; cat /proc/self/mountinfo');
  assert.match(info, /^770\n/);
  assert.equal(fsType(info, '/t'), 'tmpfs');
  assert.ok(listMounts().some((m) => m.mountPoint === v.Mountpoint), 'mounted on the host while the volume exists');
  assert.equal(await run(inst, img, '-v', 'tv:/t', 'cat /t/f'), 'x\n');
  await ok(inst, ['volume', 'rm', 'tv']);
  assert.equal(listMounts().some((m) => m.mountPoint === v.Mountpoint), false, 'unmounted by rm');
  assert.equal(existsSync(join(inst.root, 'volumes', 'tv')), false);

  // docker's bind idiom, and volume-opt on --mount for a volume made on first use.
  const src = join(inst.base, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'f'), 'host\n');
  await ok(inst, ['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${src}`, 'bv']);
  assert.equal(await run(inst, img, '-v', 'bv:/home', 'ls /home; cat /home/f'), 'f\nhost\n', 'a non-empty filesystem gets no copy-up');
  const m = await run(inst, img, '--mount', 'type=volume,src=mv,dst=/m,volume-opt=type=tmpfs,volume-opt=device=tmpfs', 'cat /proc/self/mountinfo');
  assert.equal(fsType(m, '/m'), 'tmpfs');
  assert.equal(JSON.parse(await ok(inst, ['volume', 'inspect', 'mv']))[0].Options.type, 'tmpfs');
  for (const n of ['bv', 'mv']) await ok(inst, ['volume', 'rm', n]);
  assert.equal(listMounts().some((mt) => mt.mountPoint.startsWith(join(inst.root, 'volumes'))), false);

  for (const [args, msg] of [
    [['--opt', 'color=red'], 'invalid volume option "color": the local driver takes type, device and o'],
    [['--opt', 'o=size=1m'], 'volume options device and o need type (e.g. type=tmpfs, or type=none with o=bind)'],
  ]) {
    const r = await inst.run(['volume', 'create', ...args!, 'bad']);
    assert.equal(r.code, 125);
    assert.equal(r.stderr, `berth: ${msg}\n`);
  }
  const badMount = await inst.run(['run', '--rm', '--mount', 'type=volume,src=x,dst=/x,volume-opt=novalue', img, 'true']);
  assert.equal(badMount.code, 125);
  assert.match(badMount.stderr, /volume-opt takes KEY=VALUE\n$/);
  assert.equal(await ok(inst, ['volume', 'ls', '-q']), '');
});

test('volume export and import: the data as a tar with owners and modes, into another volume from a file or stdin', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  await ok(inst, ['volume', 'create', 'src']);
  await ok(inst, ['run', '--rm', '--network', 'none', '-v', 'src:/d', img, 'sh', '-c', 'echo hi > /d/a; mkdir /d/sub; echo x > /d/sub/b; chown 1000:2000 /d/a; chmod 600 /d/a']);
  const archive = join(inst.base, 'src.tar');
  await ok(inst, ['volume', 'export', '-o', archive, 'src']);
  const listed = execFileSync('tar', ['-tvf', archive], { encoding: 'utf8' });
  assert.match(listed, /^-rw------- 1000\/2000 +3 .* \.\/a$/m);
  assert.match(listed, /^-rw-r--r-- 0\/0 +2 .* \.\/sub\/b$/m);
  const piped = await inst.run(['volume', 'export', 'src']);
  assert.equal(piped.code, 0, piped.stderr);
  assert.match(piped.stdout, /\.\/sub\/b\0/, 'the same tar on stdout');

  await ok(inst, ['volume', 'create', 'copy']);
  await ok(inst, ['volume', 'import', 'copy', archive]);
  const seen = async (volume: string) => ok(inst, ['run', '--rm', '--network', 'none', '-v', `${volume}:/d`, img, 'sh', '-c', 'stat -c "%n %u:%g %a" /d/a /d/sub/b; cat /d/a /d/sub/b']);
  const expected = '/d/a 1000:2000 600\n/d/sub/b 0:0 644\nhi\nx\n';
  assert.equal(await seen('copy'), expected);
  await ok(inst, ['volume', 'create', 'fromstdin']);
  const gz = execFileSync('gzip', ['-c', archive]);
  const r = await inst.run(['volume', 'import', 'fromstdin', '-'], { input: gz });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await seen('fromstdin'), expected);

  for (const [args, message] of [
    [['volume', 'import', 'copy', join(inst.base, 'missing.tar')], /^berth: .*missing\.tar: no such file or directory\n$/],
    [['volume', 'import', 'nosuch', archive], /^berth: no such volume nosuch\n$/],
    [['volume', 'export', 'nosuch'], /^berth: no such volume nosuch\n$/],
  ] as const) {
    const bad = await inst.run([...args]);
    assert.equal(bad.code, 125, args.join(' '));
    assert.match(bad.stderr, message, args.join(' '));
  }
  const junk = await inst.run(['volume', 'import', 'copy', '-'], { input: 'not a tar\n' });
  assert.equal(junk.code, 125);
  assert.equal(await seen('copy'), expected, 'a bad archive leaves the volume as it was');
});
