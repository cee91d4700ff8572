// cp and export against real containers, running and stopped: docker's archive semantics,
// ownership, tar streams, volumes and binds, symlinks that try to leave the container, and no
// mount left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, listMounts, newInstance, runCommand, type Instance } from '../helpers/index.js';
import { RootView } from '../../src/snapshot/index.js';

async function ok(inst: Instance, args: string[], input?: string | Buffer): Promise<string> {
  const r = await inst.run(args, input !== undefined ? { input } : {});
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function fails(inst: Instance, args: string[], message: RegExp | string): Promise<void> {
  const r = await inst.run(args);
  assert.equal(r.code, 125, `${args.join(' ')} should fail: ${r.stdout}`);
  if (typeof message === 'string') assert.equal(r.stderr, `berth: ${message}\n`);
  else assert.match(r.stderr, message);
}

/** A shell pipeline with the instance's environment (binary tar streams). */
async function sh(inst: Instance, script: string): Promise<string> {
  const r = await runCommand('sh', ['-c', script], { ...inst.env, BERTH });
  assert.equal(r.code, 0, `${script}: ${r.stderr}`);
  return r.stdout;
}

/** Mounts of this instance's container rootfses. */
const rootfsMounts = (inst: Instance) => listMounts().filter((m) => m.mountPoint.startsWith(inst.base) && m.mountPoint.endsWith('/rootfs'));

function hostDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync('/tmp/berth-test-cp-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const SETUP = 'mkdir -p /d/sub; echo hi > /d/f; echo deep > /d/sub/g; chown 77:88 /d/f; ln -s /../../../etc /d/esc; ln -s /etc /d/abs; ';

test('cp to and from a running container: archive semantics, ownership, streams', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '-d', '--name', 'r', '--network', 'none', img, 'sh', '-c', `${SETUP} sleep 600`]);
  await ok(inst, ['exec', 'r', 'test', '-L', '/d/abs']); // set up
  const host = hostDir(t);

  // Out: a file into a dir, to a new name; uid/gid, mode and mtime kept.
  await ok(inst, ['cp', 'r:/d/f', host]);
  await ok(inst, ['cp', 'r:/d/f', join(host, 'renamed')]);
  for (const p of ['f', 'renamed']) {
    assert.equal(readFileSync(join(host, p), 'utf8'), 'hi\n');
    const st = statSync(join(host, p));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [77, 88, 0o644], p);
  }
  // A dir to a new name copies the dir; to an existing dir it lands inside; dir/. copies its content.
  await ok(inst, ['cp', 'r:/d', join(host, 'newdir')]);
  assert.equal(readFileSync(join(host, 'newdir/sub/g'), 'utf8'), 'deep\n');
  assert.equal(readlinkSync(join(host, 'newdir/esc')), '/../../../etc', 'a symlink is copied as a symlink');
  mkdirSync(join(host, 'existing'));
  await ok(inst, ['cp', 'r:/d', join(host, 'existing')]);
  assert.ok(existsSync(join(host, 'existing/d/sub/g')));
  mkdirSync(join(host, 'contents'));
  await ok(inst, ['cp', 'r:/d/.', join(host, 'contents')]);
  assert.ok(existsSync(join(host, 'contents/sub/g')) && !existsSync(join(host, 'contents/d')));

  // In: ownership, mode and mtime of the host file kept.
  const src = join(host, 'own.txt');
  writeFileSync(src, 'mine\n');
  chownSync(src, 1234, 2345);
  chmodSync(src, 0o640);
  utimesSync(src, new Date('2001-01-01T00:00:00Z'), new Date('2001-01-01T00:00:00Z'));
  await ok(inst, ['cp', src, 'r:/d/']);
  assert.equal((await ok(inst, ['exec', 'r', 'stat', '-c', '%u:%g %a %Y', '/d/own.txt'])).trim(), `1234:2345 640 ${Date.parse('2001-01-01T00:00:00Z') / 1000}`);
  await ok(inst, ['cp', '--archive=false', src, 'r:/d/root-owned']);
  assert.equal((await ok(inst, ['exec', 'r', 'stat', '-c', '%u:%g', '/d/root-owned'])).trim(), '0:0');
  // A container with a named user: its uid and primary gid from the container's /etc/passwd.
  await ok(inst, ['run', '-d', '--name', 'u', '-u', 'nobody', '--network', 'none', img, 'sleep', '600']);
  await ok(inst, ['cp', '--archive=false', src, 'u:/tmp/nobody-owned']);
  assert.equal((await ok(inst, ['exec', 'u', 'stat', '-c', '%u:%g', '/tmp/nobody-owned'])).trim(), '65534:65534');
  // The root of a running container: its files, and its kernel filesystems as empty directories.
  await ok(inst, ['cp', 'u:/', join(host, 'u-root')]);
  assert.ok(existsSync(join(host, 'u-root/bin/busybox')) && existsSync(join(host, 'u-root/etc/passwd')));
  assert.deepEqual([readdirSync(join(host, 'u-root/proc')), readdirSync(join(host, 'u-root/sys'))], [[], []]);
  await ok(inst, ['rm', '-f', 'u']);
  // A host dir in, to a new name and into an existing dir.
  mkdirSync(join(host, 'tree/inner'), { recursive: true });
  writeFileSync(join(host, 'tree/inner/h'), 'from host\n');
  await ok(inst, ['cp', join(host, 'tree'), 'r:/newtree']);
  await ok(inst, ['cp', join(host, 'tree'), 'r:/d/sub']);
  assert.equal(await ok(inst, ['exec', 'r', 'cat', '/newtree/inner/h', '/d/sub/tree/inner/h']), 'from host\nfrom host\n');
  // Overwriting a file keeps it a file; a dir over a file needs --overwrite.
  await ok(inst, ['cp', join(host, 'tree/inner/h'), 'r:/d/f']);
  assert.equal(await ok(inst, ['exec', 'r', 'cat', '/d/f']), 'from host\n');

  // Streams: `cp CTR:PATH -` writes a tar (entries under the source's name), `cp - CTR:DIR` reads one (gzip too).
  const listing = (await sh(inst, '"$BERTH" cp r:/d - | tar -tf -')).split('\n').filter(Boolean).sort();
  for (const e of ['d/', 'd/f', 'd/sub/', 'd/sub/g', 'd/esc', 'd/own.txt']) assert.ok(listing.includes(e), `${e} in ${listing.join(' ')}`);
  writeFileSync(join(host, 'streamed'), 'streamed\n');
  await sh(inst, `tar -C ${host} -czf - streamed | "$BERTH" cp - r:/d/sub`);
  assert.equal(await ok(inst, ['exec', 'r', 'cat', '/d/sub/streamed']), 'streamed\n');
  const notTar = await inst.run(['cp', '-', 'r:/d'], { input: 'not a tar archive at all '.repeat(40) });
  assert.equal(notTar.code, 125);
  assert.equal(notTar.stderr, 'berth: source must be a (compressed) tar archive when copying from stdin\n');

  // Errors, worded as podman and docker word them.
  await fails(inst, ['cp', 'r:/nope', host], 'berth: "/nope" could not be found on container r: no such file or directory'.slice(7));
  await fails(inst, ['cp', join(host, 'nope'), 'r:/'], `"${join(host, 'nope')}" could not be found on the host: no such file or directory`);
  await fails(inst, ['cp', 'r:/d/f', join(host, 'missing/x')], `"${join(host, 'missing/x')}" could not be found on the host: no such file or directory`);
  await fails(inst, ['cp', 'r:/d/f/', host], '"/d/f/" on container r: not a directory');
  await fails(inst, ['cp', join(host, 'tree'), 'r:/d/f'], 'destination must be a directory when copying a directory');
  await fails(inst, ['cp', 'r:/d/f', 'r:/tmp'], 'copying between containers is not supported');
  await fails(inst, ['cp', 'nosuch:/d', host], /no such container: nosuch/);
  mkdirSync(join(host, 'isdir/f'), { recursive: true });
  await fails(inst, ['cp', `${join(host, 'isdir')}/.`, 'r:/d'], /cannot overwrite non-directory "\/d\/f" with directory/);
  await ok(inst, ['cp', '--overwrite', `${join(host, 'isdir')}/.`, 'r:/d']);
  assert.equal((await ok(inst, ['exec', 'r', 'stat', '-c', '%F', '/d/f'])).trim(), 'directory');
});

