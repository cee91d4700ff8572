// Run latency, berth against podman, measured in the same run on the same image:
//   run --rm IMAGE true        (alternating, N runs each)
//   ps -a                      (with M stopped containers in each)
// plus two references: `node -e 0` (the floor of any Node CLI) and `runc run` of `true`
// (the floor of any runc-based manager).
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BERTH, killAndWait, makeBusyboxRootfs, newInstance, processesUsing, unmountUnder, type Instance } from '../test/helpers/index.js';

const IMAGE = 'localhost/bench-busybox:latest';

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

/** Runs a command to completion; throws with its stderr when it fails. */
function sh(file: string, args: string[], o: SpawnSyncOptions = {}): string {
  const r = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...o });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.status ?? r.signal}: ${String(r.stderr).trim()}`);
  return String(r.stdout);
}

/** Wall time of one command in milliseconds (the command must succeed). */
function timed(file: string, args: string[], o: SpawnSyncOptions = {}): number {
  const start = process.hrtime.bigint();
  sh(file, args, o);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The busybox image as a docker-archive, made with umoci (OCI layout) and skopeo. */
function buildArchive(dir: string): string {
  const rootfs = join(dir, 'rootfs');
  makeBusyboxRootfs(rootfs);
  const layout = join(dir, 'oci');
  sh('umoci', ['init', '--layout', layout]);
  sh('umoci', ['new', '--image', `${layout}:bench`]);
  sh('umoci', ['insert', '--image', `${layout}:bench`, rootfs, '/']);
  sh('umoci', ['config', '--image', `${layout}:bench`, '--config.cmd', 'sh']);
  const archive = join(dir, 'busybox.tar');
  sh('skopeo', ['copy', '-q', `oci:${layout}:bench`, `docker-archive:${archive}:${IMAGE}`]);
  return archive;
}

/** podman with all of its state in dir, and a containers.conf that works on this host. */
class Podman {
  readonly env: NodeJS.ProcessEnv;
  private readonly globalArgs: string[];

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    const conf = join(dir, 'containers.conf');
    // crun 1.8 refuses this hybrid cgroup setup, hence runc; no systemd, hence cgroupfs
    // and a file event log; no default ulimits, since root here cannot raise hard limits.
    writeFileSync(conf, '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n');
    this.env = { ...process.env, CONTAINERS_CONF: conf };
    this.globalArgs = [
      '--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp'),
      '--storage-driver', 'overlay', '--runtime-flag', `root=${join(dir, 'runc')}`,
    ];
  }

  args(a: string[]): string[] {
    return [...this.globalArgs, ...a];
  }

  run(a: string[]): string {
    return sh('podman', this.args(a), { env: this.env });
  }

  time(a: string[]): number {
    return timed('podman', this.args(a), { env: this.env });
  }

  cleanup(): void {
    for (const a of [['rm', '-af'], ['rmi', '-af']]) {
      try {
        this.run(a);
      } catch {
        // Best effort: the directory goes below anyway.
      }
    }
  }
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

/** Host directories podman and skopeo create on first use; removed again if we made them. */
const HOST_DIRS = ['/var/lib/containers', '/run/containers', '/run/libpod', '/run/runc'];

function fmt(ms: number): string {
  return `${ms.toFixed(1)} ms`.padStart(10);
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
  const hostDirsBefore = HOST_DIRS.filter((d) => existsSync(d));
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
    for (const s of subjects) {
      const listed = s.run(['ps', '-a', '-q']).split('\n').filter(Boolean).length;
      if (listed !== opts.stopped) throw new Error(`${s.name} ps -a lists ${listed} containers, expected ${opts.stopped}`);
    }
    const psTimes = new Map(subjects.map((s) => [s.name, [] as number[]]));
    for (let i = 0; i < opts.runs; i++) {
      for (const s of subjects) psTimes.get(s.name)!.push(s.time(['ps', '-a']));
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
    row(`ps -a (${opts.stopped} stopped)`, psTimes);
    console.log('\nreference');
    console.log('node -e 0'.padEnd(28) + fmt(median(nodeTimes)));
    if (extraCa) console.log('node -e 0, NODE_EXTRA_CA_CERTS'.padEnd(28) + fmt(median(nodeCaTimes)));
    console.log('runc run (true)'.padEnd(28) + fmt(median(runcTimes)));
  } finally {
    await berth?.cleanup();
    podman.cleanup();
    await killAndWait(processesUsing(dir).map((p) => p.pid));
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    for (const d of HOST_DIRS.filter((d) => !hostDirsBefore.includes(d))) removeIfOnlyEmptyDirs(d);
  }
}

/** Removes d if it holds nothing but empty directories, or, for the image cache, anything. */
function removeIfOnlyEmptyDirs(d: string): void {
  if (d === '/var/lib/containers') {
    const names = existsSync(d) ? readdirSync(d) : [];
    if (names.every((n) => n === 'cache')) rmSync(d, { recursive: true, force: true });
    return;
  }
  const prune = (p: string): boolean => {
    let names: string[];
    try {
      names = readdirSync(p);
    } catch {
      return false;
    }
    if (!names.every((n) => prune(join(p, n)))) return false;
    try {
      rmdirSync(p);
      return true;
    } catch {
      return false;
    }
  };
  prune(d);
}

main().catch((e: Error) => {
  console.error(`run-latency: ${e.message}`);
  process.exitCode = 1;
});
