import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMountPoint, mount, onSharedMount, parseMountInfo, readMountInfo, unescapeMountInfo, unmount } from '../../src/sys/index.js';

test('octal escapes: space, tab, newline, backslash; other backslashes stay', () => {
  assert.equal(unescapeMountInfo('/a\\040b\\011c\\012d\\134e'), '/a b\tc\nd\\e');
  assert.equal(unescapeMountInfo('/plain/path'), '/plain/path');
  assert.equal(unescapeMountInfo('/x\\04'), '/x\\04', 'not three digits');
  assert.equal(unescapeMountInfo('/x\\089'), '/x\\089', 'not octal');
  assert.equal(unescapeMountInfo('/\\134040'), '/\\040', 'an escaped backslash is not the start of another escape');
});

test('fields, optional fields and escapes of mountinfo lines', () => {
  const text = [
    '22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro',
    '36 22 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:7 - ext3 /dev/my\\040disk rw',
    '40 22 0:50 / /run/x rw - tmpfs tmpfs rw,size=10k',
    'garbage line',
    '',
  ].join('\n');
  const m = parseMountInfo(text);
  assert.equal(m.length, 3);
  assert.deepEqual(m[0], {
    id: 22, parentId: 1, root: '/', mountPoint: '/', options: ['rw', 'relatime'], optional: ['shared:1'],
    fsType: 'ext4', source: '/dev/sda1', superOptions: ['rw', 'errors=remount-ro'],
  });
  assert.equal(m[1].mountPoint, '/mnt/with space');
  assert.equal(m[1].root, '/mnt1');
  assert.deepEqual(m[1].optional, ['master:1', 'shared:7']);
  assert.equal(m[1].source, '/dev/my disk');
  assert.deepEqual(m[2].optional, []);
  assert.equal(m[2].fsType, 'tmpfs');
});

test('a real mount whose path needs escapes is found; propagation of its parent is read', async (t) => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'berth-mountinfo-')));
  const target = join(root, 'with space\tand\\slash');
  mkdirSync(target);
  t.after(() => {
    unmount(target);
    rmSync(root, { recursive: true, force: true });
  });
  assert.equal(await isMountPoint(target), false);
  mount('tmpfs', target, 'tmpfs', 0, 'size=64k');
  assert.equal(await isMountPoint(target), true);
  const mine = (await readMountInfo()).filter((m) => m.mountPoint === target);
  assert.equal(mine.length, 1);
  assert.equal(mine[0].fsType, 'tmpfs');
  // The new tmpfs inherits its propagation from the mount it was made on.
  const parentShared = (await readMountInfo()).find((m) => m.id === mine[0].parentId)?.optional.some((o) => o.startsWith('shared:'));
  assert.equal(await onSharedMount(join(target, 'below')), mine[0].optional.some((o) => o.startsWith('shared:')));
  assert.equal(await onSharedMount(root), parentShared ?? false);
});
