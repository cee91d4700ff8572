// Run latency, berth against podman, measured in the same run on the same image:
//   run --rm IMAGE true        (alternating, N runs each)
//   ps -a, images, inspect CTR, logs CTR   (with M stopped containers in each)
// plus two references: `node -e 0` (the floor of any Node CLI) and `runc run` of `true`
// (the floor of any runc-based manager).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BERTH, newInstance, type Instance } from '../test/helpers/index.js';
import { IMAGE, buildArchive, fmt, median, removeWorkDir, sh, timed, watchHostDirs } from './common.js';
import { PODMAN_HOST_DIRS, Podman } from './podman.js';

interface Options {
  runs: number;
  stopped: number;
  /** Measure only podman and the references (berth not built yet, or broken). */
  podmanOnly: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '20' },
      stopped: { type: 'string', default: '100' },
      'podman-only': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('Usage: bench/run-latency [--runs N (20)] [--stopped N (100)] [--podman-only]');
    process.exit(0);
  }
  const runs = Number(values.runs);
  const stopped = Number(values.stopped);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(stopped) || stopped < 0) {
    console.error('run-latency: --runs must be >= 1 and --stopped >= 0');
    process.exit(2);
  }
  return { runs, stopped, podmanOnly: !!values['podman-only'] };
}

/** A runc bundle running `true` on rootfs, for the reference figure. */
function runcBundle(dir: string, rootfs: string): string {
  const bundle = join(dir, 'bundle');
  mkdirSync(bundle);
  sh('runc', ['spec'], { cwd: bundle });
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  spec.root = { path: rootfs, readonly: true };
  spec.process.terminal = false;
  spec.process.args = ['true'];
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  return bundle;
}

/** A container manager under test: runs a CLI command, or times one. */
interface Subject {
  name: string;
  run(args: string[]): string;
  time(args: string[]): number;
  /** Extra `run` flags so both do the same work (no network: bench/network measures that). */
  runFlags: string[];
}

async function main(): Promise<void> {
  const opts = parseOptions();
  if (!opts.podmanOnly && !existsSync(BERTH)) throw new Error(`${BERTH} missing: run make build`);
  const removeNewHostDirs = watchHostDirs(PODMAN_HOST_DIRS);
  const dir = mkdtempSync('/tmp/berth-test-bench-');
  let berth: Instance | undefined;
  const podman = new Podman(join(dir, 'podman'));
  try {
    console.log(`run-latency: ${opts.runs} runs each, ps -a with ${opts.stopped} stopped containers each`);
    const archive = buildArchive(dir);
    const subjects: Subject[] = [];
    if (!opts.podmanOnly) {
      const b = (berth = await newInstance());
      subjects.push({
        name: 'berth',
        run: (args) => sh(BERTH, args, { env: b.env }),
        time: (args) => timed(BERTH, args, { env: b.env }),
        runFlags: ['--network', 'none'],
      });
    }
    subjects.push({ name: 'podman', run: (a) => podman.run(a), time: (a) => podman.time(a), runFlags: ['--network', 'none'] });

    for (const s of subjects) {
      s.run(['load', '-q', '-i', archive]);
      // A warm-up run: the first one fills page caches and creates state directories.
      s.run(['run', '--rm', ...s.runFlags, IMAGE, 'true']);
    }
    const runTimes = new Map(subjects.map((s) => [s.name, [] as number[]]));
    for (let i = 0; i < opts.runs; i++) {
      for (const s of subjects) runTimes.get(s.name)!.push(s.time(['run', '--rm', ...s.runFlags, IMAGE, 'true']));
    }

    for (let i = 0; i < opts.stopped; i++) {
      for (const s of subjects) s.run(['run', ...s.runFlags, IMAGE, 'true']);
    }
    // One more, named, with output: what inspect and logs read.
    for (const s of subjects) s.run(['run', '--name', 'bench-logs', ...s.runFlags, IMAGE, 'echo', 'hello']);
    for (const s of subjects) {
      const listed = s.run(['ps', '-a', '-q']).split('\n').filter(Boolean).length;
      if (listed !== opts.stopped + 1) throw new Error(`${s.name} ps -a lists ${listed} containers, expected ${opts.stopped + 1}`);
      const logs = s.run(['logs', 'bench-logs']).trim();
      if (logs !== 'hello') throw new Error(`${s.name} logs bench-logs printed ${JSON.stringify(logs)}, expected "hello"`);
    }
    const readCommands: { label: string; args: string[] }[] = [
      { label: `ps -a (${opts.stopped + 1} stopped)`, args: ['ps', '-a'] },
      { label: 'images', args: ['images'] },
      { label: 'inspect CTR', args: ['inspect', 'bench-logs'] },
      { label: 'logs CTR', args: ['logs', 'bench-logs'] },
    ];
    const readTimes = readCommands.map(() => new Map(subjects.map((s) => [s.name, [] as number[]])));
    for (let i = 0; i < opts.runs; i++) {
      readCommands.forEach((c, k) => {
        for (const s of subjects) readTimes[k].get(s.name)!.push(s.time(c.args));
      });
    }

    // berth's launcher starts node without NODE_EXTRA_CA_CERTS (see scripts/build.mjs):
    // the floor is node started the same way; with the variable set, node costs far more.
    const { NODE_EXTRA_CA_CERTS: extraCa, ...plainEnv } = process.env;
    const nodeTimes: number[] = [];
    const nodeCaTimes: number[] = [];
    const runcTimes: number[] = [];
    const bundle = runcBundle(dir, join(dir, 'rootfs'));
    const runcRoot = join(dir, 'runc');
    for (let i = 0; i < opts.runs; i++) {
      nodeTimes.push(timed(process.execPath, ['-e', '0'], { env: plainEnv }));
      if (extraCa) nodeCaTimes.push(timed(process.execPath, ['-e', '0']));
      runcTimes.push(timed('runc', ['--root', runcRoot, 'run', '-b', bundle, `bench-${process.pid}-${i}`]));
    }

    const names = subjects.map((s) => s.name);
    const withRatio = names.length === 2;
    console.log(`\nmedian of ${opts.runs}`.padEnd(29) + names.map((n) => n.padStart(10)).join('') + (withRatio ? '  berth/podman' : ''));
    const row = (label: string, times: Map<string, number[]>) => {
      const medians = names.map((n) => median(times.get(n)!));
      console.log(label.padEnd(28) + medians.map(fmt).join('') + (withRatio ? `  ${(medians[0] / medians[1]).toFixed(2)}` : ''));
    };
    row('run --rm IMAGE true', runTimes);
    readCommands.forEach((c, k) => row(c.label, readTimes[k]));
    console.log('\nreference');
    console.log('node -e 0'.padEnd(28) + fmt(median(nodeTimes)));
    if (extraCa) console.log('node -e 0, NODE_EXTRA_CA_CERTS'.padEnd(28) + fmt(median(nodeCaTimes)));
    console.log('runc run (true)'.padEnd(28) + fmt(median(runcTimes)));
  } finally {
    await berth?.cleanup();
    podman.cleanup();
    await removeWorkDir(dir);
    removeNewHostDirs();
  }
}

main().catch((e: Error) => {
  console.error(`run-latency: ${e.message}`);
  process.exitCode = 1;
});
