import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createContainer, parseLogRecord, readExitCode, readLog, waitExitCode, wasOomKilled, type LogLine, type ReadLogOptions } from '../../src/monitor/index.js';
import { Sandbox, within } from './fixture.js';

const sb = new Sandbox();
after(() => sb.cleanup());

async function texts(path: string, o: ReadLogOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const l of readLog(path, o)) out.push(`${l.stream}:${l.text.toString()}`);
  return out;
}

const T = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}.123456789+00:00`;

test('records parse; partial records join with the next full one of the same stream', async () => {
  assert.deepEqual(parseLogRecord(Buffer.from(`${T(1)} stderr F a b `)), { time: T(1), stream: 'stderr', partial: false, text: Buffer.from('a b ') });
  assert.equal(parseLogRecord(Buffer.from('garbage')), undefined);
  assert.equal(parseLogRecord(Buffer.from(`${T(1)} stdin F x`)), undefined);
  const path = join(sb.dir, 'partial.log');
  writeFileSync(path, [`${T(1)} stdout P ab`, `${T(1)} stderr F err`, `${T(2)} stdout P cd`, `${T(3)} stdout F ef`, `${T(4)} stdout F `, ''].join('\n'));
  const lines: LogLine[] = [];
  for await (const l of readLog(path, {})) lines.push(l);
  assert.deepEqual(lines.map((l) => [l.time, l.stream, l.text.toString()]), [
    [T(1), 'stderr', 'err'],
    [T(1), 'stdout', 'abcdef'],
    [T(4), 'stdout', ''],
  ]);
});

test('tail, since and until', async () => {
  const path = join(sb.dir, 'tail.log');
  const recs: string[] = [];
  for (let i = 1; i <= 50; i++) {
    if (i % 10 === 0) recs.push(`${T(i)} stdout P half-`);
    recs.push(`${T(i)} stdout F line${i}`);
  }
  writeFileSync(path, recs.join('\n') + '\n' + `${T(51)} stdout F unfinished`);
  assert.deepEqual(await texts(path, { tail: 3 }), ['stdout:line48', 'stdout:line49', 'stdout:half-line50']);
  assert.deepEqual(await texts(path, { tail: 1 }), ['stdout:half-line50']);
  assert.deepEqual(await texts(path, { tail: 0 }), []);
  assert.equal((await texts(path, { tail: 1000 })).length, 50);
  assert.deepEqual(await texts(path, { since: new Date('2026-01-01T00:00:48.5Z') }), ['stdout:line49', 'stdout:half-line50']);
  assert.deepEqual(await texts(path, { since: new Date('2026-01-01T00:00:02Z'), until: new Date('2026-01-01T00:00:04Z') }), ['stdout:line2', 'stdout:line3']);
  // A big file read backwards in blocks.
  const big = join(sb.dir, 'big.log');
  const filler = 'x'.repeat(1000);
  writeFileSync(big, Array.from({ length: 500 }, (_, i) => `${T(1)} stdout F ${i} ${filler}`).join('\n') + '\n');
  const last = await texts(big, { tail: 2 });
  assert.deepEqual(last.map((t) => t.split(' ')[0]), ['stdout:498', 'stdout:499']);
  // The CLI's synchronous reads find the same lines.
  assert.deepEqual(await texts(path, { tail: 3, sync: true }), ['stdout:line48', 'stdout:line49', 'stdout:half-line50']);
  assert.deepEqual(await texts(path, { since: new Date('2026-01-01T00:00:02Z'), until: new Date('2026-01-01T00:00:04Z'), sync: true }), ['stdout:line2', 'stdout:line3']);
  assert.deepEqual(await texts(big, { tail: 2, sync: true }), last);
  assert.equal((await texts(big, { sync: true })).length, 500);
});

test('follow yields new lines, survives a rotation and ends when told the container exited', async () => {
  const path = join(sb.dir, 'follow.log');
  writeFileSync(path, `${T(1)} stdout F first\n`);
  let done!: () => void;
  const exited = new Promise<void>((r) => (done = r));
  const seen: string[] = [];
  const reading = (async () => {
    for await (const l of readLog(path, { follow: true, exited, signal: AbortSignal.timeout(10000) })) {
      seen.push(l.text.toString());
      if (seen.length === 1) appendFileSync(path, `${T(2)} stdout P sec\n`);
      if (seen.length === 2) {
        writeFileSync(path + '.tmp', `${T(4)} stdout F rotated\n`);
        renameSync(path + '.tmp', path);
      }
      if (seen.length === 3) {
        appendFileSync(path, `${T(5)} stdout F last\n`);
        done();
      }
    }
  })();
  setTimeout(() => appendFileSync(path, `${T(3)} stdout F ond\n`), 100);
  await within(reading, 10000, 'follow');
  assert.deepEqual(seen, ['first', 'second', 'rotated', 'last']);
});

test('follow on a real container ends when it exits; isRunning works too', async () => {
  const c = await sb.bundle({ args: ['/bin/sh', '-c', 'for i in 1 2 3 4 5; do echo tick $i; sleep 0.2; done; echo bye >&2'] });
  await createContainer(c.opts);
  const exitWait = waitExitCode(c.opts.exitDir, c.id, AbortSignal.timeout(15000));
  const following = texts(c.opts.logPath, { follow: true, exited: exitWait });
  const polling = texts(c.opts.logPath, { follow: true, isRunning: () => readExitCode(c.opts.exitDir, c.id) === undefined });
  await sb.runc('start', c.id);
  const want = ['stdout:tick 1', 'stdout:tick 2', 'stdout:tick 3', 'stdout:tick 4', 'stdout:tick 5', 'stderr:bye'];
  assert.deepEqual(await within(following, 15000, 'follow'), want);
  assert.deepEqual(await within(polling, 15000, 'follow with isRunning'), want);
  assert.deepEqual(await texts(c.opts.logPath, { tail: 2 }), want.slice(-2));
  assert.equal(wasOomKilled(c.opts.persistDir), false);
});
