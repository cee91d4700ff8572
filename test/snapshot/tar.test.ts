import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, symlinkSync, linkSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { readTar, TarWriter, type TarEntry } from '../../src/snapshot/index.js';
import { isBerthError } from '../../src/errors/index.js';

async function collect(input: Readable): Promise<{ entry: TarEntry; data: Buffer }[]> {
  const out: { entry: TarEntry; data: Buffer }[] = [];
  for await (const { entry, body } of readTar(input)) {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c as Buffer);
    out.push({ entry, data: Buffer.concat(parts) });
  }
  return out;
}

async function build(fn: (w: TarWriter) => Promise<void>): Promise<Buffer> {
  const pt = new PassThrough();
  const parts: Buffer[] = [];
  pt.on('data', (c: Buffer) => parts.push(c));
  const w = new TarWriter(pt);
  await fn(w);
  await w.finish({ end: true });
  return Buffer.concat(parts);
}

/** Feeds a buffer in small odd-sized chunks, so headers and bodies straddle chunk borders. */
function chunked(b: Buffer, size = 37): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) chunks.push(b.subarray(i, i + size));
  return Readable.from(chunks);
}

test('round trip: long names, PAX, xattrs, big ids, all types', async () => {
  const longDir = 'd'.repeat(120);
  const longName = `${longDir}/${'f'.repeat(150)}.txt`;
  const midName = `${'p'.repeat(90)}/${'n'.repeat(90)}`; // fits ustar prefix + name
  const bigBody = Buffer.alloc(300_000, 7);
  const tar = await build(async (w) => {
    await w.add({ name: 'dir', type: 'dir', mode: 0o1755, uid: 1000, gid: 1000, mtime: 1_600_000_000 });
    await w.add({ name: 'dir/file', type: 'file', mode: 0o4755, uid: 3_000_000, gid: 4_000_000, mtime: 1_600_000_001 }, Buffer.from('hello'));
    await w.add({ name: longName, type: 'file', xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0]), 'user.x': Buffer.from('a=b\nc') } }, Buffer.from('long'));
    await w.add({ name: midName, type: 'file', size: bigBody.length }, Readable.from([bigBody.subarray(0, 1000), bigBody.subarray(1000)]));
    await w.add({ name: 'link', type: 'symlink', linkname: 'x'.repeat(200) });
    await w.add({ name: 'hard', type: 'hardlink', linkname: 'dir/file' });
    await w.add({ name: 'null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 });
    await w.add({ name: 'sda', type: 'block', devmajor: 8, devminor: 0 });
    await w.add({ name: 'pipe', type: 'fifo' });
    await w.add({ name: 'frac', type: 'file', mtime: 1234.5 }, Buffer.alloc(0));
  });
  for (const input of [Readable.from([tar]), chunked(tar), chunked(tar, 511), chunked(tar, 513)]) {
    const got = await collect(input);
    assert.deepEqual(got.map((g) => g.entry.name), ['dir/', 'dir/file', longName, midName, 'link', 'hard', 'null', 'sda', 'pipe', 'frac']);
    const [dir, file, long, mid, link, hard, nul, sda, pipe, frac] = got;
    assert.equal(dir.entry.type, 'dir');
    assert.equal(dir.entry.mode, 0o1755);
    assert.equal(dir.entry.uid, 1000);
    assert.equal(dir.entry.mtime, 1_600_000_000);
    assert.equal(file.entry.mode, 0o4755);
    assert.equal(file.entry.uid, 3_000_000);
    assert.equal(file.entry.gid, 4_000_000);
    assert.equal(file.data.toString(), 'hello');
    assert.equal(long.data.toString(), 'long');
    assert.deepEqual(long.entry.xattrs['security.capability'], Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0]));
    assert.equal(long.entry.xattrs['user.x'].toString(), 'a=b\nc');
    assert.ok(mid.data.equals(bigBody));
    assert.equal(mid.entry.size, bigBody.length);
    assert.equal(link.entry.type, 'symlink');
    assert.equal(link.entry.linkname, 'x'.repeat(200));
    assert.equal(hard.entry.type, 'hardlink');
    assert.equal(hard.entry.linkname, 'dir/file');
    assert.deepEqual([nul.entry.type, nul.entry.devmajor, nul.entry.devminor, nul.entry.mode], ['char', 1, 3, 0o666]);
    assert.deepEqual([sda.entry.type, sda.entry.devmajor], ['block', 8]);
    assert.equal(pipe.entry.type, 'fifo');
    assert.equal(frac.entry.mtime, 1234.5);
  }
});

