// The command table and start-up: each command file is declared with the names its
// commands take (a command line loads only its file), and quick commands start without
// the node modules they have no use for (start-up time is a benchmarked figure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { allCommands, commandFileNames, topCommand } from '../../src/cli/commands.js';
import { newInstance } from '../helpers/index.js';

test('each command file declares exactly the top-level names its commands take, each name once', async () => {
  const files = await commandFileNames();
  for (const { declared, loaded } of files) assert.deepEqual([...declared].sort(), [...loaded].sort());
  const names = files.flatMap((f) => f.declared);
  assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), []);
  // Aliases find their command; unknown names find nothing.
  assert.equal((await topCommand('list'))?.name, 'ps');
  assert.equal(await topCommand('nope'), undefined);
  assert.ok((await allCommands()).some((c) => c.name === 'container' && c.subcommands?.some((s) => s.name === 'cleanup')));
});

test('quick commands load none of the node modules they do not use', async (t) => {
  const inst = await newInstance(t);
  const image = await inst.importBusybox();
  const made = await inst.run(['run', '--name', 'talker', '--network', 'none', image, 'echo', 'hello']);
  assert.equal(made.code, 0, made.stderr);
  // A module node preloads (NODE_OPTIONS reaches the node of bin/berth) that lists, at exit,
  // node's own modules the process loaded.
  const list = join(inst.base, 'modules.txt');
  const preload = join(inst.base, 'modules.cjs');
  writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')));\n`);
  const unused = ['child_process', 'v8', 'worker_threads', 'zlib', 'crypto', 'net', 'stream', 'fs/promises', 'module', 'http', 'tls'];
  for (const args of [['images'], ['ps', '-a'], ['inspect', 'talker'], ['inspect', image], ['logs', 'talker'], ['--help']]) {
    const r = await inst.run(args, { env: { NODE_OPTIONS: `--require ${preload}` } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.length > 0);
    const loaded = new Set(readFileSync(list, 'utf8').split('\n').filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length)));
    assert.deepEqual(unused.filter((m) => loaded.has(m)), [], `${args.join(' ')} loaded them`);
  }
});

test('only the read-only quick commands start node without a random string hash seed', async (t) => {
  const inst = await newInstance(t);
  // bin/berth picks node's flags by command (scripts/build.mjs); a preload records them.
  const flags = join(inst.base, 'flags.json');
  const preload = join(inst.base, 'flags.cjs');
  writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(flags)}, JSON.stringify({ execArgv: process.execArgv, cache: process.env.BERTH_CODE_CACHE ?? null })));\n`);
  const started = async (args: string[]) => {
    await inst.run(args, { env: { NODE_OPTIONS: `--require ${preload}` } });
    return JSON.parse(readFileSync(flags, 'utf8')) as { execArgv: string[]; cache: string | null };
  };
  const quick = [['images'], ['ps', '-a'], ['inspect', 'nothing'], ['logs', 'nothing'], ['version'], ['--log-level', 'error', 'images'], ['container', 'inspect', 'nothing']];
  const others = [['pull', 'no/such:image'], ['load', '-i', '/nonexistent.tar'], ['run', '--rm'], ['--help'], ['container', 'ls'], ['image', 'rm', 'nothing'], ['--root', inst.root, 'volume', 'ls']];
  for (const args of quick) {
    const s = await started(args);
    assert.ok(s.execArgv.includes('--no-rehash-snapshot'), `${args.join(' ')}: ${s.execArgv}`);
    // The launcher's choice of code cache stays with it: no child sees it.
    assert.equal(s.cache, null);
  }
  for (const args of others) assert.ok(!(await started(args)).execArgv.includes('--no-rehash-snapshot'), args.join(' '));
});
