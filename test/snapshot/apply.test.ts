import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, openSync, readFileSync, readlinkSync, readdirSync, mkdirSync, writeFileSync, writeSync, existsSync, rmSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { sha256Digest } from '../../src/content/index.js';
import { applyLayer, LayerFile } from '../../src/snapshot/index.js';
import { isBerthError } from '../../src/errors/index.js';
import { lgetxattr } from '../../src/sys/index.js';
import { makeTar, streamOf, tempDir, treeDigest, type Spec } from './helpers.js';

const CAP = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // vfs cap v2: cap_net_bind_service

test('applyLayer preserves links, devices, owners, modes, mtimes and xattrs', async (t) => {
  const dir = tempDir(t);
  const tar = await makeTar([
    { name: './', type: 'dir', mode: 0o755, mtime: 1000 },
    { name: 'bin/', type: 'dir', mode: 0o755, mtime: 1001 },
    { name: 'bin/tool', type: 'file', mode: 0o4755, uid: 1000, gid: 1001, mtime: 1002, body: 'tool-binary' },
    { name: 'bin/ping', type: 'file', mode: 0o755, mtime: 1003, body: 'ping', xattrs: { 'security.capability': CAP, 'user.note': Buffer.from('hi') } },
    { name: 'bin/tool2', type: 'hardlink', linkname: 'bin/tool' },
    { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', uid: 5, gid: 6, mtime: 1004 },
    { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime: 1005 },
    { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 1, mode: 0o660, gid: 6 },
    { name: 'run/fifo', type: 'fifo', mode: 0o620 },
    { name: 'tmp/', type: 'dir', mode: 0o1777, mtime: 1006 },
    { name: 'tmp/x', type: 'file', body: 'x', mtime: 1007 },
    { name: 'srv/g/', type: 'dir', mode: 0o2775, uid: 7, gid: 8, mtime: 1008 },
  ]);
  const { size } = await applyLayer(streamOf(tar), dir);
  assert.equal(size, 'tool-binary'.length + 'ping'.length + 1);

  const tool = lstatSync(join(dir, 'bin/tool'));
  assert.equal(tool.mode & 0o7777, 0o4755, 'setuid survives chown');
  assert.deepEqual([tool.uid, tool.gid, tool.mtimeMs], [1000, 1001, 1_002_000]);
  assert.equal(readFileSync(join(dir, 'bin/tool'), 'utf8'), 'tool-binary');
  const tool2 = lstatSync(join(dir, 'bin/tool2'));
  assert.equal(tool2.ino, tool.ino, 'hard link shares the inode');
  assert.equal(tool.nlink, 2);

  assert.deepEqual(lgetxattr(join(dir, 'bin/ping'), 'security.capability'), CAP);
  assert.equal(lgetxattr(join(dir, 'bin/ping'), 'user.note')?.toString(), 'hi');

  const sh = lstatSync(join(dir, 'bin/sh'));
  assert.ok(sh.isSymbolicLink());
  assert.equal(readlinkSync(join(dir, 'bin/sh')), '/bin/busybox');
  assert.deepEqual([sh.uid, sh.gid, sh.mtimeMs], [5, 6, 1_004_000]);

  const nul = lstatSync(join(dir, 'dev/null'));
  assert.ok(nul.isCharacterDevice());
  assert.equal(nul.rdev, (1 << 8) | 3);
  assert.equal(nul.mode & 0o7777, 0o666);
  const sda = lstatSync(join(dir, 'dev/sda'));
  assert.ok(sda.isBlockDevice());
  assert.equal(sda.rdev, (8 << 8) | 1);
  assert.equal(sda.gid, 6);
  const fifo = lstatSync(join(dir, 'run/fifo'));
  assert.ok(fifo.isFIFO());
  assert.equal(fifo.mode & 0o7777, 0o620);

  const tmp = lstatSync(join(dir, 'tmp'));
  assert.equal(tmp.mode & 0o7777, 0o1777);
  assert.equal(tmp.mtimeMs, 1_006_000, 'directory mtime set after its content');
  assert.equal(lstatSync(join(dir, 'bin')).mtimeMs, 1_001_000);
  assert.equal(lstatSync(dir).mtimeMs, 1_000_000);
  const g = lstatSync(join(dir, 'srv/g'));
  assert.deepEqual([g.mode & 0o7777, g.uid, g.gid], [0o2775, 7, 8]);
  assert.equal(lstatSync(join(dir, 'srv')).mode & 0o7777, 0o755, 'implicit parents are 0755');
});

test('whiteouts become char 0/0 devices and opaque markers an xattr', async (t) => {
  const dir = tempDir(t);
  const tar = await makeTar([
    { name: 'etc/', type: 'dir' },
    { name: 'etc/.wh.passwd', type: 'file', body: '' },
    { name: 'opt/', type: 'dir' },
    { name: 'opt/.wh..wh..opq', type: 'file', body: '' },
    { name: 'opt/new', type: 'file', body: 'n' },
    { name: '.wh..wh.plnk', type: 'dir' },
  ]);
  await applyLayer(streamOf(tar), dir);
  const wh = lstatSync(join(dir, 'etc/passwd'));
  assert.ok(wh.isCharacterDevice());
  assert.equal(wh.rdev, 0);
  assert.equal(lgetxattr(join(dir, 'opt'), 'trusted.overlay.opaque')?.toString(), 'y');
  assert.deepEqual(readdirSync(dir).sort(), ['etc', 'opt']);
  assert.deepEqual(readdirSync(join(dir, 'opt')), ['new']);
});

test('a whiteout and new content for the same name in one layer', async (t) => {
  const dir = tempDir(t);
  const tar = await makeTar([
    { name: 'a/', type: 'dir' },
    { name: 'a/new', type: 'file', body: 'n' },
    { name: '.wh.a', type: 'file', body: '' },       // after the dir: the dir stays, opaque
    { name: 'f', type: 'file', body: 'f' },
    { name: '.wh.f', type: 'file', body: '' },       // after the file: the file stays
    { name: '.wh.b', type: 'file', body: '' },
    { name: 'b/', type: 'dir' },                     // dir over this layer's whiteout: opaque
    { name: '.wh.c', type: 'file', body: '' },
    { name: 'c/inner', type: 'file', body: 'i' },    // implicit parent over a whiteout: opaque
  ]);
  await applyLayer(streamOf(tar), dir);
  for (const d of ['a', 'b', 'c']) {
    assert.ok(lstatSync(join(dir, d)).isDirectory(), d);
    assert.equal(lgetxattr(join(dir, d), 'trusted.overlay.opaque')?.toString(), 'y', d);
  }
  assert.equal(readFileSync(join(dir, 'a/new'), 'utf8'), 'n');
  assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'f');
  assert.equal(readFileSync(join(dir, 'c/inner'), 'utf8'), 'i');
});

