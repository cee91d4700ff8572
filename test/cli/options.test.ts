// Parsers of docker-style option values: sizes and memory, CPUs, tmpfs, env (and
// env files), ulimits, times and labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBytes, parseCpus, parseEnv, parseLabels, parseMemory, parseTime, parseTmpfs, parseUlimit } from '../../src/cli/options.js';

const invalid = (message: RegExp) => ({ code: 'InvalidArgument', message });
const MiB = 1024 * 1024;

test('sizes and --memory: binary units, the 6MB minimum', () => {
  assert.equal(parseBytes('100000', '--x'), 100000);
  assert.equal(parseBytes('512m', '--x'), 512 * MiB);
  assert.equal(parseBytes('1g', '--x'), 1024 * MiB);
  assert.equal(parseBytes('1.5GiB', '--x'), 1.5 * 1024 * MiB);
  assert.equal(parseBytes('64K', '--x'), 64 * 1024);
  assert.equal(parseBytes(' 2mb ', '--x'), 2 * MiB);
  assert.equal(parseBytes('10b', '--x'), 10);
  for (const bad of ['', 'm', '1x', '-1m', '1 g b', '1.m'])
    assert.throws(() => parseBytes(bad, '--shm-size'), invalid(/for --shm-size: expected a number with an optional unit/), bad);
  assert.equal(parseMemory('6m'), 6 * MiB);
  assert.equal(parseMemory('1g'), 1024 * MiB);
  assert.throws(() => parseMemory('4m'), invalid(/minimum is 6MB/));
  assert.throws(() => parseMemory('lots'), invalid(/invalid size "lots" for --memory/));
});

test('--cpus: positive, at most the CPUs there are', () => {
  assert.equal(parseCpus('1.5'), 1.5);
  assert.equal(parseCpus('.5'), 0.5);
  assert.equal(parseCpus(String(availableParallelism())), availableParallelism());
  for (const bad of ['0', '-1', 'abc', '', '1e0', '0x1']) assert.throws(() => parseCpus(bad), invalid(/expected a positive number/), bad);
  assert.throws(() => parseCpus(String(availableParallelism() + 1)), invalid(/range of CPUs is from 0.01 to \d+\.00/));
});

test('--tmpfs PATH[:OPTS] (-v and --mount: test/volume/parse.test.ts)', () => {
  assert.deepEqual(parseTmpfs('/run'), { type: 'tmpfs', destination: '/run', options: [] });
  assert.deepEqual(parseTmpfs('/run:size=64m,,mode=1777'), { type: 'tmpfs', destination: '/run', options: ['size=64m', 'mode=1777'] });
  assert.throws(() => parseTmpfs('run:size=1m'), invalid(/the container path must be absolute/));
});

test('-e and --env-file: KEY=VALUE, a bare KEY from berth\'s environment, comments in files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-env-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'env');
  await writeFile(file, '# comment\n\nFROM_FILE=1\n  SPACED=a b  \nBERTH_TEST_SET\n');
  process.env.BERTH_TEST_SET = 'from-env';
  delete process.env.BERTH_TEST_UNSET;
  try {
    assert.deepEqual(parseEnv(['A=1', 'B=', 'C=x=y', 'BERTH_TEST_SET', 'BERTH_TEST_UNSET'], [file]), [
      'FROM_FILE=1', 'SPACED=a b', 'BERTH_TEST_SET=from-env', 'A=1', 'B=', 'C=x=y', 'BERTH_TEST_SET=from-env',
    ]);
  } finally {
    delete process.env.BERTH_TEST_SET;
  }
  assert.throws(() => parseEnv(['=x'], []), invalid(/invalid environment variable "=x"$/));
  assert.throws(() => parseEnv([''], []), invalid(/invalid environment variable ""/));
  await writeFile(file, 'OK=1\n=bad\n');
  assert.throws(() => parseEnv([], [file]), invalid(new RegExp(`invalid environment variable "=bad" in ${file}`)));
  assert.throws(() => parseEnv([], [join(dir, 'missing')]), invalid(/cannot read env file/));
});

test('--ulimit NAME=SOFT[:HARD]', () => {
  assert.deepEqual(parseUlimit('nofile=1024:2048'), { type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 });
  assert.deepEqual(parseUlimit('nproc=64'), { type: 'RLIMIT_NPROC', soft: 64, hard: 64 });
  assert.deepEqual(parseUlimit('core=-1'), { type: 'RLIMIT_CORE', soft: -1, hard: -1 });
  assert.throws(() => parseUlimit('nofile=2048:1024'), invalid(/soft limit exceeds hard limit/));
  for (const bad of ['nofile', 'nofile=', 'NOFILE=1', 'nofile=1:2:3', 'nofile=x']) assert.throws(() => parseUlimit(bad), invalid(/expected NAME=SOFT\[:HARD\]/), bad);
});

test('--since/--until: Unix seconds, durations back from now, RFC 3339', () => {
  const now = Date.parse('2026-01-02T03:04:05Z');
  assert.equal(parseTime('1700000000', '--since', now).getTime(), 1700000000_000);
  assert.equal(parseTime('1.5', '--since', now).getTime(), 1500);
  assert.equal(parseTime('10m', '--since', now).getTime(), now - 600_000);
  assert.equal(parseTime('1h30m', '--since', now).getTime(), now - 5_400_000);
  assert.equal(parseTime('2.5s', '--since', now).getTime(), now - 2500);
  assert.equal(parseTime('2024-05-06T07:08:09Z', '--until', now).toISOString(), '2024-05-06T07:08:09.000Z');
  assert.equal(parseTime('2024-05-06T07:08:09+02:00', '--until', now).toISOString(), '2024-05-06T05:08:09.000Z');
  for (const bad of ['', 'soon', '10x', 'm10']) assert.throws(() => parseTime(bad, '--since', now), invalid(/for --since: expected a timestamp/), bad);
});

test('--label k=v, a bare k, = inside values', () => {
  assert.deepEqual(parseLabels(['a=b', 'c', 'd=e=f', 'a=again', 'empty=']), { a: 'again', c: '', d: 'e=f', empty: '' });
  assert.throws(() => parseLabels(['=v']), invalid(/invalid label "=v"/));
});
