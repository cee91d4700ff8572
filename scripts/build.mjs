// Builds the native addon and bundles the CLI into one file, bin/berth (start-up time is
// a benchmarked figure: one file to read, heavy modules loaded lazily).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';

mkdirSync('build', { recursive: true });
execFileSync('gcc', [
  '-O2', '-Wall', '-Werror', '-shared', '-fPIC', '-DNODE_GYP_MODULE_NAME=berth_sys',
  '-I/usr/include/node', 'src/sys/native/berth_sys.c', '-o', 'build/berth_sys.node',
], { stdio: 'inherit' });

const entries = [
  { in: 'src/cli/main.ts', out: 'bin/berth' },
];
for (const e of entries) {
  await build({
    entryPoints: [e.in],
    outfile: e.out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['better-sqlite3'],
    // The node that built berth runs it: one exec fewer than `#!/usr/bin/env node`.
    banner: { js: `#!${process.execPath}\nconst __importMetaUrl = require("node:url").pathToFileURL(__filename).href;` },
    define: { 'import.meta.url': '__importMetaUrl' },
    logLevel: 'warning',
  });
  chmodSync(e.out, 0o755);
}
