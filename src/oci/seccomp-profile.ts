// A seccomp profile file (--security-opt seccomp=FILE) as the runtime spec's linux.seccomp.
// The file is in docker's format, a superset of the runtime spec's: an archMap instead of a
// plain architecture list, and rules kept only for the capabilities or architectures they
// name (includes/excludes), which is resolved here for the container's own capabilities.
import { arch, release } from 'node:os';
import { invalidArgument } from '../errors/index.js';
import type { Seccomp, SeccompRule } from './types.js';

const ACTIONS = new Set([
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
]);
const OPS = new Set(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);
const NATIVE: Record<string, string> = { x64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64', ppc64: 'SCMP_ARCH_PPC64LE', s390x: 'SCMP_ARCH_S390X', ia32: 'SCMP_ARCH_X86', arm: 'SCMP_ARCH_ARM' };

interface Filter { caps?: string[]; arches?: string[]; minKernel?: string }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** "5.10.0-28-amd64" ≥ "4.8"? */
function kernelAtLeast(min: string): boolean {
  const have = release().split(/[.-]/).map(Number);
  const want = min.split('.').map(Number);
  for (let i = 0; i < want.length; i++) if ((have[i] ?? 0) !== want[i]) return (have[i] ?? 0) > want[i]!;
  return true;
}

/** This machine's architecture as the profiles' includes/excludes name it (Go's names). */
const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };

function applies(rule: { includes?: Filter; excludes?: Filter }, caps: Set<string>): boolean {
  const inc = rule.includes ?? {};
  const exc = rule.excludes ?? {};
  const here = GO_ARCH[arch()] ?? arch();
  if (inc.caps && !inc.caps.every((c) => caps.has(c))) return false;
  if (inc.arches && !inc.arches.includes(here)) return false;
  if (inc.minKernel && !kernelAtLeast(inc.minKernel)) return false;
  if (exc.caps && exc.caps.some((c) => caps.has(c))) return false;
  if (exc.arches && exc.arches.includes(here)) return false;
  if (exc.minKernel && kernelAtLeast(exc.minKernel)) return false;
  return true;
}

/**
 * The profile (parsed JSON of a profile file) for a container holding caps; a profile
 * that is not one is refused with what is wrong, where names the file in messages.
 */
export function seccompFromProfile(profile: unknown, where: string, caps: readonly string[] = []): Seccomp {
  const bad = (what: string) => invalidArgument(`seccomp profile ${where}: ${what}`);
  if (!isObject(profile)) throw bad('not a JSON object');
  const action = (v: unknown, at: string): string => {
    if (typeof v !== 'string' || !ACTIONS.has(v)) throw bad(`${at}: unknown action ${JSON.stringify(v)}`);
    return v;
  };
  const defaultAction = action(profile.defaultAction, 'defaultAction');
  const native = NATIVE[arch()] ?? 'SCMP_ARCH_NATIVE';
  let architectures: string[] = [];
  if (profile.archMap !== undefined) {
    if (!Array.isArray(profile.archMap)) throw bad('archMap is not a list');
    for (const m of profile.archMap) {
      if (!isObject(m) || typeof m.architecture !== 'string' || (m.subArchitectures !== undefined && m.subArchitectures !== null && !strings(m.subArchitectures))) throw bad('archMap entries need an architecture and a list of subArchitectures');
      if (m.architecture === native) architectures = [m.architecture, ...((m.subArchitectures as string[] | null) ?? [])];
    }
  } else if (profile.architectures !== undefined && profile.architectures !== null) {
    if (!strings(profile.architectures)) throw bad('architectures is not a list of names');
    architectures = [...profile.architectures];
  }
  if (profile.syscalls !== undefined && profile.syscalls !== null && !Array.isArray(profile.syscalls)) throw bad('syscalls is not a list');
  const held = new Set(caps);
  const syscalls: SeccompRule[] = [];
  for (const [i, r] of ((profile.syscalls as unknown[] | undefined) ?? []).entries()) {
    const at = `syscalls[${i}]`;
    if (!isObject(r)) throw bad(`${at} is not an object`);
    const names = r.names !== undefined ? r.names : typeof r.name === 'string' ? [r.name] : undefined;
    if (!strings(names) || names.length === 0 || names.some((n) => !/^[a-z0-9_]+$/.test(n))) throw bad(`${at}: names must list syscall names`);
    for (const k of ['includes', 'excludes'] as const) {
      const v = r[k];
      if (v !== undefined && (!isObject(v) || (v.caps !== undefined && !strings(v.caps)) || (v.arches !== undefined && !strings(v.arches)) || (v.minKernel !== undefined && typeof v.minKernel !== 'string')))
        throw bad(`${at}.${k} is not {caps, arches, minKernel}`);
    }
    const rule: SeccompRule = { names: [...names], action: action(r.action, at) };
    if (r.errnoRet !== undefined) {
      if (!Number.isInteger(r.errnoRet)) throw bad(`${at}: errnoRet is not a number`);
      rule.errnoRet = r.errnoRet as number;
    }
    if (r.args !== undefined && r.args !== null) {
      if (!Array.isArray(r.args)) throw bad(`${at}: args is not a list`);
      rule.args = r.args.map((a, j) => {
        if (!isObject(a) || !Number.isInteger(a.index) || !Number.isInteger(a.value) || typeof a.op !== 'string' || !OPS.has(a.op)) throw bad(`${at}.args[${j}] needs index, value and a known op`);
        return { index: a.index as number, value: a.value as number, ...(Number.isInteger(a.valueTwo) ? { valueTwo: a.valueTwo as number } : {}), op: a.op };
      });
    }
    if (applies(r as { includes?: Filter; excludes?: Filter }, held)) syscalls.push(rule);
  }
  const out: Seccomp = { defaultAction, architectures, syscalls };
  if (profile.defaultErrnoRet !== undefined) {
    if (!Number.isInteger(profile.defaultErrnoRet)) throw bad('defaultErrnoRet is not a number');
    out.defaultErrnoRet = profile.defaultErrnoRet as number;
  }
  return out;
}
