// Parsing of docker-style option values: sizes, CPUs, env files, ulimits, times (volumes: mounts.ts).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import { invalidArgument } from '../errors/index.js';
import type { RestartPolicy, TmpfsMount } from '../container/index.js';
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
export function parseEnv(values: string[], files: string[]): string[] {
  const out: string[] = [];
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


/** --restart no|always|unless-stopped|on-failure[:MAX] (docker's policies). */
export function parseRestart(v: string): RestartPolicy | undefined {
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(v);
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure'))
    throw invalidArgument(`invalid restart policy "${v}": use no, always, unless-stopped or on-failure[:MAX-RETRIES]`);
  if (m[1] === 'no') return undefined;
  return { name: m[1] as RestartPolicy['name'], ...(m[2] !== undefined ? { maxRetries: Number(m[2]) } : {}) };
}
