// Parsing of docker-style option values: sizes, CPUs, env files, ulimits, times (volumes: mounts.ts).
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import { invalidArgument } from '../errors/index.js';
import type { ContainerResources, RestartPolicy, TmpfsMount } from '../container/index.js';
import type { FlagDef, FlagValues } from './args.js';
import { checkMemoryLimit } from '../oci/index.js';

/** "512m", "1g", "1.5GiB", "100000" → bytes (binary units, like docker). */
export function parseBytes(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(v.trim());
  if (!m) throw invalidArgument(`invalid size "${v}" for ${flag}: expected a number with an optional unit (b, k, m, g)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2].toLowerCase() as 'k'];
  return Math.round(Number(m[1]) * mult);
}

export function parseMemory(v: string): number {
  return checkMemoryLimit(parseBytes(v, '--memory'));
}

/** CPU quota period the --cpus flag is expressed in (docker's). */
const CPU_PERIOD = 100_000;

/** --cpus N as the CFS quota and period it stands for (nothing when not given). */
export function cpuLimits(v: string | undefined): { cpuQuota?: number; cpuPeriod?: number } {
  if (v === undefined) return {};
  return { cpuQuota: Math.round(parseCpus(v) * CPU_PERIOD), cpuPeriod: CPU_PERIOD };
}

export function parseCpus(v: string): number {
  const n = Number(v);
  const max = availableParallelism();
  if (!/^\d*\.?\d+$/.test(v) || !(n > 0)) throw invalidArgument(`invalid value "${v}" for --cpus: expected a positive number`);
  if (n > max) throw invalidArgument(`range of CPUs is from 0.01 to ${max}.00, as there are only ${max} CPUs available`);
  return n;
}

/** --tmpfs /path[:opt,opt] */
export function parseTmpfs(v: string): TmpfsMount {
  const i = v.indexOf(':');
  const destination = i < 0 ? v : v.slice(0, i);
  if (!isAbsolute(destination)) throw invalidArgument(`invalid tmpfs "${v}": the container path must be absolute`);
  return { type: 'tmpfs', destination, options: i < 0 ? [] : v.slice(i + 1).split(',').filter(Boolean) };
}

/** KEY=VALUE lines; a bare KEY takes the value from berth's own environment (docker semantics). */
export function parseEnv(values: string[], files: string[], o: { host?: boolean } = {}): string[] {
  // --env-host: the host's environment under the files' and the flags' (podman's order).
  const out: string[] = o.host ? Object.entries(process.env).map(([k, v]) => `${k}=${v}`) : [];
  const add = (e: string, where: string) => {
    if (e === '' || e.startsWith('=')) throw invalidArgument(`invalid environment variable "${e}"${where}`);
    if (e.includes('=')) out.push(e);
    else if (process.env[e] !== undefined) out.push(`${e}=${process.env[e]}`);
  };
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      throw invalidArgument(`cannot read env file ${f}`);
    }
    for (const line of text.split('\n')) {
      const t = line.trim();
      if (t && !t.startsWith('#')) add(t, ` in ${f}`);
    }
  }
  for (const e of values) add(e, '');
  return out;
}

/** --ulimit nofile=1024:2048 */
export function parseUlimit(v: string): { type: string; soft: number; hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(v);
  if (!m) throw invalidArgument(`invalid ulimit "${v}": expected NAME=SOFT[:HARD]`);
  const soft = Number(m[2]);
  const hard = m[3] !== undefined ? Number(m[3]) : soft;
  if (soft > hard) throw invalidArgument(`invalid ulimit "${v}": soft limit exceeds hard limit`);
  return { type: `RLIMIT_${m[1].toUpperCase()}`, soft, hard };
}

/** --since/--until: RFC 3339 date, Unix seconds, or a duration back from now (10m, 1h30m). */
export function parseTime(v: string, flag: string, now = Date.now()): Date {
  if (/^\d+(\.\d+)?$/.test(v)) return new Date(Number(v) * 1000);
  const dur = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(v);
  if (dur && v !== '') return new Date(now - ((Number(dur[1] ?? 0) * 60 + Number(dur[2] ?? 0)) * 60 + Number(dur[3] ?? 0)) * 1000);
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw invalidArgument(`invalid value "${v}" for ${flag}: expected a timestamp (RFC 3339 or Unix seconds) or a duration like 10m`);
  return d;
}

/** --tz: the host file of the zone (local: what /etc/localtime is); an unknown zone is refused. */
export function timezoneFile(tz: string, zoneinfo = '/usr/share/zoneinfo'): string {
  if (tz !== 'local' && !/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(tz)) throw invalidArgument(`invalid --tz "${tz}": a time zone such as Europe/Paris, or local`);
  const file = tz === 'local' ? '/etc/localtime' : `${zoneinfo}/${tz}`;
  try {
    if (statSync(file).isFile()) return realpathSync(file);
  } catch {
    // said below
  }
  throw invalidArgument(tz === 'local' ? '--tz local: the host has no /etc/localtime' : `invalid --tz "${tz}": unknown time zone (no ${file})`);
}

/** --label k=v / --label k */
export function parseLabels(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of values) {
    const i = l.indexOf('=');
    if (i === 0) throw invalidArgument(`invalid label "${l}"`);
    out[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  return out;
}

/** --annotation KEY=VALUE (podman refuses a key without a value); undefined for none. */
export function parseAnnotations(values: string[]): Record<string, string> | undefined {
  if (values.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const a of values) {
    const i = a.indexOf('=');
    if (i <= 0) throw invalidArgument(`invalid annotation "${a}": must be formatted KEY=VALUE`);
    out[a.slice(0, i)] = a.slice(i + 1);
  }
  return out;
}

/** --restart (run, create, update). */
export const restartFlagDef: FlagDef = { name: 'restart', type: 'string', value: 'POLICY', desc: 'Restart policy on exit: no, always, unless-stopped, on-failure[:MAX-RETRIES]' };

/** --restart no|always|unless-stopped|on-failure[:MAX] (docker's policies). */
export function parseRestart(v: string): RestartPolicy | undefined {
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(v);
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure'))
    throw invalidArgument(`invalid restart policy "${v}": use no, always, unless-stopped or on-failure[:MAX-RETRIES]`);
  if (m[1] === 'no') return undefined;
  return { name: m[1] as RestartPolicy['name'], ...(m[2] !== undefined ? { maxRetries: Number(m[2]) } : {}) };
}

/** The CPUs or memory nodes this host's cgroup offers, e.g. "0-1" (what --cpuset-* may name). */
function cpusetAvailable(file: 'cpus' | 'mems'): string {
  for (const p of [`/sys/fs/cgroup/cpuset/cpuset.${file}`, `/sys/fs/cgroup/cpuset.${file}.effective`]) {
    try {
      const v = readFileSync(p, 'utf8').trim();
      if (v) return v;
    } catch {
      // not this cgroup layout
    }
  }
  return file === 'cpus' ? `0-${availableParallelism() - 1}` : '0';
}

/** "0-2,4" → [0, 1, 2, 4], or undefined when it is not a cpuset list. */
function cpusetMembers(v: string): number[] | undefined {
  const out: number[] = [];
  for (const part of v.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) return undefined;
    for (let n = Number(m[1]); n <= Number(m[2] ?? m[1]); n++) out.push(n);
  }
  return out;
}

/** --cpuset-cpus / --cpuset-mems: a list the host has (podman's messages). */
export function parseCpuset(v: string, which: 'cpus' | 'mems'): string {
  const what = which === 'cpus' ? 'cpuset cpus' : 'cpuset mems';
  const asked = cpusetMembers(v);
  if (!asked) throw invalidArgument(`invalid value "${v}" for ${what}: expected a list such as 0-2,4`);
  const available = cpusetAvailable(which);
  const have = new Set(cpusetMembers(available) ?? []);
  if (!asked.every((n) => have.has(n)))
    throw invalidArgument(`requested ${which === 'cpus' ? 'CPUs' : 'memory nodes'} are not available - requested ${v}, available: ${available}`);
  return v;
}

/** --cpu-shares: a positive relative weight (cgroup v1 allows 2 to 262144). */
export function parseCpuShares(n: number): number {
  if (!Number.isSafeInteger(n) || n < 2 || n > 262144) throw invalidArgument(`invalid value ${n} for --cpu-shares: between 2 and 262144`);
  return n;
}

/**
 * --memory, --memory-swap, --memory-reservation together, with docker's rules: swap is the
 * memory+swap total (-1 unlimited) and needs --memory; the reservation is at most the limit.
 * current holds a running container's limits (update), which the given ones are checked against.
 */
export function memoryLimits(
  f: { memory?: string; swap?: string; reservation?: string },
  current: { memory?: number } = {},
): { memory?: number; memorySwap?: number; memoryReservation?: number } {
  const memory = f.memory !== undefined ? parseMemory(f.memory) : undefined;
  const limit = memory ?? current.memory;
  let memorySwap: number | undefined;
  if (f.swap !== undefined) {
    memorySwap = f.swap === '-1' ? -1 : parseBytes(f.swap, '--memory-swap');
    if (limit === undefined) throw invalidArgument('you should always set a memory limit when using a memoryswap limit (--memory with --memory-swap)');
    if (memorySwap !== -1 && memorySwap < limit) throw invalidArgument('minimum memoryswap limit should be larger than memory limit (--memory-swap is memory plus swap)');
  }
  const memoryReservation = f.reservation !== undefined ? parseBytes(f.reservation, '--memory-reservation') : undefined;
  if (memoryReservation !== undefined && limit !== undefined && limit < memoryReservation)
    throw invalidArgument('minimum memory limit cannot be less than memory reservation limit (--memory-reservation)');
  return { memory, memorySwap, memoryReservation };
}

/** --device HOST[:CTR][:PERMS]: a char or block device of the host (the container path defaults to the host's). */
export function parseDevice(v: string): { hostPath: string; containerPath: string; permissions?: string } {
  const parts = v.split(':');
  if (parts.length > 3 || !parts[0]) throw invalidArgument(`invalid device "${v}": expected HOST[:CONTAINER][:PERMISSIONS]`);
  const hostPath = parts[0];
  let containerPath = hostPath;
  let permissions: string | undefined;
  if (parts.length === 3) [containerPath, permissions] = [parts[1]!, parts[2]!];
  else if (parts.length === 2) {
    if (parts[1]!.startsWith('/')) containerPath = parts[1]!;
    else permissions = parts[1];
  }
  if (!isAbsolute(hostPath) || !isAbsolute(containerPath)) throw invalidArgument(`invalid device "${v}": paths must be absolute`);
  if (permissions !== undefined && !/^(?!.*(.).*\1)[rwm]{1,3}$/.test(permissions)) throw invalidArgument(`invalid device mode "${permissions}" in --device ${v}: a subset of rwm`);
  let st;
  try {
    st = statSync(hostPath);
  } catch {
    throw invalidArgument(`device ${hostPath} does not exist`);
  }
  if (!st.isCharacterDevice() && !st.isBlockDevice()) throw invalidArgument(`${hostPath} is not a device`);
  return { hostPath, containerPath, ...(permissions !== undefined ? { permissions } : {}) };
}

/** --sysctl KEY=VALUE (which keys a container may set is the spec builder's rule). */
export function parseSysctls(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of values) {
    const i = s.indexOf('=');
    if (i <= 0) throw invalidArgument(`invalid --sysctl "${s}": sysctl values must be in the form of KEY=VALUE`);
    out[s.slice(0, i).trim()] = s.slice(i + 1);
  }
  return out;
}

/** --expose PORT[-END][/PROTO] → "PORT/proto" entries, one per port. */
export function parseExpose(v: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(v);
  const first = Number(m?.[1]);
  const last = m?.[2] !== undefined ? Number(m[2]) : first;
  if (!m || first < 1 || last > 65535 || last < first) throw invalidArgument(`invalid port "${v}" for --expose: PORT[-END][/tcp|udp|sctp], ports 1 to 65535`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  return Array.from({ length: last - first + 1 }, (_, i) => `${first + i}/${proto}`);
}

/** --entrypoint: a JSON array (["/bin/echo","x"]) or one command; '' clears the image's. */
export function parseEntrypoint(v: string): string[] {
  if (v === '') return [];
  if (!v.trimStart().startsWith('[')) return [v];
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw invalidArgument(`invalid --entrypoint ${v}: not a JSON array of strings`);
  }
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string')) throw invalidArgument(`invalid --entrypoint ${v}: not a JSON array of strings`);
  return parsed;
}

/** --label-file: KEY=VALUE lines (blank lines and # comments skipped), before --label's. */
export function readLabelFiles(files: string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw invalidArgument(`unable to process labels: cannot read ${f}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    for (const line of text.split('\n')) {
      const t = line.trim();
      if (t && !t.startsWith('#')) out.push(t);
    }
  }
  return out;
}

