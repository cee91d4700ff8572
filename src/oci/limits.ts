// Memory, --ulimit and --sysctl validation. Raising a hard rlimit needs CAP_SYS_RESOURCE,
// which the runtime may not have (it inherits berth's limits), so asked values above this
// process's hard limits are refused here with a clear message instead of a runtime failure.
import { readFileSync } from 'node:fs';
import { invalidArgument } from '../errors/index.js';
import type { Rlimit } from './types.js';

// `/proc/self/limits` row titles → RLIMIT_* names.
const LIMIT_ROWS: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Below this a container cannot even start (docker's limit). */
const MIN_MEMORY = 6 * 1024 * 1024;

/** A memory limit in bytes, checked as the CLI and the spec builder both need it. */
export function checkMemoryLimit(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < MIN_MEMORY) throw invalidArgument(`invalid memory limit ${bytes}: the minimum is 6MB`);
  return bytes;
}

/** Stands in for "unlimited": exact 2^64-1 does not survive a JS number in JSON. */
const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** This process's hard limits (Infinity = unlimited), keyed by RLIMIT_* name. */
function hostHardLimits(): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync('/proc/self/limits', 'utf8').split('\n')) {
    const row = Object.keys(LIMIT_ROWS).find((title) => line.startsWith(title));
    if (!row) continue;
    const fields = line.slice(row.length).trim().split(/\s+/);
    const hard = fields[1];
    if (hard !== undefined) out.set(LIMIT_ROWS[row]!, hard === 'unlimited' ? Infinity : Number(hard));
  }
  return out;
}

/** 'nofile' / 'NOFILE' / 'RLIMIT_NOFILE' → 'RLIMIT_NOFILE'. */
function normalizeRlimitType(type: string): string {
  const upper = type.trim().toUpperCase();
  const full = upper.startsWith('RLIMIT_') ? upper : `RLIMIT_${upper}`;
  if (!Object.values(LIMIT_ROWS).includes(full)) throw invalidArgument(`invalid ulimit type: "${type}"`);
  return full;
}

/** Validates --ulimit values; -1 means unlimited (only when the host's hard limit is). */
export function buildRlimits(ulimits: { type: string; soft: number; hard: number }[]): Rlimit[] {
  const host = hostHardLimits();
  const byType = new Map<string, Rlimit>();
  for (const u of ulimits) {
    const type = normalizeRlimitType(u.type);
    const name = type.slice('RLIMIT_'.length).toLowerCase();
    const hostHard = host.get(type) ?? Infinity;
    const value = (v: number, which: string): number => {
      if (v === -1) {
        if (hostHard !== Infinity) {
          throw invalidArgument(`ulimit ${name}: unlimited is above the host's hard limit ${hostHard}`);
        }
        return UNLIMITED;
      }
      if (!Number.isSafeInteger(v) || v < 0) throw invalidArgument(`ulimit ${name}: invalid ${which} value ${v}`);
      if (v > hostHard) throw invalidArgument(`ulimit ${name}: ${which} limit ${v} is above the host's hard limit ${hostHard}`);
      return v;
    };
    const soft = value(u.soft, 'soft');
    const hard = value(u.hard, 'hard');
    if (soft > hard) throw invalidArgument(`ulimit ${name}: soft limit ${u.soft} is above the hard limit ${u.hard}`);
    byType.set(type, { type, soft, hard });
  }
  return [...byType.values()];
}

// Sysctls that are per-namespace, so a container may set them (docker's rule).
const IPC_SYSCTLS = ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'];

export function validateSysctls(sysctls: Record<string, string>, opts: { hostNetwork: boolean; hostIpc?: boolean }): Record<string, string> {
  for (const [key, value] of Object.entries(sysctls)) {
    if (typeof value !== 'string') throw invalidArgument(`sysctl "${key}": value must be a string`);
    if (IPC_SYSCTLS.includes(key) || key.startsWith('fs.mqueue.')) {
      if (opts.hostIpc) throw invalidArgument(`sysctl "${key}" cannot be set with the host IPC namespace`);
      continue;
    }
    if (key.startsWith('net.')) {
      if (opts.hostNetwork) throw invalidArgument(`sysctl "${key}" cannot be set with the host network`);
      continue;
    }
    throw invalidArgument(`sysctl "${key}" is not allowed in a container: it is not namespaced`);
  }
  return { ...sysctls };
}
