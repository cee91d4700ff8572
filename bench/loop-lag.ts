// Event-loop delay of one in-process engine (the library as berthd runs it, many requests
// in one process) while it does four things a daemon does, each alone and then together:
//   pull     a cold pull of busybox + 5 layers of random data (gzip) from a docker-registry
//            on 127.0.0.1
//   attach   attach sessions streaming the output of running containers (--network none)
//   lock     writes to the store while another process holds its SQLite write lock for 1 s
//            (BEGIN IMMEDIATE ... COMMIT)
//   gc       garbage collection of unused snapshots (dangling images pruned)
// The delay is sampled by perf_hooks.monitorEventLoopDelay: how late its timer fires.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { BERTH, makeBusyboxRootfs, newInstance, type Instance } from '../test/helpers/index.js';
import { Cleanups, DATA_LAYERS, median, removeWorkDir, serveImage, type ServedImage } from './common.js';

const GOAL_P99_MS = 20;
const GOAL_MAX_MS = 100;
const LOCK_HOLD_MS = 1000;
/** How long the attach sessions stream when they run alone. */
const ATTACH_ALONE_MS = 3000;
/** Any one phase taking longer than this has hung. */
const PHASE_TIMEOUT_MS = 10 * 60_000;
/** gc only takes snapshots made before the oldest live lease (a pull's) less this margin (image/gc.ts). */
const LEASE_MARGIN_MS = 2500;
/** Each container prints a ~1 KB burst every 50 ms. */
const PRINTER = 'line=$(printf "%0100d" 0); i=0; while :; do for j in 0 1 2 3 4 5 6 7 8 9; do echo "$i.$j $line"; done; i=$((i+1)); sleep 0.05; done';
const LOCK_TAG = 'localhost/bench-loop-lag-lock:latest';
const PHASES = ['pull', 'attach', 'lock', 'gc'] as const;
type Phase = (typeof PHASES)[number];

interface Options {
  runs: number;
  sizeMb: number;
  snapshots: number;
  sessions: number;
  resolutionMs: number;
  smoke: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      'size-mb': { type: 'string' },
      snapshots: { type: 'string' },
      sessions: { type: 'string' },
      'resolution-ms': { type: 'string', default: '10' },
      smoke: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'Usage: bench/loop-lag [--runs N (3)] [--size-mb MB (200): random data, split over 5 layers] [--snapshots N (50)]\n' +
        '                      [--sessions N (8): attach sessions] [--resolution-ms MS (10): 1-10] [--smoke: 1 run, 10 MB, 5 snapshots, 2 sessions]',
    );
    process.exit(0);
  }
  const smoke = !!values.smoke;
  const int = (v: string | undefined, full: number, small: number) => Number(v ?? (smoke ? small : full));
  const o: Options = {
    runs: int(values.runs, 3, 1),
    sizeMb: int(values['size-mb'], 200, 10),
    snapshots: int(values.snapshots, 50, 5),
    sessions: int(values.sessions, 8, 2),
    resolutionMs: Number(values['resolution-ms']),
    smoke,
  };
  const ok =
    [o.runs, o.snapshots, o.sessions].every((n) => Number.isInteger(n) && n >= 1) &&
    Number.isInteger(o.sizeMb) && o.sizeMb >= DATA_LAYERS &&
    Number.isInteger(o.resolutionMs) && o.resolutionMs >= 1 && o.resolutionMs <= 10;
  if (!ok) {
    console.error(`loop-lag: --runs, --snapshots and --sessions must be >= 1, --size-mb an integer >= ${DATA_LAYERS}, --resolution-ms 1-10`);
    process.exit(2);
  }
  return o;
}

/**
 * The library wired on an instance's dirs, as the daemon will wire it: the engine factory,
 * with conmon calling the CLI when a container exits (this script is not the CLI).
 */
async function openEngine(inst: Instance, registriesConf: string) {
  const { createEngine } = await import('../src/engine/index.js');
  const engine = createEngine({
    root: inst.root,
    runRoot: inst.runRoot,
    configDir: inst.configDir,
    env: { ...process.env, CONTAINERS_REGISTRIES_CONF: registriesConf },
    cleanupCommand: ({ paths, runtime }) => [
      BERTH,
      '--root', paths.root, '--runroot', paths.runRoot, '--config-dir', paths.configDir, '--runtime', runtime.path,
      'container-cleanup',
    ],
  });
  return {
    images: await engine.images(),
    containers: await engine.containers(),
    databaseFile: (await engine.store()).db.name,
    /** Registry access for one pull (registries.conf: registriesConf). */
    registry: () => engine.registry(),
    close: async () => engine.close(),
  };
}
type Engine = Awaited<ReturnType<typeof openEngine>>;

