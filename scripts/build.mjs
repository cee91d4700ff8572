// Builds the native addons and bundles the CLI into one file, build/berth.cjs, started by
// the launcher bin/berth from V8's code cache (start-up time is a benchmarked figure: one
// file mapped, nothing to compile, heavy modules loaded lazily).
import { build } from 'esbuild';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';

mkdirSync('build', { recursive: true });
// The addons: berth's system calls (Node-API, C), and the launcher's (V8's API, C++: node's
// own headers, which NodeSource's and the official builds ship in include/node).
const INCLUDE = '/usr/include/node';
const addon = (compiler, source, name, flags = []) =>
  execFileSync(compiler, ['-O2', '-Wall', '-Werror', '-shared', '-fPIC', ...flags, `-DNODE_GYP_MODULE_NAME=${name}`, `-I${INCLUDE}`, source, '-o', `build/${name}.node`], { stdio: 'inherit' });
addon('gcc', 'src/sys/native/berth_sys.c', 'berth_sys');
if (!existsSync(join(INCLUDE, 'v8.h'))) throw new Error(`build: node's C++ headers are missing (${INCLUDE}/v8.h): scripts/install-deps.sh says where they come from`);
addon('g++', 'src/launch/launch.cc', 'launch', ['-std=c++17']);

// The launcher maps the CLI's bundle and code caches (src/launch/launch.cc): they are replaced,
// never written in place, so a running command keeps the files it mapped.
const replaceFile = (path, data, mode = 0o644) => {
  writeFileSync(path + '.tmp', data);
  chmodSync(path + '.tmp', mode);
  renameSync(path + '.tmp', path);
};

const cli = await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'build/berth.cjs',
  write: false,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // import.meta as a CommonJS module has it, the URL made only when asked for (making it
  // cost every command 0.3 ms); __lazyRequire: see below.
  banner: {
    js: 'const __importMeta = { get url() { return require("node:url").pathToFileURL(__filename).href; } };\n' +
      'const __lazyRequire = (id) => { let m; return new Proxy({}, { get: (_, key) => (m ??= require(id))[key] }); };',
  },
  define: { 'import.meta.url': '__importMeta.url', 'import.meta.dirname': '__dirname' },
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
  define: { 'import.meta.url': '__importMetaUrl', 'import.meta.dirname': '__dirname' },
  logLevel: 'warning',
});

// An ASCII bundle is a one-byte string in V8: half the memory, and (the CLI's) read as latin1
// without decoding, hashed against the code cache in half the time. esbuild escapes
// non-ASCII in code (its default charset); what is left is in comments it keeps.
const asciiOnly = (text) => text.replace(/[^\x00-\x7f]/g, '?');
writeFileSync('build/berthd.cjs', asciiOnly(readFileSync('build/berthd.cjs', 'utf8')));

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

// The launcher compiles the bundle as a plain script, which has no loader for import(): every
// module must be bundled or required (a node: builtin imported dynamically stays import()).
let bundled = asciiOnly(cli.outputFiles[0].text);
// Node's own modules load when the bundle first reads one of their exports, not when a
// module that imports them initialises: what `berth images` imports and never calls
// (streams, fs/promises, os, child_process, v8, zlib, worker_threads ...) cost it several
// ms. esbuild turns a named import into `x = require("node:m");` and reads x.name where it
// is used; such a require becomes __lazyRequire. Namespace and default imports
// (__toESM(require(...))) copy every export and stay as they are, and so do the modules
// node has loaded before berth starts (nothing to gain, and fs and path are called often).
const LOADED_BY_NODE = new Set(['node:fs', 'node:path', 'node:url', 'node:util', 'node:events']);
let deferred = 0;
bundled = bundled.replace(/\brequire\(("node:[a-z0-9_/]+")\);/g, (req, id) => (LOADED_BY_NODE.has(JSON.parse(id)) ? req : (deferred++, `__lazyRequire(${id});`)));
if (deferred === 0) throw new Error('build/berth.cjs: no require("node:...") to defer; has the output of esbuild changed?');
// The launcher compiles the file as it is, and its value is a function of a CommonJS
// module's arguments (adding that wrapper at start-up had V8 copy the whole source again,
// about 1 ms). Loaded by node as a module (berthd's exit hook runs it so), it calls itself.
bundled = `var __berthBundle = (function (exports, require, module, __filename, __dirname) {${bundled}\n});\n` +
  'typeof module === "object" ? __berthBundle(exports, require, module, __filename, __dirname) : __berthBundle;\n';
