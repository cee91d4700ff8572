// Builds the native addon and bundles the CLI into one file, build/berth.cjs, started by
// the launcher bin/berth from V8's code cache (start-up time is a benchmarked figure: one
// file to read, nothing to compile, heavy modules loaded lazily).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';

mkdirSync('build', { recursive: true });
execFileSync('gcc', [
  '-O2', '-Wall', '-Werror', '-shared', '-fPIC', '-DNODE_GYP_MODULE_NAME=berth_sys',
  '-I/usr/include/node', 'src/sys/native/berth_sys.c', '-o', 'build/berth_sys.node',
], { stdio: 'inherit' });

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'build/berth.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  banner: { js: 'const __importMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': '__importMetaUrl' },
  logLevel: 'warning',
});

// berthd (and `berth daemon`, which require()s it): its own bundle, so the CLI's carries no
// gRPC. proto/api.proto is read at start, found above the bundle (findInstalled).
await build({
  entryPoints: ['src/daemon/index.ts'],
  outfile: 'build/berthd.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  banner: { js: 'const __importMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': '__importMetaUrl' },
  logLevel: 'warning',
});

// Snapshot work runs on worker threads started from a file beside the bundle (see
// src/snapshot/worker.ts): an ES module, like the package.
await build({
  entryPoints: ['src/snapshot/extract-worker.ts'],
  outfile: 'build/extract-worker.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
});

// The launcher runs the bundle through vm.Script, which has no loader for import(): every
// module must be bundled or required (a node: builtin imported dynamically stays import()).
let bundled = readFileSync('build/berth.cjs', 'utf8');
// An ASCII bundle is a one-byte string in V8: half the memory, read as latin1 without
// decoding, hashed against the code cache in half the time. esbuild escapes non-ASCII in
// code (its default charset); what is left is in comments it keeps (on class fields).
if (/[^\x00-\x7f]/.test(bundled)) {
  bundled = bundled.replace(/[^\x00-\x7f]/g, '?');
  writeFileSync('build/berth.cjs', bundled);
}
const dynamic = bundled.match(/\bimport\((["'`])[^"'`]*\1\)/g);
if (dynamic) throw new Error(`build/berth.cjs has dynamic imports the launcher cannot load: ${[...new Set(dynamic)].join(', ')}`);

// Commands that execute the container lifecycle (the launcher picks their code cache).
const RUNNERS = ['run', 'create', 'start', 'restart', 'exec', 'stop', 'kill', 'rm', 'wait', 'attach', 'cleanup'];

// The node that built berth runs it. NODE_EXTRA_CA_CERTS is dropped: with it set, node
// parses the whole certificate bundle at start-up (~60 ms here) for every command, and
// berth's own TLS client loads the system CAs itself, only when it talks to a registry.
// "--" ends node's own options: node 20 would otherwise act on a user's --env-file.
const launcher = `#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS ${process.execPath} --
'use strict';
// Runs build/berth.cjs from V8's code cache (made at build time): parsing and compiling the
// bundle would otherwise cost every command several ms. Commands that run containers
// execute much of the bundle and take the cache of all of it (berth.cjs.full.cache); the
// others the smaller cache of what start-up runs (berth.cjs.cache), quicker to load.
const { readFileSync, writeFileSync } = require('node:fs');
const { Script } = require('node:vm');
const { join } = require('node:path');
const file = join(__dirname, '..', 'build', 'berth.cjs');
const RUNNERS = new Set(${JSON.stringify(RUNNERS)});
const cacheFile = file + (process.argv.slice(2).some((a) => RUNNERS.has(a)) ? '.full.cache' : '.cache');
let cachedData;
try { cachedData = readFileSync(cacheFile); } catch {}
// The bundle is ASCII (scripts/build.mjs): latin1 reads it without decoding.
const script = new Script('(function (exports, require, module, __filename, __dirname) {' + readFileSync(file, 'latin1') + '\\n})', { filename: file, cachedData });
if (process.env.BERTH_WRITE_CODE_CACHE) process.once('exit', () => writeFileSync(cacheFile, script.createCachedData()));
script.runInThisContext()(module.exports, require, module, file, join(__dirname, '..', 'build'));
`;
writeFileSync('bin/berth', launcher);
chmodSync('bin/berth', 0o755);

// V8's young generation may grow to 2 × 16 MiB, which a long-running daemon keeps resident:
// 1 MiB semi-spaces held berthd's RSS with 100 containers at about 85 MiB instead of 107,
// for more frequent (sub-millisecond) scavenges and earlier promotion of what survives them.
// glibc gives each thread that allocates (libuv's pool, V8's platform threads, snapshot
// workers) an arena of its own, whose freed pages stay resident; two arenas for the whole
// process took berthd with 100 containers from 92 to 83 MiB (bench/cri).
writeFileSync('bin/berthd', `#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS MALLOC_ARENA_MAX=2 ${process.execPath} --max-semi-space-size=1 --
'use strict';
// berthd, the CRI daemon: build/berthd.cjs.
require('../build/berthd.cjs').runDaemon(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write('berthd: ' + (e && e.stack || e) + '\\n');
    process.exit(125);
  },
);
`);
chmodSync('bin/berthd', 0o755);

// The small cache holds what a command compiles as it runs: made with a command that
// touches the start-up path of every command.
rmSync('build/berth.cjs.cache', { force: true });
execFileSync('bin/berth', ['--help'], { env: { ...process.env, BERTH_WRITE_CODE_CACHE: '1' }, stdio: 'ignore' });

// The full cache holds every function, compiled eagerly here (the source exactly as the
// launcher builds it): with the small one, `run` spent about 8% of its CPU compiling its
// own path; loading the full one costs `ps` and `version` 2-6%. Flags are back to their
// defaults before the cache is made: V8 rejects a cache made under other flags.
const bundleFile = resolve('build/berth.cjs');
setFlagsFromString('--no-lazy');
const eager = new Script('(function (exports, require, module, __filename, __dirname) {' + readFileSync(bundleFile, 'latin1') + '\n})', { filename: bundleFile });
setFlagsFromString('--lazy');
writeFileSync('build/berth.cjs.full.cache', eager.createCachedData());
