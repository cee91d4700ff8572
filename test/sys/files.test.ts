// The one atomic-write helper (replace, mode, unique temp names, nothing left on failure),
// the one PATH lookup, and the one-step removal and small read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SEARCH_PATH, findExecutable, readSmallFile, removePaths, seqpacketConnect, tempPathFor, writeFileAtomic, writeFileAtomicSync } from '../../src/sys/index.js';

test('atomic writes replace the file whole and leave no temp file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-atomic-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'f.json');
  await writeFileAtomic(file, 'one');
  writeFileAtomicSync(file, 'two', { mode: 0o600 });
  assert.equal(await readFile(file, 'utf8'), 'two');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  await writeFileAtomic(file, Buffer.from('three'), { fsync: false });
  assert.equal(await readFile(file, 'utf8'), 'three');

  // Concurrent writers of one file each use their own temp file: one of them wins whole.
  const values = Array.from({ length: 20 }, (_, i) => `value-${i}-`.repeat(1000));
  await Promise.all(values.map((v) => writeFileAtomic(file, v)));
  assert.ok(values.includes(await readFile(file, 'utf8')));
  assert.notEqual(tempPathFor(file), tempPathFor(file));
  assert.deepEqual(await readdir(dir), ['f.json']);

  // A rename that fails (the target is a directory) removes the temp file, sync and async.
  await mkdir(join(dir, 'sub'));
  await assert.rejects(writeFileAtomic(join(dir, 'sub'), 'x'), { code: 'EISDIR' });
  assert.throws(() => writeFileAtomicSync(join(dir, 'sub'), 'x'), { code: 'EISDIR' });
  assert.deepEqual((await readdir(dir)).sort(), ['f.json', 'sub']);
  await assert.rejects(writeFileAtomic(join(dir, 'missing', 'f'), 'x'), { code: 'ENOENT' });
});

test('findExecutable: one PATH lookup for the runtime and the exit command', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-path-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'a'));
  await mkdir(join(dir, 'b'));
  await writeFile(join(dir, 'a', 'tool'), '#!/bin/sh\n', { mode: 0o644 }); // not executable
  await writeFile(join(dir, 'b', 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  await mkdir(join(dir, 'a', 'dir-tool'));
  const env = { PATH: `${join(dir, 'a')}:${join(dir, 'b')}` };
  assert.equal(findExecutable('tool', env), join(dir, 'b', 'tool'));
  assert.equal(findExecutable('dir-tool', env), undefined);
  assert.equal(findExecutable('missing', env), undefined);
  // A name with a slash is that file; relative PATH entries are never searched.
  assert.equal(findExecutable(join(dir, 'b', 'tool'), { PATH: '' }), join(dir, 'b', 'tool'));
  assert.equal(findExecutable(join(dir, 'a', 'tool'), env), undefined);
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    assert.equal(findExecutable('./b/tool', {}), join(dir, 'b', 'tool'));
    assert.equal(findExecutable('tool', { PATH: 'b' }), undefined);
  } finally {
    process.chdir(cwd);
  }
  // Unset or empty PATH: the default search path.
  assert.match(findExecutable('sh', {}) ?? '', /^\/(usr\/)?(s)?bin\/sh$/);
  assert.equal(findExecutable('sh', { PATH: '' }), findExecutable('sh', {}));
  assert.ok(DEFAULT_SEARCH_PATH.split(':').every((d) => d.startsWith('/')));
});

test('removePaths removes trees, files and links (never a link target) in one step; readSmallFile reads a small file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-remove-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keep = join(dir, 'keep');
  await mkdir(join(keep, 'inner'), { recursive: true });
  await writeFile(join(keep, 'inner', 'f'), 'kept');
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'a', 'b', 'c'), { recursive: true });
  await writeFile(join(tree, 'a', 'b', 'c', 'deep'), 'x');
  await writeFile(join(tree, 'top'), 'y');
  await symlink(keep, join(tree, 'link-to-keep'));
  await mkdir(join(tree, 'empty'));
  await chmod(join(tree, 'empty'), 0o000);
  await writeFile(join(dir, 'file'), 'z');
  await symlink(keep, join(dir, 'link'));

  await removePaths([tree, join(dir, 'file'), join(dir, 'link'), join(dir, 'missing'), join(dir, 'no', 'such', 'parent')]);
  assert.deepEqual(await readdir(dir), ['keep']);
  assert.equal(await readFile(join(keep, 'inner', 'f'), 'utf8'), 'kept');
  await removePaths([]);

  // Failures are Node-style errors naming the call and the path.
  await writeFile(join(dir, 'plain'), 'p');
  await assert.rejects(removePaths([join(dir, 'plain', 'below')]), { code: 'ENOTDIR', syscall: 'unlink', path: join(dir, 'plain', 'below') });
  await assert.rejects(removePaths(['']), { code: 'EINVAL' });
  await rm(join(dir, 'plain'));

  assert.equal((await readSmallFile(join(keep, 'inner', 'f')))?.toString(), 'kept');
  assert.equal((await readSmallFile(join(keep, 'inner', 'f'), 2))?.toString(), 'ke');
  assert.equal(await readSmallFile(join(dir, 'missing')), undefined);
  await assert.rejects(readSmallFile(keep), { code: 'EISDIR', syscall: 'read', path: keep });
});

test('seqpacketConnect reaches paths longer than a socket address through their directory, and names the failing call', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-connect-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const deep = join(dir, 'd'.repeat(100));
  await mkdir(deep);
  const long = join(deep, 'attach');
  assert.ok(Buffer.byteLength(long) > 108);
  // Through /proc/self/fd/N/attach: the directory opened, the socket itself missing.
  await assert.rejects(seqpacketConnect(long), { code: 'ENOENT', syscall: 'connect', path: long });
  await assert.rejects(seqpacketConnect(join(dir, 'e'.repeat(100), 'attach')), { code: 'ENOENT', syscall: 'open' });
  await writeFile(join(dir, 'plain'), '');
  await assert.rejects(seqpacketConnect(join(dir, 'plain')), { code: 'ECONNREFUSED', syscall: 'connect' });
});