test('cp: symlinks in the container and hostile archives stay inside it', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '-d', '--name', 'r', '--network', 'none', img, 'sh', '-c', `${SETUP} echo container > /etc/marker; sleep 600`]);
  await ok(inst, ['exec', 'r', 'test', '-f', '/etc/marker']);
  const host = hostDir(t);
  const name = `berth-cp-escape-${process.pid}`;
  t.after(() => rmSync(`/etc/${name}`, { force: true }));

  // Reading through links that point "above" the root or at an absolute path: the container's /etc.
  await ok(inst, ['cp', 'r:/d/esc/marker', join(host, 'm1')]);
  await ok(inst, ['cp', 'r:/d/abs/marker', join(host, 'm2')]);
  assert.equal(readFileSync(join(host, 'm1'), 'utf8'), 'container\n');
  assert.equal(readFileSync(join(host, 'm2'), 'utf8'), 'container\n');
  // Writing through them lands in the container's /etc, never the host's.
  writeFileSync(join(host, name), 'x\n');
  await ok(inst, ['cp', join(host, name), 'r:/d/esc/']);
  await ok(inst, ['cp', join(host, name), `r:/d/abs/${name}-2`]);
  assert.ok(!existsSync(`/etc/${name}`) && !existsSync(`/etc/${name}-2`), 'nothing written on the host');
  assert.equal(await ok(inst, ['exec', 'r', 'cat', `/etc/${name}`, `/etc/${name}-2`]), 'x\nx\n');

  // A tar on stdin with a symlink to / and a file through it: inside the container.
  const stage = join(host, 'stage');
  mkdirSync(stage);
  symlinkSync('/', join(stage, 'toroot'));
  const evil = join(host, 'evil.tar');
  await sh(inst, `tar -C ${stage} -cf ${evil} toroot && mkdir -p ${host}/b/toroot/etc && echo pwned > ${host}/b/toroot/etc/${name}-3 && tar -C ${host}/b -rf ${evil} toroot/etc/${name}-3`);
  await sh(inst, `"$BERTH" cp - r:/tmp < ${evil}`);
  assert.ok(!existsSync(`/etc/${name}-3`), 'the hostile archive wrote nothing on the host');
  assert.equal(await ok(inst, ['exec', 'r', 'cat', `/etc/${name}-3`]), 'pwned\n');
  // `..` entries are refused.
  const dotdot = join(host, 'dotdot.tar');
  await sh(inst, `python3 -c "import tarfile,io; t=tarfile.open('${dotdot}','w'); i=tarfile.TarInfo('../../../../etc/${name}-4'); d=b'pwned\\n'; i.size=len(d); t.addfile(i, io.BytesIO(d)); t.close()"`);
  const r = await inst.run(['cp', '-', 'r:/tmp'], { input: readFileSync(dotdot) });
  assert.equal(r.code, 125);
  assert.match(r.stderr, /points outside the destination/);
  assert.ok(!existsSync(`/etc/${name}-4`));
  // A source path with `..` cannot climb out either.
  await ok(inst, ['cp', 'r:/../../../../etc/marker', join(host, 'm3')]);
  assert.equal(readFileSync(join(host, 'm3'), 'utf8'), 'container\n');
});

