// The one atomic-write helper: replace, mode, unique temp names, nothing left on failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempPathFor, writeFileAtomic, writeFileAtomicSync } from '../../src/sys/index.js';

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