/**
 * --oom-score-adj: -1000 to 1000, and no lower than this process's own value unless it may
 * lower it (CAP_SYS_RESOURCE): the container's process inherits it, and the kernel refuses less.
 */
export function parseOomScoreAdj(n: number): number {
  if (!Number.isInteger(n) || n < -1000 || n > 1000) throw invalidArgument(`invalid --oom-score-adj ${n}: must be between -1000 and 1000`);
  const status = readFileSync('/proc/self/status', 'utf8');
  const eff = BigInt('0x' + (/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0'));
  const CAP_SYS_RESOURCE = 24n;
  if ((eff >> CAP_SYS_RESOURCE) & 1n) return n;
  const own = Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim());
  if (n < own) throw invalidArgument(`invalid --oom-score-adj ${n}: this host permits ${own} to 1000 (going lower needs CAP_SYS_RESOURCE)`);
  return n;
}

/** The cgroup limits run, create and update take (one table, one parser). */
export const resourceFlags: FlagDef[] = [
  { name: 'memory', short: 'm', type: 'string', value: 'BYTES', desc: 'Memory limit (e.g. 512m, 1g)' },
  { name: 'memory-swap', type: 'string', value: 'BYTES', desc: 'Memory plus swap limit (-1 for unlimited swap); needs --memory' },
  { name: 'memory-reservation', type: 'string', value: 'BYTES', desc: 'Memory soft limit' },
  { name: 'cpus', type: 'string', value: 'N', desc: 'Number of CPUs (e.g. 1.5)' },
  { name: 'cpu-shares', short: 'c', type: 'int', value: 'N', desc: 'CPU shares (relative weight)' },
  { name: 'cpuset-cpus', type: 'string', value: 'LIST', desc: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'cpuset-mems', type: 'string', value: 'LIST', desc: 'Memory nodes in which to allow execution (0-3, 0,1)' },
  { name: 'pids-limit', type: 'int', value: 'N', desc: 'Tune container pids limit (-1 for unlimited)' },
];

/** resourceFlags' values, only those given; current: the limits a running container has (update). */
export function resourcesFromFlags(f: FlagValues, current: ContainerResources = {}): ContainerResources {
  const r: ContainerResources = {
    ...memoryLimits({ memory: f.memory as string | undefined, swap: f['memory-swap'] as string | undefined, reservation: f['memory-reservation'] as string | undefined }, current),
    ...cpuLimits(f.cpus as string | undefined),
    cpuShares: f['cpu-shares'] !== undefined ? parseCpuShares(f['cpu-shares'] as number) : undefined,
    cpusetCpus: f['cpuset-cpus'] !== undefined ? parseCpuset(f['cpuset-cpus'] as string, 'cpus') : undefined,
    cpusetMems: f['cpuset-mems'] !== undefined ? parseCpuset(f['cpuset-mems'] as string, 'mems') : undefined,
    pids: f['pids-limit'] as number | undefined,
  };
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as ContainerResources;
}