replaceFile('build/berth.cjs', bundled);
const dynamic = bundled.match(/\bimport\((["'`])[^"'`]*\1\)/g);
if (dynamic) throw new Error(`build/berth.cjs has dynamic imports the launcher cannot load: ${[...new Set(dynamic)].join(', ')}`);

// Commands that execute the container lifecycle (the launcher picks their code cache).
const RUNNERS = ['run', 'create', 'start', 'restart', 'exec', 'stop', 'kill', 'rm', 'wait', 'attach', 'cleanup'];
// Quick commands users type most, each with a cache of what it alone runs (berth.cjs.<cmd>.cache):
// smaller than the shared one (help and the other commands), so loaded sooner. inspect and
// logs name the build's sample container (below): where it could not be made, its not-found path.
const QUICK = { ps: ['ps', '-a'], images: ['images'], inspect: ['inspect', 'sample'], logs: ['logs', 'sample'], version: ['version'] };
// Global options that take a value (src/cli/main.ts): the launcher skips them to find the command.
const VALUED = ['--root', '--runroot', '--config-dir', '--namespace', '--runtime', '--log-level', '--log-format'];

// bin/berth is a small static program (src/launch/berth.c) that finds the command (in the
// container and image groups, the subcommand) and starts node with its flags and code cache:
// - NODE_EXTRA_CA_CERTS is dropped: with it set, node parses the whole certificate bundle at
//   start-up (~60 ms here) for every command, and berth's own TLS client loads the system
//   CAs itself, only when it talks to a registry.
// - Two glibc arenas for the whole process, as berthd's (below): a pull's peak RSS 94 -> 90 MB.
// - The quick commands run with --no-rehash-snapshot: V8 then keeps the string hash seed of
//   its snapshot instead of drawing a new one (a search for primes) and rehashing the
//   snapshot's tables: about 5 ms, an eighth of node's own start-up here. A known seed lets
//   crafted keys collide (hash flooding), so only these read-only commands, which read
//   berth's own store and no registry, tarball or socket, go without it (an image config
//   crafted so would slow down its `inspect`, nothing else); every other command and
//   berthd keep a random seed. The launcher's addon sets the flag back once node has
//   started (src/launch/launch.cc), so that V8 takes node's and berth's code caches.
// - "--" ends node's own options: node 20 would otherwise act on a user's --env-file.
// The node that built berth runs it. The build's own path is compiled in (bin/berth may be
// a symlink), and looked up from /proc/self/exe only when the checkout has moved since.
const cString = (s) => JSON.stringify(s); // ASCII paths and names: a JSON string is a C string
execFileSync('gcc', [
  '-O2', '-Wall', '-Werror', '-static',
  `-DBERTH_NODE=${cString(process.execPath)}`, `-DBERTH_LAUNCH=${cString(resolve('build/launch.cjs'))}`,
  `-DBERTH_VALUED=${cString(VALUED.join(' '))}`, `-DBERTH_QUICK=${cString(Object.keys(QUICK).join(' '))}`,
  `-DBERTH_RUNNERS=${cString(RUNNERS.join(' '))}`,
  'src/launch/berth.c', '-o', 'bin/berth.tmp',
], { stdio: 'inherit' });
renameSync('bin/berth.tmp', 'bin/berth');

replaceFile('build/launch.cjs', readFileSync('src/launch/launch.cjs'));

// V8's young generation may grow to 2 × 16 MiB, which a long-running daemon keeps resident:
// 1 MiB semi-spaces held berthd's RSS with 100 containers at about 85 MiB instead of 107,
// for more frequent (sub-millisecond) scavenges and earlier promotion of what survives them.
// glibc gives each thread that allocates (libuv's pool, V8's platform threads, snapshot
// workers) an arena of its own, whose freed pages stay resident; two arenas for the whole
// process took berthd with 100 containers from 92 to 83 MiB (bench/cri).
// --optimize-for-size: V8 grows the old generation in smaller steps and collects sooner;
// berthd with 100 containers 87 → 77 MiB, no change in lifecycle, exec or port-forward times.
writeFileSync('bin/berthd', `#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS MALLOC_ARENA_MAX=2 ${process.execPath} --max-semi-space-size=1 --optimize-for-size --
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

// The full cache holds every function, compiled eagerly here (the source as the launcher
// reads it): with the small one, `run` spent about 8% of its CPU compiling its
// own path; loading the full one costs `ps` and `version` 2-6%. Flags are back to their
// defaults before the cache is made: V8 rejects a cache made under other flags.
// Compiled by the launcher's addon, as every command compiles it.
const bundleFile = resolve('build/berth.cjs');
const launch = { exports: {} };
process.dlopen(launch, resolve('build/launch.node'));
setFlagsFromString('--no-lazy');
launch.exports.load(bundleFile);
setFlagsFromString('--lazy');
replaceFile('build/berth.cjs.full.cache', launch.exports.codeCache());

// The small caches hold what quick commands compile as they run, in a scratch root: each
// QUICK command's its own; the shared one the help (every command file) and other read-only
// commands, each run loading the cache the one before wrote and writing it again with what
// it compiled besides. The root holds what a user's does, an image and an exited container
// with a line of output, made with the host's static busybox, runc and conmon where there
// are: on an empty store `inspect` and `logs` ran only their error path, and every table
// row, inspect view and log line was compiled at run time (2-4% of each command). Without
// them (a build machine without busybox-static, or not root) the caches come from the
// empty store.
rmSync('build/berth.cjs.cache', { force: true });
const scratch = mkdtempSync(join(tmpdir(), 'berth-build-'));
const dirs = ['--root', join(scratch, 'root'), '--runroot', join(scratch, 'run'), '--config-dir', join(scratch, 'etc')];
const berth = (args, env = {}) => spawnSync('bin/berth', [...dirs, ...args], { env: { ...process.env, ...env }, stdio: 'ignore' }).status === 0;
let sample = false;
try {
  // A berth.toml, as installations have: reading it is part of most commands.
  mkdirSync(join(scratch, 'etc'));
  writeFileSync(join(scratch, 'etc', 'berth.toml'), `[network]\ncni_conf_dir = "${join(scratch, 'cni')}"\n`);
  sample = makeSample();
  const cache = (args) => berth(args, { BERTH_WRITE_CODE_CACHE: '1' });
  // The quick commands first, each writing its own cache; then the shared one.
  for (const name of Object.keys(QUICK)) rmSync(`build/berth.cjs.${name}.cache`, { force: true });
  for (const args of Object.values(QUICK)) cache(args);
  for (const args of [['--help'], ['image', 'ls'], ['container', 'ls', '-a'], ['volume', 'ls'], ['network', 'ls']]) cache(args);
} finally {
  if (sample && !berth(['rm', '-f', 'sample'])) console.error(`build: could not remove the sample container in ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
}

// Each cache is loaded as its commands load it, under their node flags: a cache V8 refuses
// costs every such command its whole compile (20-40 ms) and nothing else would say so.
const probe = join(mkdtempSync(join(tmpdir(), 'berth-build-')), 'probe.cjs');
writeFileSync(probe, `const a = { exports: {} };
process.dlopen(a, ${JSON.stringify(resolve('build/launch.node'))});
a.exports.load(${JSON.stringify(bundleFile)}, process.argv[2]);
process.stdout.write(String(a.exports.cacheRejected));
`);
for (const [name, flags] of [...Object.keys(QUICK).map((n) => [n, ['--no-rehash-snapshot']]), ['full', []], ['', []]]) {
  const file = `build/berth.cjs${name ? '.' + name : ''}.cache`;
  const out = execFileSync(process.execPath, [...flags, probe, resolve(file)], { encoding: 'utf8' });
  if (out !== 'false') throw new Error(`build: V8 refuses ${file} (cacheRejected ${out})`);
}
rmSync(dirname(probe), { recursive: true, force: true });

/** The sample image and container in the scratch root; false when the host cannot run them. */
function makeSample() {
  if (!existsSync('/bin/busybox') || process.getuid?.() !== 0) return false;
  const rootfs = join(scratch, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
  const tarball = join(scratch, 'sample.tar');
  if (spawnSync('tar', ['-cf', tarball, '-C', rootfs, 'bin'], { stdio: 'ignore' }).status !== 0) return false;
  if (!berth(['import', tarball, 'sample'])) return false;
  // The container, whether or not it ran (a host without runc or conmon), is removed after.
  const ran = berth(['run', '--name', 'sample', '--network', 'none', 'sample', '/bin/busybox', 'echo', 'hello from berth']);
  if (!ran) berth(['rm', '-f', 'sample']);
  return ran;
}