/** Loop delay in one window, in ms: how late the sampling timer fired. */
interface Lag {
  p50: number;
  p99: number;
  max: number;
  samples: number;
  durationMs: number;
}

/** Runs fn with the event-loop delay sampled; fails it after PHASE_TIMEOUT_MS. */
async function measure(resolutionMs: number, label: string, fn: () => Promise<void>): Promise<Lag> {
  const h = monitorEventLoopDelay({ resolution: resolutionMs });
  let timer: NodeJS.Timeout | undefined;
  // The sampler records the time between two of its ticks: a stall is seen only once a
  // tick came before it and one after it, so the window reaches past fn on both sides.
  const pad = () => delay(3 * resolutionMs);
  h.enable();
  await pad();
  const start = performance.now();
  let durationMs = 0;
  try {
    await Promise.race([
      fn().then(
        () => void (durationMs = performance.now() - start),
        (e: Error) => Promise.reject(new Error(`${label}: ${e.message}`, { cause: e })),
      ),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${label}: not done after ${PHASE_TIMEOUT_MS / 1000} s`)), PHASE_TIMEOUT_MS);
      }),
    ]);
    await pad();
  } finally {
    h.disable();
    clearTimeout(timer);
  }
  // The histogram holds the whole interval between samples: the delay is what exceeds it.
  const late = (ns: number) => Math.max(0, ns / 1e6 - resolutionMs);
  return { p50: late(h.percentile(50)), p99: late(h.percentile(99)), max: late(h.max), samples: h.count, durationMs };
}

/** The image of a pull, removed again afterwards so that every pull is cold. */
async function pullPhase(engine: Engine, served: ServedImage): Promise<() => Promise<void>> {
  const access = await engine.registry();
  return async () => {
    try {
      const { image } = await engine.images.pull(served.ref, access);
      if (image.layers.length !== served.layers.length) throw new Error(`pull: ${image.layers.length} layers pulled, expected ${served.layers.length}`);
    } finally {
      access.close();
    }
  };
}

async function removePulled(engine: Engine, served: ServedImage): Promise<void> {
  await engine.images.remove(served.ref);
}

/** An attach session to each container until `until` settles; every one must receive output. */
async function attachSessions(engine: Engine, ids: string[], until: Promise<unknown>): Promise<void> {
  const abort = new AbortController();
  const bytes = ids.map(() => 0);
  const sessions = ids.map((id, i) => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        bytes[i] += chunk.length;
        cb();
      },
    });
    return engine.containers.attach(id, { stdout: sink, stderr: sink, detachKeys: '', signal: abort.signal }).then((x) => x.done);
  });
  // A session that ends by itself has lost its container: that fails the phase at once.
  const ended = Promise.race(sessions.map((s, i) => s.then((how) => Promise.reject(new Error(`attach: session ${i} ended (${how}) before the phase did`)))));
  ended.catch(() => undefined);
  try {
    await Promise.race([until, ended]);
  } finally {
    abort.abort();
    await Promise.allSettled(sessions);
  }
  const results = await Promise.all(sessions);
  if (results.some((r) => r !== 'detached')) throw new Error(`attach: sessions ended ${results.join(', ')}`);
  const silent = bytes.findIndex((n) => n === 0);
  if (silent >= 0) throw new Error(`attach: session ${silent} received no output`);
}

/**
 * A child process takes the store's write lock (BEGIN IMMEDIATE), holds it LOCK_HOLD_MS and
 * commits, while the engine writes (tags an image) every 20 ms from before the lock is
 * taken until after it is released: some write of the engine (this one, a pull's, a
 * collection's) meets the lock, and how long the loop stalls for it is what is measured.
 */
async function lockPhase(engine: Engine, imageId: string, children: Set<ChildProcess>, onLocked?: () => void): Promise<void> {
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  // Lines written straight to fd 1, each with the time it was written.
  const script =
    "const [mod, file, ms] = process.argv.slice(1); const say = (s) => require('fs').writeSync(1, s + ' ' + Date.now() + '\\n');" +
    'const db = new (require(mod))(file, { timeout: 30000 });' +
    "db.exec('BEGIN IMMEDIATE'); say('locked');" +
    "setTimeout(() => { db.exec('COMMIT'); db.close(); say('released'); }, Number(ms));";
  const child = spawn(process.execPath, ['-e', script, sqlite, engine.databaseFile, String(LOCK_HOLD_MS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  const at = (word: string) => {
    const m = new RegExp(`^${word} (\\d+)$`, 'm').exec(out);
    return m ? Number(m[1]) : undefined;
  };
  child.stdout!.on('data', (d: Buffer) => {
    const locked = at('locked') !== undefined;
    out += d.toString();
    if (!locked && at('locked') !== undefined) onLocked?.();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  }).finally(() => children.delete(child));
  let code: number | null | undefined;
  void exited.then((c) => (code = c), () => undefined);

  const writeStarts: number[] = [];
  for (;;) {
    writeStarts.push(Date.now());
    await engine.images.tag(imageId, LOCK_TAG);
    if (at('released') !== undefined) break;
    if (code !== undefined) throw new Error(`lock holder exited ${code}: ${err.trim()}`);
    await delay(20);
  }
  if ((await exited) !== 0) throw new Error(`lock holder exited ${code}: ${err.trim()}`);
  await engine.images.remove(LOCK_TAG);
  const locked = at('locked')!;
  if (!(writeStarts[0] < locked)) throw new Error(`lock: the engine did not write before the lock was taken (writes started ${writeStarts[0] - locked} ms after)`);
}

/** Makes n dangling single-layer images of distinct content (a busybox rootfs each). */
async function makeGarbage(engine: Engine, rootfs: string, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    writeFileSync(join(rootfs, 'etc', 'bench-id'), `${tag}-${i}\n`);
    const tar = spawn('tar', ['-C', rootfs, '-c', '--numeric-owner', 'bin', 'etc', 'root', 'tmp', 'home'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((resolve, reject) => {
      tar.on('error', reject);
      tar.on('close', resolve);
    });
    await engine.images.importRootfs(tar.stdout!, undefined);
    if ((await exited) !== 0) throw new Error('tar of the garbage rootfs failed');
  }
}

async function gcPhase(engine: Engine, n: number): Promise<void> {
  const { report } = await engine.images.prune();
  if (report.snapshots < n) throw new Error(`gc: ${report.snapshots} snapshots collected, expected ${n}`);
}

const fmtMs = (ms: number) => `${ms.toFixed(1)} ms`.padStart(11);

async function main(): Promise<void> {
  const opts = parseOptions();
  if (!existsSync(BERTH)) throw new Error(`${BERTH} missing: run make build`);
  const dir = mkdtempSync('/tmp/berth-test-bench-');
  const cleanups = new Cleanups();
  const children = new Set<ChildProcess>();
  let inst: Instance | undefined;
  let engine: Engine | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const c of children) c.kill('SIGKILL');
      await engine?.close().catch(() => undefined);
      await inst?.cleanup(); // containers, conmon, mounts, its dirs and bridge
      await cleanups.run(); // the registry and its dirs
      await removeWorkDir(dir);
    })());
  // Interrupted: clean up, then exit as the signal would have.
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`loop-lag: ${sig}, cleaning up`);
    void cleanup().finally(() => process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGHUP' ? 1 : 15)));
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, onSignal);

  try {
    const served = await serveImage(dir, opts.sizeMb, cleanups);
    inst = await newInstance();
    const busybox = await inst.importBusybox();
    engine = await openEngine(inst, served.registriesConf);
    const e = engine;
    const busyboxId = (await e.images.resolve(busybox)).id;
    const ids: string[] = [];
    for (let i = 0; i < opts.sessions; i++) {
      const c = await e.containers.create({ image: busybox, name: `loop-lag-${i}`, command: ['sh', '-c', PRINTER], network: { mode: 'none' } });
      await e.containers.start(c.id);
      ids.push(c.id);
    }
    const garbageRootfs = join(dir, 'garbage-rootfs');
    makeBusyboxRootfs(garbageRootfs);

    console.log(
      `loop-lag: ${opts.runs} run(s); event-loop delay sampled every ${opts.resolutionMs} ms; phases alone, then together:\n` +
        `  pull    ${served.ref}: busybox + ${DATA_LAYERS} layers of ${(opts.sizeMb / DATA_LAYERS).toFixed(0)} MiB random data, ${served.totalMb.toFixed(1)} MB gzip\n` +
        `  attach  ${opts.sessions} sessions, each streaming ~20 KB/s from a running container\n` +
        `  lock    another process holds the store's write lock ${LOCK_HOLD_MS} ms while the engine writes\n` +
        `  gc      collection of ${opts.snapshots} unused snapshots (busybox rootfs each)`,
    );

    const rows = ['pull', 'attach', 'lock', 'gc', 'together'] as const;
    const lags = new Map<string, Lag[]>(rows.map((r) => [r, []]));
    for (let run = 0; run < opts.runs; run++) {
      const m = (label: string, fn: () => Promise<void>) => measure(opts.resolutionMs, label, fn);
      // Alone. Each phase's preparation (and the removal of what a pull made) is not measured.
      const pull = await pullPhase(e, served);
      lags.get('pull')!.push(await m('pull alone', pull));
      await removePulled(e, served);
      lags.get('attach')!.push(await m('attach alone', () => attachSessions(e, ids, delay(opts.smoke ? 1000 : ATTACH_ALONE_MS))));
      lags.get('lock')!.push(await m('lock alone', () => lockPhase(e, busyboxId, children)));
      await makeGarbage(e, garbageRootfs, opts.snapshots, `r${run}a`);
      lags.get('gc')!.push(await m('gc alone', () => gcPhase(e, opts.snapshots)));

      // Together: the garbage made more than the lease margin before the pull starts.
      await makeGarbage(e, garbageRootfs, opts.snapshots, `r${run}t`);
      await delay(LEASE_MARGIN_MS);
      const pullAgain = await pullPhase(e, served);
      const durations = new Map<Phase, number>();
      const timedPhase = async (p: Phase, fn: () => Promise<void>) => {
        const t0 = performance.now();
        await fn();
        durations.set(p, performance.now() - t0);
      };
      lags.get('together')!.push(
        await m('together', async () => {
          // gc starts once the pull is under way (its lease written) and the lock is held.
          let onLocked!: () => void;
          const locked = new Promise<void>((resolve) => (onLocked = resolve));
          const others = Promise.all([
            timedPhase('pull', pullAgain),
            timedPhase('lock', () => lockPhase(e, busyboxId, children, onLocked)),
            timedPhase('gc', () => Promise.all([delay(200), locked]).then(() => gcPhase(e, opts.snapshots))),
          ]);
          await Promise.all([others, timedPhase('attach', () => attachSessions(e, ids, others))]);
        }),
      );
      await removePulled(e, served);
      const l = lags.get('together')!.at(-1)!;
      console.log(
        `run ${run + 1}: together p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms; ` +
          PHASES.map((p) => `${p} ${durations.get(p)!.toFixed(0)} ms`).join(', '),
      );
    }

    const med = (xs: Lag[], k: keyof Lag) => median(xs.map((x) => x[k]));
    console.log(`\nevent-loop delay, median of ${opts.runs}`.padEnd(24) + ['p50', 'p99', 'max', 'worst max', 'duration'].map((h) => h.padStart(11)).join(''));
    for (const r of rows) {
      const xs = lags.get(r)!;
      const label = r === 'together' ? 'all together' : `${r} alone`;
      console.log(label.padEnd(24) + [med(xs, 'p50'), med(xs, 'p99'), med(xs, 'max'), Math.max(...xs.map((x) => x.max)), med(xs, 'durationMs')].map(fmtMs).join(''));
    }
    console.log('goal'.padEnd(24) + ''.padStart(11) + `≤ ${GOAL_P99_MS} ms`.padStart(11) + `≤ ${GOAL_MAX_MS} ms`.padStart(11));
    const all = lags.get('together')!;
    const verdict = (v: number, goal: number) => `${v.toFixed(1)} ms ${v <= goal ? 'meets' : 'misses'} ≤ ${goal} ms`;
    console.log(`together: p99 ${verdict(med(all, 'p99'), GOAL_P99_MS)}; max ${verdict(med(all, 'max'), GOAL_MAX_MS)}`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(),
  (e: Error) => {
    console.error(`loop-lag: ${e.message}`);
    process.exit(1);
  },
);
