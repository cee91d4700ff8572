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
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '20' },
      stopped: { type: 'string', default: '100' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('Usage: bench/run-latency [--runs N (20)] [--stopped N (100)]');
    process.exit(0);
  }
  const runs = Number(values.runs);
  const stopped = Number(values.stopped);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(stopped) || stopped < 0) {
    console.error('run-latency: --runs must be >= 1 and --stopped >= 0');
    process.exit(2);
  }
  return { runs, stopped };
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

async function main(): Promise<void> {
  const opts = parseOptions();
  if (!existsSync(BERTH)) throw new Error(`${BERTH} missing: run make build`);
  const hostDirsBefore = HOST_DIRS.filter((d) => existsSync(d));
  const dir = mkdtempSync('/tmp/berth-test-bench-');
  let berth: Instance | undefined;
  const podman = new Podman(join(dir, 'podman'));
  try {
    console.log(`run-latency: ${opts.runs} runs each, ps -a with ${opts.stopped} stopped containers each`);
    const archive = buildArchive(dir);
    berth = await newInstance();
    const b = berth;
    const berthRun = (args: string[]) => sh(BERTH, args, { env: b.env });
    const berthTime = (args: string[]) => timed(BERTH, args, { env: b.env });
    berthRun(['load', '-q', '-i', archive]);
    podman.run(['load', '-q', '-i', archive]);

    // One warm-up each: first runs fill page caches and create state directories.
    berthRun(['run', '--rm', IMAGE, 'true']);
    podman.run(['run', '--rm', '--network', 'none', IMAGE, 'true']);

    const runTimes = { berth: [] as number[], podman: [] as number[] };
    for (let i = 0; i < opts.runs; i++) {
      runTimes.berth.push(berthTime(['run', '--rm', IMAGE, 'true']));
      runTimes.podman.push(podman.time(['run', '--rm', '--network', 'none', IMAGE, 'true']));
    }

    for (let i = 0; i < opts.stopped; i++) {
      berthRun(['run', IMAGE, 'true']);
      podman.run(['run', '--network', 'none', IMAGE, 'true']);
    }
    const psTimes = { berth: [] as number[], podman: [] as number[] };
    const berthPs = berthRun(['ps', '-a', '-q']).trim().split('\n').filter(Boolean).length;
    const podmanPs = podman.run(['ps', '-a', '-q']).trim().split('\n').filter(Boolean).length;
    if (berthPs !== opts.stopped || podmanPs !== opts.stopped)
      throw new Error(`ps -a lists ${berthPs} (berth) and ${podmanPs} (podman) containers, expected ${opts.stopped}`);
    for (let i = 0; i < opts.runs; i++) {
      psTimes.berth.push(berthTime(['ps', '-a']));
      psTimes.podman.push(podman.time(['ps', '-a']));
    }

    const nodeTimes: number[] = [];
    const runcTimes: number[] = [];
    const bundle = runcBundle(dir, join(dir, 'rootfs'));
    const runcRoot = join(dir, 'runc');
    for (let i = 0; i < opts.runs; i++) {
      nodeTimes.push(timed(process.execPath, ['-e', '0']));
      runcTimes.push(timed('runc', ['--root', runcRoot, 'run', '-b', bundle, `bench-${process.pid}-${i}`]));
    }

    const rows: [string, number[], number[]][] = [
      ['run --rm IMAGE true', runTimes.berth, runTimes.podman],
      [`ps -a (${opts.stopped} stopped)`, psTimes.berth, psTimes.podman],
    ];
    console.log(`\n${'median of ' + opts.runs}`.padEnd(28) + 'berth'.padStart(10) + 'podman'.padStart(10) + '  berth/podman');
    for (const [name, bt, pt] of rows) {
      console.log(name.padEnd(28) + fmt(median(bt)) + fmt(median(pt)) + `  ${(median(bt) / median(pt)).toFixed(2)}`);
    }
    console.log('\nreference');
    console.log('node -e 0'.padEnd(28) + fmt(median(nodeTimes)));
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