test('unconsumed bodies are skipped when iteration advances', async () => {
  const tar = await build(async (w) => {
    await w.add({ name: 'a', type: 'file' }, Buffer.alloc(100_000, 1));
    await w.add({ name: 'b', type: 'file' }, Buffer.from('bee'));
    await w.add({ name: 'c', type: 'file' }, Buffer.alloc(5000, 2));
  });
  const names: string[] = [];
  let bData = '';
  for await (const { entry, body } of readTar(chunked(tar, 1000))) {
    names.push(entry.name);
    if (entry.name === 'b') for await (const c of body) bData += c;
    if (entry.name === 'c') { body.read(); await new Promise((r) => setImmediate(r)); } // partially read
  }
  assert.deepEqual(names, ['a', 'b', 'c']);
  assert.equal(bData, 'bee');
});

test('reads archives written by GNU tar (gnu, oldgnu, posix, ustar)', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'berth-tar-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const src = join(tmp, 'src');
  const deep = join('a'.repeat(60), 'b'.repeat(60), 'c'.repeat(60));
  mkdirSync(join(src, deep), { recursive: true });
  const longFile = join(deep, 'x'.repeat(120));
  writeFileSync(join(src, longFile), 'content of a long-named file');
  writeFileSync(join(src, 'small'), Buffer.alloc(1025, 9));
  symlinkSync('small', join(src, 'sym'));
  linkSync(join(src, 'small'), join(src, 'hard'));
  const expected = ['./', './hard', './small', './sym', `./${'a'.repeat(60)}/`, `./${'a'.repeat(60)}/${'b'.repeat(60)}/`, `./${deep}/`, `./${longFile}`];
  for (const format of ['gnu', 'posix', 'ustar', 'oldgnu']) {
    if (format === 'ustar') continue; // the 120-byte file name does not fit ustar; tested below
    const file = join(tmp, `${format}.tar`);
    execFileSync('tar', [`--format=${format}`, '--sort=name', '-C', src, '-cf', file, '.']);
    const got = await collect(createReadStream(file));
    const names = got.map((g) => g.entry.name).sort();
    assert.deepEqual(names, [...expected].sort(), format);
    const byName = new Map(got.map((g) => [g.entry.name, g]));
    assert.equal(byName.get(`./${longFile}`)!.data.toString(), 'content of a long-named file');
    assert.equal(byName.get('./sym')!.entry.type, 'symlink');
    assert.equal(byName.get('./sym')!.entry.linkname, 'small');
    const hard = byName.get('./hard')!, small = byName.get('./small')!;
    // GNU tar stores the first name it meets as the file, the second as a link to it.
    const [fileEntry, linkEntry] = hard.entry.type === 'file' ? [hard, small] : [small, hard];
    assert.equal(linkEntry.entry.type, 'hardlink', format);
    assert.equal(fileEntry.data.length, 1025);
  }
  // ustar with a name that needs the prefix field.
  const file = join(tmp, 'ustar.tar');
  execFileSync('tar', ['--format=ustar', '--no-recursion', '-C', src, '-cf', file, `./${deep}`]);
  const got = await collect(createReadStream(file));
  assert.ok(got.some((g) => g.entry.name === `./${deep}/`));
});

test('corrupt archives are rejected with InvalidArgument', async () => {
  const good = await build(async (w) => { await w.add({ name: 'f', type: 'file' }, Buffer.alloc(2000, 1)); });
  const badSum = Buffer.from(good);
  badSum[0] ^= 1;
  const truncated = good.subarray(0, 1024);
  const halfHeader = good.subarray(0, 300);
  // An 'x' header claiming 2 MiB of records.
  const hugeHeader = await build(async (w) => { await w.add({ name: 'x', type: 'file', xattrs: { 'user.a': Buffer.alloc(10) } }, Buffer.alloc(0)); });
  const hdr = Buffer.from(hugeHeader.subarray(0, 512));
  hdr.write((2 * 1024 * 1024).toString(8).padStart(11, '0') + '\0', 124, 12, 'latin1');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : hdr[i];
  hdr.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  const oversized = Buffer.concat([hdr, Buffer.alloc(4096)]);
  for (const [what, b, re] of [
    ['bad checksum', badSum, /checksum/],
    ['truncated body', truncated, /truncated/],
    ['truncated header', halfHeader, /truncated/],
    ['oversized PAX', oversized, /too large/],
  ] as const) {
    await assert.rejects(collect(Readable.from([b])), (e: unknown) => isBerthError(e, 'InvalidArgument') && re.test((e as Error).message), what);
  }
});

test('writer honours backpressure of a slow consumer', async () => {
  const pt = new PassThrough({ highWaterMark: 1024 });
  const w = new TarWriter(pt);
  const big = Buffer.alloc(1024 * 1024, 3);
  const reading = collect(pt);
  await w.add({ name: 'big', type: 'file' }, big);
  await w.finish({ end: true });
  const got = await reading;
  assert.equal(got.length, 1);
  assert.ok(got[0].data.equals(big));
});
