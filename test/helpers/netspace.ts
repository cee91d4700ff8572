// The names and addresses the suite's networks use, so that the leak finder can tell what
// the tests made from the host's own networks (podman's cni-podman0 on 10.88.0.0/16,
// berth's berth0 on 10.99.0.0/16, docker0 …):
//   bridges  bt<digits and lowercase letters>: instances (bt<pid>x<n>, and <that>n for a
//            second network), test/network/fixture.ts (bt<base36>), markers (bth<pid>);
//            bnp<pid>x<n>: bench/network's podman
//   subnets  /24s in 10.40.0.0 – 10.253.255.255: instances 10.40-239 (minus the host
//            tools' defaults below), network fixtures 10.200-249, bench/network 10.250-253
// Rules the CNI plugins make for an attachment name its address (or its chain names the
// rule that does), so an address in that range, outside every subnet the host itself
// configures, marks a rule as the tests'.

const TEST_BRIDGE = /^(bt[0-9a-z]{1,13}|bnp\d{1,5}x\d{1,6})$/;

export function isTestBridgeName(name: string): boolean {
  return TEST_BRIDGE.test(name);
}

/** The defaults of the host's tools: podman's network and its `network create` pool, berth's and its pool. */
export const HOST_DEFAULT_SUBNETS = ['10.88.0.0/16', '10.89.0.0/16', '10.99.0.0/16', '10.100.0.0/16'];

/** Second octets (10.N.0.0/16) the tests' subnets come from. */
const TEST_SECOND_OCTETS = { first: 40, last: 253 };

/** IPv4 dotted quad to a 32-bit unsigned number; NaN when it is not one. */
export function ipv4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) return NaN;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export interface Cidr {
  base: number;
  bits: number;
}

export function parseCidr(s: string): Cidr | undefined {
  const [ip, len] = s.split('/');
  const base = ipv4(ip ?? '');
  const bits = len === undefined ? 32 : Number(len);
  if (Number.isNaN(base) || !Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  return { base: base - (base % size), bits };
}

export function inCidr(ip: number, c: Cidr): boolean {
  const size = 2 ** (32 - c.bits);
  return ip - (ip % size) === c.base;
}

/** True for an address the tests' networks use that lies in none of hostSubnets. */
export function isTestAddress(ip: number, hostSubnets: Cidr[]): boolean {
  if (Number.isNaN(ip) || Math.floor(ip / 2 ** 24) !== 10) return false;
  const second = Math.floor(ip / 2 ** 16) % 256;
  if (second < TEST_SECOND_OCTETS.first || second > TEST_SECOND_OCTETS.last) return false;
  return !hostSubnets.some((c) => inCidr(ip, c));
}

const INSTANCE_OCTETS = Array.from({ length: 200 }, (_, i) => 40 + i).filter(
  (o) => !HOST_DEFAULT_SUBNETS.some((s) => s.startsWith(`10.${o}.`)),
);

/** The n-th instance network of this process: a bridge name (≤ 15 chars) and a /24 that parallel runs do not share. */
export function instanceNetwork(n: number): { bridge: string; subnet: string } {
  const slot = (process.pid * 7 + n) % (INSTANCE_OCTETS.length * 256);
  return { bridge: `bt${process.pid % 100000}x${n}`, subnet: `10.${INSTANCE_OCTETS[slot >> 8]}.${slot & 255}.0/24` };
}
