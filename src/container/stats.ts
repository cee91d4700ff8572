// Resource usage of a container, read from its cgroup (v1 controllers, or the unified v2
// hierarchy when the host mounts one with controllers at /sys/fs/cgroup) and its upper
// dir. Reads are asynchronous and small; the upper dir is walked without blocking.
import { existsSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readSmallFile } from '../sys/index.js';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** v1 reports "no limit" as a huge page-aligned number. */
const UNLIMITED = 2 ** 62;
/** Larger than any stats file read here (blkio's lists five lines per device). */
const MAX_STATS_FILE = 64 << 10;

export interface ContainerStats {
  /** When the sample was read, ms since the epoch. */
  timestamp: number;
  /** Cumulative CPU time of all its processes. */
  cpuNanos: number;
  memory: {
    usageBytes: number;
    /** usage less inactive file cache: what the kubelet evicts by. */
    workingSetBytes: number;
    rssBytes: number;
    /** undefined: no limit. */
    limitBytes?: number;
    pageFaults: number;
    majorPageFaults: number;
  };
  pids: { current: number; limit?: number };
  blockIo: { readBytes: number; writeBytes: number };
  /** The container's writable layer (its overlay upper dir). */
  writableLayer?: { usedBytes: number; inodesUsed: number };
}

let v2: boolean | undefined;
/** Whether the host runs the unified hierarchy with controllers at the cgroup root (a host's layout stays). */
export const cgroupV2 = (): boolean => (v2 ??= existsSync(join(CGROUP_ROOT, 'cgroup.controllers')));

/**
 * A cgroup or proc file (a missing one reads as ''): one step on the pool, into a buffer of
 * the file's size. fs.readFile takes four steps and a 64 KiB buffer for each of these files
 * (they report size 0), which a daemon listing stats of many containers felt in time and memory.
 */
const readText = (path: string) => readSmallFile(path, MAX_STATS_FILE).then((b) => b?.toString('utf8') ?? '', () => '');
const readNumber = async (path: string) => {
  const t = (await readText(path)).trim();
  return t === '' || t === 'max' ? undefined : Number(t);
};

/** "key value" lines (memory.stat, cpu.stat) as a map. */
function keyValues(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) m.set(k, Number(v));
  }
  return m;
}

/** Sums the Read and Write bytes of every device: v1 "MAJ:MIN Read N" lines, v2 "MAJ:MIN rbytes=N wbytes=N …". */
function blockBytes(text: string, v2: boolean): { readBytes: number; writeBytes: number } {
  let readBytes = 0;
  let writeBytes = 0;
  for (const line of text.split('\n')) {
    if (v2) {
      readBytes += Number(/\brbytes=(\d+)/.exec(line)?.[1] ?? 0);
      writeBytes += Number(/\bwbytes=(\d+)/.exec(line)?.[1] ?? 0);
    } else {
      const [, op, n] = line.split(' ');
      if (op === 'Read') readBytes += Number(n);
      else if (op === 'Write') writeBytes += Number(n);
    }
  }
  return { readBytes, writeBytes };
}

/** A cgroup's usage; cgroupPath as in the OCI spec (e.g. /berth/<id>). */
export async function cgroupStats(cgroupPath: string): Promise<Omit<ContainerStats, 'writableLayer'>> {
  const timestamp = Date.now();
  if (cgroupV2()) {
    const dir = join(CGROUP_ROOT, cgroupPath);
    const [cpu, mem, memStat, memMax, pids, pidsMax, io] = await Promise.all([
      readText(join(dir, 'cpu.stat')), readNumber(join(dir, 'memory.current')), readText(join(dir, 'memory.stat')), readNumber(join(dir, 'memory.max')),
      readNumber(join(dir, 'pids.current')), readNumber(join(dir, 'pids.max')), readText(join(dir, 'io.stat')),
    ]);
    const ms = keyValues(memStat);
    const usage = mem ?? 0;
    return {
      timestamp,
      cpuNanos: (keyValues(cpu).get('usage_usec') ?? 0) * 1000,
      memory: {
        usageBytes: usage,
        workingSetBytes: Math.max(0, usage - (ms.get('inactive_file') ?? 0)),
        rssBytes: ms.get('anon') ?? 0,
        limitBytes: memMax,
        pageFaults: ms.get('pgfault') ?? 0,
        majorPageFaults: ms.get('pgmajfault') ?? 0,
      },
      pids: { current: pids ?? 0, limit: pidsMax },
      blockIo: blockBytes(io, true),
    };
  }
  const at = (controller: string, file: string) => join(CGROUP_ROOT, controller, cgroupPath, file);
  const [cpu, mem, memStat, memLimit, pids, pidsMax, io] = await Promise.all([
    readNumber(at('cpuacct', 'cpuacct.usage')), readNumber(at('memory', 'memory.usage_in_bytes')), readText(at('memory', 'memory.stat')),
    readNumber(at('memory', 'memory.limit_in_bytes')), readNumber(at('pids', 'pids.current')), readNumber(at('pids', 'pids.max')),
    readText(at('blkio', 'blkio.throttle.io_service_bytes')),
  ]);
  const ms = keyValues(memStat);
  const usage = mem ?? 0;
  return {
    timestamp,
    cpuNanos: cpu ?? 0,
    memory: {
      usageBytes: usage,
      workingSetBytes: Math.max(0, usage - (ms.get('total_inactive_file') ?? 0)),
      rssBytes: ms.get('total_rss') ?? 0,
      limitBytes: memLimit !== undefined && memLimit < UNLIMITED ? memLimit : undefined,
      pageFaults: ms.get('total_pgfault') ?? 0,
      majorPageFaults: ms.get('total_pgmajfault') ?? 0,
    },
    pids: { current: pids ?? 0, limit: pidsMax },
    blockIo: blockBytes(io, false),
  };
}