test('later entries replace earlier ones; dir over dir merges', async (t) => {
  const dir = tempDir(t);
  const tar = await makeTar([
    { name: 'd/', type: 'dir', mode: 0o700 },
    { name: 'd/a', type: 'file', body: 'a' },
    { name: 'd/', type: 'dir', mode: 0o750 },
    { name: 'd/b', type: 'file', body: 'b' },
    { name: 'x/', type: 'dir' },
    { name: 'x/inner', type: 'file', body: 'i' },
    { name: 'x', type: 'file', body: 'now a file' },
    { name: 'f', type: 'file', body: 'first' },
    { name: 'f', type: 'symlink', linkname: 'x' },
  ]);
  await applyLayer(streamOf(tar), dir);
  assert.deepEqual(readdirSync(join(dir, 'd')).sort(), ['a', 'b']);
  assert.equal(lstatSync(join(dir, 'd')).mode & 0o7777, 0o750);
  assert.equal(readFileSync(join(dir, 'x'), 'utf8'), 'now a file');
  assert.equal(readlinkSync(join(dir, 'f')), 'x');
});

test('applyLayer honours an abort signal', async (t) => {
  const dir = tempDir(t);
  const tar = await makeTar([{ name: 'a', type: 'file', body: 'a' }]);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(applyLayer(streamOf(tar), dir, { signal: ac.signal }), { name: 'AbortError' });
});

