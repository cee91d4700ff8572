// berthd against containerd 1.6 (its CRI plugin, runc through io.containerd.runc.v2,
// cgroupfs; test/cri/containerd.ts starts it with its own config, root and socket), both
// through their CRI socket, on the same busybox image from one registry on 127.0.0.1, the
// same CNI chain (containerd's: bridge, portmap) and, for containers, the seccomp profile a
// kubelet sends for a pod that names none (Unconfined):
//   (a) pod lifecycles: RunPodSandbox, CreateContainer (`sleep 3600`), StartContainer,
//       StopContainer, StopPodSandbox, RemovePodSandbox: N sequential (median per step),
//       N concurrent (wall time);
//   (b) PSS of the runtime's own processes per running pod, P pods of one container
//       (berth: conmon and any infra process; containerd: shims and pause);
//   (c) the daemon's RSS and ListContainers latency with P pods of two containers each.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { listProcesses, newInstance, processesUsing, type Instance } from '../test/helpers/index.js';
import { insecureConf } from '../test/registry/fixture.js';
import { startBerthd } from '../test/cri/berthd.js';
import type { CriClient } from '../test/cri/client.js';
import { peerConflist, startContainerd, startPeerRegistry } from '../test/cri/containerd.js';
import { Cleanups, fmt, median } from './common.js';

interface Options {
  runs: number;
  concurrent: number;
  pods: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '20' },
      concurrent: { type: 'string', default: '20' },
      pods: { type: 'string', default: '50' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('Usage: bench/cri [--runs N (20)] [--concurrent N (20)] [--pods N (50)]');
    process.exit(0);
  }
  const opts = { runs: Number(values.runs), concurrent: Number(values.concurrent), pods: Number(values.pods) };
  if (!Object.values(opts).every((n) => Number.isInteger(n) && n >= 1)) {
    console.error('cri: --runs, --concurrent and --pods must be >= 1');
    process.exit(2);
  }
  return opts;
}

/** A CRI runtime under test. */
interface Subject {
  name: string;
  cri: CriClient;
  image: string;
  daemonPid: number;
  /** Where its processes and files are: the runtime's own processes name it or live in it. */
  base: string;
  logDir: string;
}

const STEPS = ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'StopContainer', 'StopPodSandbox', 'RemovePodSandbox'] as const;
type Step = (typeof STEPS)[number];
const WORKLOAD = ['sleep', '3600'];
// As the kubelet sends them: the container's namespace options are the pod's.
const NAMESPACES = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' };
/** Left out, the two differ: berth applies its default profile (as cri-o), containerd 1.6 none. */
const CONTAINER_SECURITY = { namespace_options: NAMESPACES, seccomp: { profile_type: 'Unconfined' } };

let serial = 0;
function podConfig(s: Subject, name: string): object {
  const n = `${name}-${serial++}`;
  return {
    metadata: { name: n, uid: `uid-${n}`, namespace: 'bench', attempt: 0 },
    hostname: n,
    log_directory: join(s.logDir, n),
    linux: { security_context: { namespace_options: NAMESPACES } },
  };
}

async function runPod(s: Subject, name: string, containers: number, times?: Map<Step, number>): Promise<{ pod: string; ids: string[]; config: object }> {
  const timed = async <T>(step: Step, p: () => Promise<T>): Promise<T> => {
    const t0 = process.hrtime.bigint();
    const r = await p();
    times?.set(step, (times.get(step) ?? 0) + Number(process.hrtime.bigint() - t0) / 1e6);
    return r;
  };
  const config = podConfig(s, name);
  const { pod_sandbox_id: pod } = await timed('RunPodSandbox', () => s.cri.runtime('RunPodSandbox', { config }));
  const ids: string[] = [];
  for (let i = 0; i < containers; i++) {
    const { container_id: id } = await timed('CreateContainer', () =>
      s.cri.runtime('CreateContainer', {
        pod_sandbox_id: pod,
        sandbox_config: config,
        config: { metadata: { name: `c${i}`, attempt: 0 }, image: { image: s.image }, command: WORKLOAD, log_path: `c${i}.log`, linux: { security_context: CONTAINER_SECURITY } },
      }),
    );
    await timed('StartContainer', () => s.cri.runtime('StartContainer', { container_id: id }));
    ids.push(id);
  }
  return { pod, ids, config };
}

async function removePod(s: Subject, pod: { pod: string; ids: string[] }, times?: Map<Step, number>): Promise<void> {
  const timed = async (step: Step, p: () => Promise<unknown>) => {
    const t0 = process.hrtime.bigint();
    await p();
    times?.set(step, Number(process.hrtime.bigint() - t0) / 1e6);
  };
  // timeout 0: SIGKILL at once in both (sleep as PID 1 ignores SIGTERM; a grace period would only measure itself).
  for (const id of pod.ids) await timed('StopContainer', () => s.cri.runtime('StopContainer', { container_id: id, timeout: 0 }));
  await timed('StopPodSandbox', () => s.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod.pod }));
  await timed('RemovePodSandbox', () => s.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod.pod }));
}

