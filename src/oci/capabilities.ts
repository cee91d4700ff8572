// Linux capabilities: names, docker's default set, the host's bounding set, and the
// --cap-add/--cap-drop arithmetic.
import { readFileSync } from 'node:fs';
import { invalidArgument } from '../errors/index.js';

/** Capability names by number (linux/capability.h). */
export const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** docker's default set: enough for ordinary programs and package managers run as root. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** 'net_admin', 'NET_ADMIN' or 'CAP_NET_ADMIN' → 'CAP_NET_ADMIN'; 'ALL' stays 'ALL'. */
function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!(CAPABILITIES as readonly string[]).includes(full)) throw invalidArgument(`unknown capability: "${name}"`);
  return full;
}

let hostCaps: string[] | undefined;

/** The capabilities this process can hand on (its bounding set): runc fails on any other. */
export function hostCapabilities(): string[] {
  if (hostCaps) return hostCaps;
  const status = readFileSync('/proc/self/status', 'utf8');
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  const mask = hex ? BigInt(`0x${hex}`) : 0n;
  hostCaps = CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
  return hostCaps;
}

/** Reads the bounding set again on next use (a long-running process may be given other capabilities). */
export function refreshHostCapabilities(): void {
  hostCaps = undefined;
}

/** Applies --cap-add/--cap-drop to the default set the way docker does (drop ALL first, then add). */
export function containerCapabilities(add: string[] = [], drop: string[] = []): string[] {
  const adds = add.map(normalizeCapability);
  const drops = drop.map(normalizeCapability);
  const host = hostCapabilities();
  let caps = drops.includes('ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drops.includes(c));
  if (adds.includes('ALL')) {
    caps = host.filter((c) => !drops.includes(c) || adds.includes(c));
  } else {
    for (const c of adds) {
      if (!host.includes(c)) throw invalidArgument(`capability ${c} is not available on this host`);
      if (!caps.includes(c)) caps.push(c);
    }
  }
  // Defaults the host lacks are left out rather than failing every container.
  return caps.filter((c) => host.includes(c));
}