/** buf in chunks of n bytes, the way a download arrives. */
const chunked = (buf: Buffer, n: number) => Readable.from(Array.from({ length: Math.ceil(buf.length / n) }, (_, i) => buf.subarray(i * n, (i + 1) * n)));
const zstdOf = (buf: Buffer) => execFileSync('zstd', ['-c', '-q'], { input: buf, maxBuffer: 64 << 20 });

test('applyLayer decompresses gzip and zstd layers and checks the diff ID over the whole stream', async (t) => {
  // Larger than one batch to the worker, in chunks that do not line up with batches; the
  // archive is followed by padding that the diff ID covers too.
  const big = randomBytes(3 * (1 << 20) + 12345);
  const tar = Buffer.concat([await makeTar([{ name: 'big', type: 'file', body: big }, { name: 'd/small', type: 'file', body: 'small' }]), Buffer.alloc(20 << 10)]);
  const diffId = sha256Digest(tar);
  const layers = { plain: tar, gzip: gzipSync(tar), zstd: zstdOf(tar) };
  // Twice, all at once: the shared buffers a finished extraction gave back carry the next ones.
  for (let round = 0; round < 2; round++) {
    await Promise.all(Object.entries(layers).map(async ([kind, blob]) => {
      const dir = tempDir(t);
      await applyLayer(chunked(blob, 65_000), dir, { diffId });
      assert.ok(readFileSync(join(dir, 'big')).equals(big), `${kind}: content`);
      assert.equal(readFileSync(join(dir, 'd/small'), 'utf8'), 'small');
    }));
  }
  for (const [kind, blob] of Object.entries(layers)) {
    const wrong = sha256Digest(tar.subarray(0, tar.length - 512)); // without the last padding block
    await assert.rejects(applyLayer(chunked(blob, 65_000), tempDir(t), { diffId: wrong }), (e: unknown) =>
      isBerthError(e, 'DataLoss') && (e as Error).message === `layer ${wrong}: digest mismatch: expected ${wrong} got ${diffId}`, kind);
  }
  const cut = layers.gzip.subarray(0, layers.gzip.length >> 1);
  await assert.rejects(applyLayer(chunked(cut, 65_000), tempDir(t), { diffId }), (e: unknown) => isBerthError(e, 'InvalidArgument') && /gzip stream/.test((e as Error).message));
});

test('an abort stops the worker mid-layer: the source is destroyed and no zstd process is left', async (t) => {
  const tar = await makeTar([{ name: 'big', type: 'file', body: randomBytes(4 << 20) }]);
  const blob = zstdOf(tar);
  const source = new PassThrough();
  source.write(blob.subarray(0, blob.length >> 1)); // and then nothing more: the download stalls
  const ac = new AbortController();
  const applying = applyLayer(source, tempDir(t), { signal: ac.signal, diffId: sha256Digest(tar) });
  const zstdChildren = () => spawnSync('pgrep', ['-P', String(process.pid), '-x', 'zstd']).stdout.toString().trim();
  for (let i = 0; i < 100 && zstdChildren() === ''; i++) await delay(20);
  assert.notEqual(zstdChildren(), '', 'zstd started on the worker');
  ac.abort();
  await assert.rejects(applying, { name: 'AbortError' });
  assert.ok(source.destroyed, 'the source stream is destroyed');
  for (let i = 0; i < 100 && zstdChildren() !== ''; i++) await delay(20);
  assert.equal(zstdChildren(), '', 'no zstd process left');
});

/** A file being written: blob goes in from `from` in pieces of n bytes, each one told to its reader. */
function growingFile(t: { after: (fn: () => void) => void }, blob: Buffer, from: number) {
  const path = join(tempDir(t), 'layer');
  const w = openSync(path, 'wx');
  t.after(() => closeSync(w));
  writeSync(w, blob, 0, from, 0);
  const file = new LayerFile(openSync(path, 'r'), from, false);
  t.after(() => file.destroy());
  let at = from;
  return {
    file,
    async write(upTo: number, n: number): Promise<void> {
      for (; at < upTo; await delay(1)) {
        at += writeSync(w, blob, at, Math.min(n, upTo - at), at);
        file.grow(at);
      }
    },
  };
}