async function lifecycle(s: Subject, times?: Map<Step, number>): Promise<void> {
  await removePod(s, await runPod(s, 'life', 1, times), times);
}

function kib(file: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`${file}: no ${field}`);
  return Number(m[1]);
}

/** Parent pid of every process. */
function parents(): Map<number, number> {
  const m = new Map<number, number>();
  for (const p of listProcesses()) {
    try {
      const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
      m.set(p.pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  return m;
}

/**
 * The runtime's own processes: those naming its dir (conmon, shims) and their descendants
 * (pause, infra), not its daemon and not the workloads. PSS summed, and what they are.
 */
function runtimeProcesses(s: Subject): { pssKib: number; kinds: Map<string, number> } {
  let pssKib = 0;
  const kinds = new Map<string, number>();
  const ppid = parents();
  const own = new Set(processesUsing(s.base).map((p) => p.pid).filter((pid) => pid !== s.daemonPid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, parent] of ppid) {
      if (own.has(parent) && !own.has(pid)) {
        own.add(pid);
        grew = true;
      }
    }
  }
  for (const p of listProcesses()) {
    if (!own.has(p.pid) || p.cmdline.join(' ') === WORKLOAD.join(' ')) continue;
    try {
      pssKib += kib(`/proc/${p.pid}/smaps_rollup`, 'Pss');
    } catch {
      continue; // gone meanwhile
    }
    const kind = (p.cmdline[0] ?? '?').split('/').pop()!;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return { pssKib, kinds };
}

const mib = (k: number) => `${(k / 1024).toFixed(2)} MiB`.padStart(11);
const col = (x: string) => x.padStart(11);
const ratio = (a: number, b: number) => (a / b).toFixed(2).padStart(8);
const goal = (r: number, max: number) => `  (goal ≤ ${max.toFixed(1)}: ${r <= max ? 'met' : 'missed'})`;

async function main(): Promise<void> {
  const opts = parseOptions();
  const cleanups = new Cleanups();
  try {
    const [l1, l5] = loadavg();
    console.log(`cri: ${opts.runs} sequential and ${opts.concurrent} concurrent lifecycles, ${opts.pods} pods; load average ${l1.toFixed(2)} ${l5.toFixed(2)}`);
    const images = await startPeerRegistry(cleanups);
    const subjects: Subject[] = [];
    const berthInst: Instance = await newInstance(cleanups);
    // The same CNI chain for both (the plugins' time is not the runtime's): containerd's.
    mkdirSync(join(berthInst.base, 'cni'), { recursive: true });
    writeFileSync(join(berthInst.base, 'cni', '10-peer.conflist'), peerConflist(berthInst));
    const berthd = await startBerthd(cleanups, berthInst, {
      args: ['--log-level', 'warn'],
      env: { CONTAINERS_REGISTRIES_CONF: insecureConf(cleanups, images.host), REGISTRY_AUTH_FILE: join(berthInst.base, 'none.json') },
    });
    // On a failure midway: the pods go through the CRI (their network too) before berthd is killed.
    cleanups.after(async () => {
      for (const p of (await berthd.cri.runtime('ListPodSandbox', {})).items) await removePod(subjects[0]!, { pod: p.id, ids: [] });
    });
    subjects.push({ name: 'berth', cri: berthd.cri, image: images.busybox, daemonPid: berthd.child.pid!, base: berthInst.base, logDir: join(berthInst.base, 'pod-logs') });
    const ctrInst = await newInstance(cleanups);
    const ctr = await startContainerd(cleanups, ctrInst, { images });
    subjects.push({ name: 'containerd', cri: ctr.cri, image: images.busybox, daemonPid: ctr.child.pid!, base: ctrInst.base, logDir: join(ctrInst.base, 'pod-logs') });

    for (const s of subjects) {
      await s.cri.image('PullImage', { image: { image: s.image } }, { timeoutMs: 120_000 });
      await lifecycle(s); // warm-up: page caches, state dirs, the pause image's unpacking
    }

    // (a) sequential, alternating; then concurrent, one runtime at a time.
    const steps = new Map(subjects.map((s) => [s.name, new Map(STEPS.map((st) => [st, [] as number[]]))]));
    const totals = new Map(subjects.map((s) => [s.name, [] as number[]]));
    const ups = new Map(subjects.map((s) => [s.name, [] as number[]]));
    for (let i = 0; i < opts.runs; i++) {
      for (const s of subjects) {
        const times = new Map<Step, number>();
        await lifecycle(s, times);
        for (const st of STEPS) steps.get(s.name)!.get(st)!.push(times.get(st)!);
        totals.get(s.name)!.push(STEPS.reduce((n, st) => n + times.get(st)!, 0));
        ups.get(s.name)!.push(times.get('RunPodSandbox')! + times.get('CreateContainer')! + times.get('StartContainer')!);
      }
    }
    const wall = new Map<string, number>();
    for (const s of subjects) {
      const t0 = process.hrtime.bigint();
      await Promise.all(Array.from({ length: opts.concurrent }, () => lifecycle(s)));
      wall.set(s.name, Number(process.hrtime.bigint() - t0) / 1e6);
    }

    // (b) and (c): P pods of one container, then a second container in each.
    const pss1 = new Map<string, ReturnType<typeof runtimeProcesses>>();
    const pss2 = new Map<string, ReturnType<typeof runtimeProcesses>>();
    const rss = new Map<string, number>();
    const listTimes = new Map<string, number[]>();
    for (const s of subjects) {
      const pods: { pod: string; ids: string[]; config: object }[] = [];
      for (let i = 0; i < opts.pods; i++) pods.push(await runPod(s, 'mem', 1));
      await new Promise((r) => setTimeout(r, 2000)); // let start-up allocations settle
      pss1.set(s.name, runtimeProcesses(s));
      for (const p of pods) {
        const { container_id: id } = await s.cri.runtime('CreateContainer', {
          pod_sandbox_id: p.pod,
          sandbox_config: p.config,
          config: { metadata: { name: 'second', attempt: 0 }, image: { image: s.image }, command: WORKLOAD, log_path: 'second.log', linux: { security_context: CONTAINER_SECURITY } },
        });
        await s.cri.runtime('StartContainer', { container_id: id });
        p.ids.push(id);
      }
      await new Promise((r) => setTimeout(r, 2000));
      pss2.set(s.name, runtimeProcesses(s));
      const listed = (await s.cri.runtime('ListContainers', {})).containers.length;
      if (listed !== 2 * opts.pods) throw new Error(`${s.name} lists ${listed} containers, expected ${2 * opts.pods}`);
      const times: number[] = [];
      for (let i = 0; i < opts.runs; i++) {
        const t0 = process.hrtime.bigint();
        await s.cri.runtime('ListContainers', {});
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      listTimes.set(s.name, times);
      rss.set(s.name, kib(`/proc/${s.daemonPid}/status`, 'VmRSS'));
      for (const p of pods) await removePod(s, p);
    }

    const [b, c] = subjects.map((s) => s.name) as [string, string];
    console.log(`\nmedian of ${opts.runs}`.padEnd(33) + col(b) + col(c) + `  ${b}/${c}`);
    const row = (label: string, x: number, y: number, suffix = '') => console.log(label.padEnd(32) + ' ' + fmt(x) + ' ' + fmt(y) + ratio(x, y) + suffix);
    for (const st of STEPS) row(st, median(steps.get(b)!.get(st)!), median(steps.get(c)!.get(st)!));
    row('run + create + start', median(ups.get(b)!), median(ups.get(c)!));
    const life = [median(totals.get(b)!), median(totals.get(c)!)] as const;
    row('lifecycle', ...life, goal(life[0] / life[1], 0.8));
    const w = [wall.get(b)!, wall.get(c)!] as const;
    row(`${opts.concurrent} concurrent lifecycles (wall)`, ...w, goal(w[0] / w[1], 0.8));
    row(`ListContainers (${2 * opts.pods} containers)`, median(listTimes.get(b)!), median(listTimes.get(c)!));

    console.log(`\nmemory, ${opts.pods} pods`.padEnd(33) + col(b) + col(c));
    const p1 = [pss1.get(b)!.pssKib / opts.pods, pss1.get(c)!.pssKib / opts.pods] as const;
    console.log('PSS per pod, 1 container'.padEnd(32) + mib(p1[0]) + mib(p1[1]) + ratio(...p1) + goal(p1[0] / p1[1], 0.3));
    const p2 = [pss2.get(b)!.pssKib / opts.pods, pss2.get(c)!.pssKib / opts.pods] as const;
    console.log('PSS per pod, 2 containers'.padEnd(32) + mib(p2[0]) + mib(p2[1]) + ratio(...p2));
    const r = [rss.get(b)!, rss.get(c)!] as const;
    console.log(`daemon RSS (${2 * opts.pods} containers)`.padEnd(32) + mib(r[0]) + mib(r[1]) + ratio(...r) + goal(r[0] / r[1], 1.0));
    const kinds = (m: Map<string, number>) => [...m].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
    for (const s of subjects) console.log(`  ${s.name} processes, 1 / 2 containers per pod: ${kinds(pss1.get(s.name)!.kinds)} / ${kinds(pss2.get(s.name)!.kinds)}`);
    const [e1, e5] = loadavg();
    console.log(`\nload average at the end ${e1.toFixed(2)} ${e5.toFixed(2)}`);
  } finally {
    await cleanups.run();
  }
}

main().catch((e: Error) => {
  console.error(`cri: ${e.message}`);
  process.exitCode = 1;
});
