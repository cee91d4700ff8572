// IPv4/IPv6 address and subnet helpers for validating and choosing subnets.
import { isIP } from '../sys/index.js';
import { invalidArgument } from '../errors/index.js';

export interface Subnet {
  /** Normalised CIDR, e.g. 10.99.0.0/16. */
  cidr: string;
  family: 4 | 6;
  /** Network address and prefix length. */
  base: bigint;
  bits: number;
}

function toBig(ip: string): bigint {
  if (isIP(ip) === 4) return ip.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n);
  // Expand "::" to the right number of zero groups.
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

function fromBig(n: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** Parses "a.b.c.d/n" or an IPv6 CIDR; host bits are cleared. */
export function parseSubnet(cidr: string): Subnet {
  const [addr, len, extra] = cidr.split('/');
  const family = isIP(addr ?? '');
  const max = family === 4 ? 32 : 128;
  const bits = Number(len);
  if (family === 0 || extra !== undefined || len === undefined || !/^\d+$/.test(len) || bits > max || bits < 1) {
    throw invalidArgument(`invalid subnet "${cidr}" (want a CIDR such as 10.99.0.0/16)`);
  }
  const width = BigInt(max);
  const mask = ((1n << BigInt(bits)) - 1n) << (width - BigInt(bits));
  const base = toBig(addr!) & mask;
  return { cidr: `${fromBig(base, family as 4 | 6)}/${bits}`, family: family as 4 | 6, base, bits };
}

function size(s: Subnet): bigint {
  return 1n << BigInt((s.family === 4 ? 32 : 128) - s.bits);
}

export function contains(s: Subnet, ip: string): boolean {
  if (isIP(ip) !== s.family) return false;
  const n = toBig(ip);
  return n >= s.base && n < s.base + size(s);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  if (a.family !== b.family) return false;
  return a.base < b.base + size(b) && b.base < a.base + size(a);
}

/** The first usable address (network address + 1), the conventional gateway. */
export function firstHost(s: Subnet): string {
  return fromBig(s.base + 1n, s.family);
}

/** The subnet of the same size right after s; undefined past the end of the address space. */
export function nextSubnet(s: Subnet): Subnet | undefined {
  const base = s.base + size(s);
  if (base >= 1n << BigInt(s.family === 4 ? 32 : 128)) return undefined;
  return { cidr: `${fromBig(base, s.family)}/${s.bits}`, family: s.family, base, bits: s.bits };
}