test('applyLayer follows a layer file while it is written, and fails with its writer', async (t) => {
  const big = randomBytes(3 * (1 << 20) + 12345);
  const tar = Buffer.concat([await makeTar([{ name: 'big', type: 'file', body: big }, { name: 'd/small', type: 'file', body: 'small' }]), Buffer.alloc(20 << 10)]);
  const diffId = sha256Digest(tar);
  for (const [kind, blob] of Object.entries({ plain: tar, gzip: gzipSync(tar), zstd: zstdOf(tar) })) {
    // Written while the worker reads it: it waits at the end of what is there until the file is complete.
    const g = growingFile(t, blob, 1000);
    const dir = tempDir(t);
    const applying = applyLayer(g.file, dir, { diffId });
    await g.write(blob.length, 100_000);
    await delay(50);
    g.file.end();
    assert.deepEqual(await applying, { size: big.length + 5 }, kind);
    assert.ok(readFileSync(join(dir, 'big')).equals(big), `${kind}: content`);
    assert.equal(readFileSync(join(dir, 'd/small'), 'utf8'), 'small');
  }

  const blob = gzipSync(tar);
  // The writer fails halfway: so does the extraction, with its error.
  const broken = growingFile(t, blob, 0);
  const failing = applyLayer(broken.file, tempDir(t), { diffId });
  await broken.write(blob.length >> 1, 100_000);
  broken.file.fail(new Error('the download broke'));
  await assert.rejects(failing, { message: 'the download broke' });
  // A file whose writer failed before is not read at all.
  await assert.rejects(applyLayer(broken.file, tempDir(t), { diffId }), { message: 'the download broke' });

  // An abort stops one that waits for bytes that do not come.
  const stalled = growingFile(t, blob, blob.length >> 1);
  const ac = new AbortController();
  const waiting = applyLayer(stalled.file, tempDir(t), { diffId, signal: ac.signal });
  await delay(100);
  ac.abort();
  await assert.rejects(waiting, { name: 'AbortError' });

  // A complete file (a stored blob) that is cut short.
  const cutPath = join(tempDir(t), 'cut');
  writeFileSync(cutPath, blob.subarray(0, blob.length >> 1));
  const cut = LayerFile.open(cutPath);
  t.after(() => cut.destroy());
  await assert.rejects(applyLayer(cut, tempDir(t), { diffId }), (e: unknown) => isBerthError(e, 'InvalidArgument') && /gzip stream/.test((e as Error).message));
});

// ---------------------------------------------------------------------------------------
// The hostile corpus. Each archive is applied onto <tmp>/target next to <tmp>/sentinel; it
// must either be rejected with a clear error or land inside target, and nothing outside
// target may change.

function rawHeader(name: string, flag: string, size: number, opts: { badChecksum?: boolean } = {}): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 8, 'latin1');
  h.write('0000000\0', 108, 8, 'latin1');
  h.write('0000000\0', 116, 8, 'latin1');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 12, 'latin1');
  h.write('00000000000\0', 136, 12, 'latin1');
  h.write(flag, 156, 1, 'latin1');
  h.write('ustar\x0000', 257, 8, 'latin1');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  if (opts.badChecksum) sum += 1;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