/** Bytes and inodes under dir (not following links; a file that vanishes meanwhile is skipped). */
export async function diskUsage(dir: string): Promise<{ usedBytes: number; inodesUsed: number }> {
  let usedBytes = 0;
  let inodesUsed = 0;
  const seen = new Set<number>();
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    await Promise.all(
      names.map(async (n) => {
        const p = join(d, n);
        const st = await lstat(p).catch(() => undefined);
        if (!st) return;
        if (!seen.has(st.ino)) {
          seen.add(st.ino);
          inodesUsed++;
          usedBytes += st.blocks * 512;
        }
        if (st.isDirectory()) await walk(p);
      }),
    );
  };
  await walk(dir);
  return { usedBytes, inodesUsed };
}

export interface InterfaceStats {
  name: string;
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}

/** The interfaces (loopback aside) of the network namespace process pid is in, from /proc/PID/net/dev. */
export async function networkInterfaces(pid: number): Promise<InterfaceStats[]> {
  const text = await readText(`/proc/${pid}/net/dev`);
  const out: InterfaceStats[] = [];
  // Two header lines, then "name: rx_bytes rx_packets rx_errs … tx_bytes tx_packets tx_errs …".
  for (const line of text.split('\n').slice(2)) {
    const at = line.indexOf(':');
    if (at < 0) continue;
    const name = line.slice(0, at).trim();
    if (name === 'lo') continue;
    const f = line.slice(at + 1).trim().split(/\s+/).map(Number);
    out.push({ name, rxBytes: f[0] ?? 0, rxErrors: f[2] ?? 0, txBytes: f[8] ?? 0, txErrors: f[10] ?? 0 });
  }
  return out;
}

/** What docker's stats JSON reports beyond ContainerStats: CPU split by mode and CPU, throttling, memory.stat as it is. */
export interface CgroupDetail {
  cpuUserNanos: number;
  cpuSystemNanos: number;
  /** v1 only (cpuacct.usage_percpu); v2 has no per-CPU usage. */
  perCpuNanos?: number[];
  throttling: { periods: number; throttledPeriods: number; throttledNanos: number };
  memoryStat: Record<string, number>;
}

/** cpuacct.stat's user/system are in USER_HZ ticks (100 a second on Linux). */
const USER_HZ_NANOS = 1e7;

export async function cgroupDetail(cgroupPath: string): Promise<CgroupDetail> {
  if (cgroupV2()) {
    const dir = join(CGROUP_ROOT, cgroupPath);
    const [cpu, mem] = await Promise.all([readText(join(dir, 'cpu.stat')), readText(join(dir, 'memory.stat'))]);
    const c = keyValues(cpu);
    return {
      cpuUserNanos: (c.get('user_usec') ?? 0) * 1000,
      cpuSystemNanos: (c.get('system_usec') ?? 0) * 1000,
      throttling: { periods: c.get('nr_periods') ?? 0, throttledPeriods: c.get('nr_throttled') ?? 0, throttledNanos: (c.get('throttled_usec') ?? 0) * 1000 },
      memoryStat: Object.fromEntries(keyValues(mem)),
    };
  }
  const at = (controller: string, file: string) => join(CGROUP_ROOT, controller, cgroupPath, file);
  const [acct, percpu, throttle, mem] = await Promise.all([
    readText(at('cpuacct', 'cpuacct.stat')), readText(at('cpuacct', 'cpuacct.usage_percpu')), readText(at('cpu', 'cpu.stat')), readText(at('memory', 'memory.stat')),
  ]);
  const a = keyValues(acct);
  const t = keyValues(throttle);
  const perCpu = percpu.trim().split(/\s+/).filter(Boolean).map(Number);
  return {
    cpuUserNanos: (a.get('user') ?? 0) * USER_HZ_NANOS,
    cpuSystemNanos: (a.get('system') ?? 0) * USER_HZ_NANOS,
    perCpuNanos: perCpu.length ? perCpu : undefined,
    throttling: { periods: t.get('nr_periods') ?? 0, throttledPeriods: t.get('nr_throttled') ?? 0, throttledNanos: t.get('throttled_time') ?? 0 },
    memoryStat: Object.fromEntries(keyValues(mem)),
  };
}

/** The host's CPU time since boot in nanoseconds (/proc/stat's cpu line), docker's system_cpu_usage. */
export async function systemCpuNanos(): Promise<number> {
  const line = (await readText('/proc/stat')).split('\n').find((l) => l.startsWith('cpu '));
  const ticks = (line ?? '').trim().split(/\s+/).slice(1, 9).reduce((n, v) => n + Number(v), 0);
  return ticks * USER_HZ_NANOS;
}