test('cp and export with a stopped container: its rootfs is mounted only meanwhile; volumes and binds get the files', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const host = hostDir(t);
  const bind = join(host, 'bind');
  mkdirSync(bind);
  await ok(inst, ['run', '--name', 's', '--network', 'none', '-v', 'cpvol:/data', '-v', `${bind}:/bind`, img, 'sh', '-c', `${SETUP} rm /bin/true; echo vol > /data/v`]);
  assert.deepEqual(rootfsMounts(inst), [], 'a stopped container has no rootfs mounted');

  writeFileSync(join(host, 'in'), 'into stopped\n');
  chownSync(join(host, 'in'), 4321, 4321);
  await ok(inst, ['cp', join(host, 'in'), 's:/d/in']);
  await ok(inst, ['cp', join(host, 'in'), 's:/data/']);
  await ok(inst, ['cp', join(host, 'in'), 's:/bind/']);
  assert.deepEqual(rootfsMounts(inst), [], 'unmounted after cp');
  assert.equal(readFileSync(join(bind, 'in'), 'utf8'), 'into stopped\n', 'a bind gets the file');
  const volumePath = (await ok(inst, ['volume', 'inspect', '-f', '{{.Mountpoint}}', 'cpvol'])).trim();
  assert.equal(readFileSync(join(volumePath, 'in'), 'utf8'), 'into stopped\n', 'the named volume gets the file');
  assert.equal(statSync(join(volumePath, 'in')).uid, 4321);

  await ok(inst, ['cp', 's:/d/in', join(host, 'back')]);
  await ok(inst, ['cp', 's:/data/v', join(host, 'vback')]);
  assert.equal(readFileSync(join(host, 'back'), 'utf8'), 'into stopped\n');
  assert.equal(readFileSync(join(host, 'vback'), 'utf8'), 'vol\n');
  assert.equal(statSync(join(host, 'back')).uid, 4321);
  await fails(inst, ['cp', 's:/bin/true', host], '"/bin/true" could not be found on container s: no such file or directory');

  // The container sees it when it runs again.
  await ok(inst, ['start', '-a', 's']).catch(() => undefined);
  const run = await ok(inst, ['run', '--rm', '--network', 'none', '-v', 'cpvol:/data', img, 'cat', '/data/in']);
  assert.equal(run, 'into stopped\n');

  // export: the flattened rootfs (no volumes), to stdout or a file.
  const list = (await sh(inst, '"$BERTH" export s | tar -tf -')).split('\n');
  for (const e of ['bin/busybox', 'd/f', 'd/in', 'd/sub/g', 'etc/passwd']) assert.ok(list.includes(e), `${e} in the export`);
  assert.ok(!list.includes('bin/true'), 'a deleted file is not exported');
  assert.ok(!list.some((e) => e.startsWith('data/') && e !== 'data/'), 'volume content is not exported');
  await ok(inst, ['export', '-o', join(host, 'out.tar'), 's']);
  const fromFile = (await sh(inst, `tar -tvf ${join(host, 'out.tar')}`)).split('\n');
  assert.ok(fromFile.some((l) => /^-rw-r--r-- 4321\/4321 .* d\/in$/.test(l)), 'owners kept in the export');
  assert.deepEqual(rootfsMounts(inst), [], 'unmounted after export');
  await fails(inst, ['export', 'nosuch'], /no such container: nosuch/);
  const tty = await runCommand('script', ['-qec', `${BERTH} export s`, '/dev/null'], inst.env);
  assert.notEqual(tty.code, 0);
  assert.match(tty.stdout, /berth: refusing to export to terminal\. Use -o flag or redirect/);
  assert.ok(lstatSync(host).isDirectory());
});