test('hostile archives never touch anything outside the target', async (t) => {
  const tmp = realpathSync(tempDir(t, 'berth-hostile-'));
  const target = join(tmp, 'target');
  const sentinel = join(tmp, 'sentinel');
  const etcMarker = `/etc/berth-hostile-${process.pid}`;
  t.after(() => rmSync(etcMarker, { force: true }));

  const reset = () => {
    rmSync(target, { recursive: true, force: true });
    rmSync(sentinel, { recursive: true, force: true });
    mkdirSync(target);
    mkdirSync(join(sentinel, 'sub'), { recursive: true });
    writeFileSync(join(sentinel, 'secret'), 'do not touch');
    writeFileSync(join(sentinel, 'sub', 'file'), 'nested');
  };

  type Case = { name: string; specs?: Spec[]; raw?: () => Promise<Buffer>; reject?: RegExp; check?: () => void };
  const cases: Case[] = [
    { name: 'dot-dot name', specs: [{ name: '../sentinel/secret', type: 'file', body: 'pwned' }], reject: /escapes the target/ },
    { name: 'deep dot-dot name', specs: [{ name: 'a/../../sentinel/secret', type: 'file', body: 'pwned' }], reject: /escapes the target/ },
    { name: 'dot-dot directory', specs: [{ name: '../sentinel/new/', type: 'dir' }], reject: /escapes the target/ },
    {
      name: 'absolute name lands inside',
      specs: [{ name: `${sentinel}/secret`, type: 'file', body: 'inside' }],
      check: () => assert.equal(readFileSync(join(target, sentinel, 'secret'), 'utf8'), 'inside'),
    },
    {
      name: 'write through an absolute symlink',
      specs: [{ name: 'a', type: 'symlink', linkname: sentinel }, { name: 'a/secret', type: 'file', body: 'pwned' }],
      check: () => {
        assert.equal(readlinkSync(join(target, 'a')), sentinel);
        assert.equal(readFileSync(join(target, sentinel, 'secret'), 'utf8'), 'pwned');
      },
    },
    {
      name: 'write through a relative symlink climbing out',
      specs: [{ name: 'a', type: 'symlink', linkname: '../../../../sentinel' }, { name: 'a/secret', type: 'file', body: 'pwned' }],
      check: () => assert.equal(readFileSync(join(target, 'sentinel', 'secret'), 'utf8'), 'pwned'),
    },
    {
      name: 'write through a symlink to /etc',
      specs: [{ name: 'hostetc', type: 'symlink', linkname: '/etc' }, { name: `hostetc/${etcMarker.slice(5)}`, type: 'file', body: 'pwned' }],
      check: () => {
        assert.equal(existsSync(etcMarker), false);
        assert.equal(readFileSync(join(target, etcMarker), 'utf8'), 'pwned');
      },
    },
    {
      name: 'symlink to /etc named etc is a loop inside the target',
      specs: [{ name: 'etc', type: 'symlink', linkname: '/etc' }, { name: `etc/${etcMarker.slice(5)}`, type: 'file', body: 'pwned' }],
      reject: /too many levels/,
    },
    {
      name: 'symlink parent chain with absolute targets',
      specs: [
        { name: 'l1', type: 'symlink', linkname: '/l2/..' },
        { name: 'l2', type: 'symlink', linkname: `/../..${sentinel}/sub` },
        { name: 'l1/l2/file', type: 'file', body: 'pwned' },
      ],
      // l1 = /l2/.. = <sentinel>/sub/.. = <sentinel> inside the target; then its own l2.
      check: () => assert.equal(readFileSync(join(target, sentinel, 'l2', 'file'), 'utf8'), 'pwned'),
    },
    {
      name: 'symlink-to-dir swap',
      specs: [
        { name: 'd/', type: 'dir' },
        { name: 'd/keep', type: 'file', body: 'k' },
        { name: 'd', type: 'symlink', linkname: sentinel },
        { name: 'd/secret', type: 'file', body: 'pwned' },
        { name: 'd/sub/', type: 'dir', mode: 0o777 },
      ],
      check: () => assert.equal(readFileSync(join(target, sentinel, 'secret'), 'utf8'), 'pwned'),
    },
    {
      name: 'file replacing a symlink to the outside',
      specs: [{ name: 'f', type: 'symlink', linkname: join(sentinel, 'secret') }, { name: 'f', type: 'file', body: 'pwned', mode: 0o777 }],
      check: () => assert.ok(lstatSync(join(target, 'f')).isFile()),
    },
    {
      name: 'directory metadata through a final symlink',
      specs: [{ name: 'f', type: 'symlink', linkname: sentinel }, { name: 'f/', type: 'dir', mode: 0o777, uid: 99 }],
      check: () => assert.ok(lstatSync(join(target, 'f')).isDirectory()),
    },
    { name: 'hard link to the outside', specs: [{ name: 'h', type: 'hardlink', linkname: '../sentinel/secret' }], reject: /escapes the target/ },
    {
      name: 'hard link through an absolute symlink',
      specs: [{ name: 'a', type: 'symlink', linkname: sentinel }, { name: 'h', type: 'hardlink', linkname: 'a/secret' }],
      reject: /points to missing/,
    },
    {
      name: 'hard link to a symlink pointing outside, then written',
      specs: [
        { name: 's', type: 'symlink', linkname: join(sentinel, 'secret') },
        { name: 'h', type: 'hardlink', linkname: 's' },
        { name: 'h', type: 'file', body: 'pwned' },
      ],
      check: () => assert.equal(readFileSync(join(target, 'h'), 'utf8'), 'pwned'),
    },
    {
      name: 'whiteout through a symlink',
      specs: [{ name: 'w', type: 'symlink', linkname: sentinel }, { name: 'w/.wh.secret', type: 'file', body: '' }],
      check: () => assert.ok(lstatSync(join(target, sentinel, 'secret')).isCharacterDevice()),
    },
    {
      name: 'opaque marker through a symlink',
      specs: [{ name: 'o', type: 'symlink', linkname: sentinel }, { name: 'o/.wh..wh..opq', type: 'file', body: '' }],
      check: () => assert.equal(lgetxattr(join(target, sentinel), 'trusted.overlay.opaque')?.toString(), 'y'),
    },
    { name: 'whiteout of dot-dot', specs: [{ name: '.wh..', type: 'file', body: '' }], reject: /bad whiteout/ },
    {
      name: 'symlink loop',
      specs: [{ name: 'l1', type: 'symlink', linkname: 'l2' }, { name: 'l2', type: 'symlink', linkname: 'l1' }, { name: 'l1/x', type: 'file', body: '' }],
      reject: /too many levels/,
    },
    { name: 'root replaced by a symlink', specs: [{ name: './', type: 'symlink', linkname: sentinel }], reject: /replaces the root/ },
    {
      name: 'device named like an outside path',
      specs: [{ name: '/../sentinel/secret', type: 'char', devmajor: 1, devminor: 3 }],
      reject: /escapes the target/,
    },
    {
      name: 'xattr trying to smuggle overlay metadata',
      specs: [{ name: 'x/', type: 'dir', xattrs: { 'trusted.overlay.redirect': Buffer.from('/sentinel') } }],
      check: () => assert.equal(lgetxattr(join(target, 'x'), 'trusted.overlay.redirect'), null),
    },
    {
      name: 'oversized PAX header',
      raw: async () => Buffer.concat([rawHeader('PaxHeaders/x', 'x', 64 * 1024 * 1024), Buffer.alloc(8192)]),
      reject: /too large/,
    },
    {
      name: 'oversized GNU long name',
      raw: async () => Buffer.concat([rawHeader('././@LongLink', 'L', 2 * 1024 * 1024), Buffer.alloc(8192)]),
      reject: /too large/,
    },
    {
      name: 'truncated archive',
      raw: async () => (await makeTar([{ name: 'big', type: 'file', body: Buffer.alloc(10_000, 1) }])).subarray(0, 4096),
      reject: /truncated/,
    },
    {
      name: 'bad checksum',
      raw: async () => Buffer.concat([rawHeader('../sentinel/secret', '0', 0, { badChecksum: true }), Buffer.alloc(1024)]),
      reject: /checksum/,
    },
    {
      name: 'malformed PAX record',
      raw: async () => {
        const rec = Buffer.from('999 path=../x\n');
        return Buffer.concat([rawHeader('PaxHeaders/x', 'x', rec.length), rec, Buffer.alloc(512 - rec.length), rawHeader('x', '0', 0), Buffer.alloc(1024)]);
      },
      reject: /malformed PAX/,
    },
  ];

  for (const c of cases) {
    reset();
    const before = treeDigest(tmp, (p) => p === target);
    const tar = c.raw ? await c.raw() : await makeTar(c.specs!);
    const applying = applyLayer(Readable.from([tar]), target);
    if (c.reject) {
      await assert.rejects(applying, (e: unknown) => {
        assert.ok(isBerthError(e, 'InvalidArgument'), `${c.name}: want InvalidArgument, got ${String(e)}`);
        assert.match((e as Error).message, c.reject!, c.name);
        return true;
      }, c.name);
    } else {
      await applying;
      c.check?.();
    }
    const after = treeDigest(tmp, (p) => p === target);
    assert.deepEqual(after, before, `${c.name}: something outside the target changed`);
    assert.equal(existsSync(etcMarker), false, c.name);
  }
});