test('export of a running container', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  await ok(inst, ['run', '-d', '--name', 'r', '--network', 'none', img, 'sh', '-c', 'echo live > /live; sleep 600']);
  await ok(inst, ['exec', 'r', 'test', '-f', '/live']);
  const list = (await sh(inst, '"$BERTH" container export r | tar -tf -')).split('\n');
  assert.ok(list.includes('live') && list.includes('bin/busybox'), list.slice(0, 5).join(' '));
  assert.equal(rootfsMounts(inst).length, 1, "the running container's rootfs stays mounted");
  await ok(inst, ['rm', '-f', 'r']);
  assert.deepEqual(rootfsMounts(inst), []);
});

test('a directory swapped for a symlink after resolution is refused, not followed', (t) => {
  const root = hostDir(t);
  const outside = hostDir(t);
  mkdirSync(join(root, 'a/b'), { recursive: true });
  const view = new RootView(root);
  const parts = view.resolve('/a/b', true);
  assert.deepEqual(parts, ['a', 'b']);
  const pinned = view.openDir(parts);
  pinned.close();
  // What a container's process could do between the resolution and the write.
  rmSync(join(root, 'a/b'), { recursive: true });
  symlinkSync(outside, join(root, 'a/b'));
  assert.throws(() => view.openDir(parts), /changed while being copied: a symbolic link appeared on the way/);
  // Resolved afresh, the (absolute) link stays inside the root.
  assert.deepEqual(view.resolve('/a/b/x', true), [...outside.split('/').filter(Boolean), 'x']);
  assert.equal(view.hostPath(view.resolve('/a/b/x', true)), join(root, outside, 'x'));
});
