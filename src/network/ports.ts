// Published ports: `-p [IP:][HOSTPORT:]CTRPORT[/tcp|/udp|/sctp]` (ranges allowed) and -P,
// in the shape the portmap plugin's `portMappings` capability takes.
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { invalidArgument } from '../errors/index.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface PortMapping {
  /** Empty = all addresses. */
  hostIP: string;
  /** 0 = pick a free port when the container starts. */
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}

function parsePort(s: string, what: string, spec: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw invalidArgument(`invalid ${what} "${s}" in -p ${spec}`);
  const lo = Number(m[1]);
  const hi = m[2] !== undefined ? Number(m[2]) : lo;
  if (lo < 1 || hi > 65535 || hi < lo) throw invalidArgument(`invalid ${what} "${s}" in -p ${spec} (1-65535)`);
  return [lo, hi];
}

/** Parses one -p value into mappings (one per port of a range). */
export function parsePublish(spec: string): PortMapping[] {
  let rest = spec;
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw invalidArgument(`invalid protocol "${p}" in -p ${spec} (tcp, udp or sctp)`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIP = '';
  // [v6]:host:ctr, or a.b.c.d:host:ctr
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIP = v6[1]!;
    rest = v6[2]!;
  } else {
    const parts = rest.split(':');
    if (parts.length === 3) {
      hostIP = parts[0]!;
      rest = `${parts[1]}:${parts[2]}`;
    } else if (parts.length > 3) {
      throw invalidArgument(`invalid -p ${spec} (want [IP:][HOSTPORT:]CTRPORT[/PROTO])`);
    }
  }
  if (hostIP !== '' && isIP(hostIP) === 0) throw invalidArgument(`invalid host IP "${hostIP}" in -p ${spec}`);
  const [hostPart, ctrPart] = rest.includes(':') ? rest.split(':') as [string, string] : ['', rest];
  const [cLo, cHi] = parsePort(ctrPart, 'container port', spec);
  let hLo = 0;
  let hHi = 0;
  if (hostPart !== '') {
    [hLo, hHi] = parsePort(hostPart, 'host port', spec);
    if (hHi - hLo !== cHi - cLo) throw invalidArgument(`-p ${spec}: host and container port ranges differ in length`);
  }
  const out: PortMapping[] = [];
  for (let i = 0; i <= cHi - cLo; i++) {
    out.push({ hostIP, hostPort: hostPart === '' ? 0 : hLo + i, containerPort: cLo + i, protocol });
  }
  return out;
}

/** -P: every port the image exposes ("80/tcp", "53/udp", "8080") to a free host port. */
export function publishAll(exposed: Iterable<string>): PortMapping[] {
  const out: PortMapping[] = [];
  for (const e of exposed) {
    for (const m of parsePublish(e)) out.push({ ...m, hostIP: '', hostPort: 0 });
  }
  return out;
}

/** Refuses two mappings of one host port and protocol on overlapping addresses. */
export function checkConflicts(mappings: PortMapping[]): void {
  const fixed = mappings.filter((m) => m.hostPort !== 0);
  fixed.forEach((m, i) => {
    const clash = fixed.slice(0, i).some((o) => o.hostPort === m.hostPort && o.protocol === m.protocol
      && (o.hostIP === m.hostIP || o.hostIP === '' || m.hostIP === ''));
    if (clash) throw invalidArgument(`host port ${m.hostPort}/${m.protocol} is published twice`);
  });
}

/** Replaces hostPort 0 with a port the kernel says is free now (bind to port 0, close). */
export async function assignHostPorts(mappings: PortMapping[]): Promise<PortMapping[]> {
  const out: PortMapping[] = [];
  for (const m of mappings) out.push(m.hostPort !== 0 ? m : { ...m, hostPort: await freePort(m.hostIP, m.protocol) });
  return out;
}

function freePort(hostIP: string, protocol: Protocol): Promise<number> {
  return new Promise((resolve, reject) => {
    if (protocol === 'udp') {
      const sock = createSocket(hostIP.includes(':') ? 'udp6' : 'udp4');
      sock.on('error', reject);
      sock.bind(0, hostIP || undefined, () => {
        const { port } = sock.address();
        sock.close(() => resolve(port));
      });
      return;
    }
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, hostIP || undefined, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The portmap plugin's runtimeConfig entry. */
export function toCniPortMappings(mappings: PortMapping[]): Record<string, unknown>[] {
  return mappings.map((m) => ({
    hostPort: m.hostPort, containerPort: m.containerPort, protocol: m.protocol, ...(m.hostIP ? { hostIP: m.hostIP } : {}),
  }));
}

/** `ps`/`port` style: 0.0.0.0:8080->80/tcp, joined with ", ". */
export function formatPorts(mappings: PortMapping[]): string {
  return mappings
    .map((m) => `${m.hostIP.includes(':') ? `[${m.hostIP}]` : m.hostIP || '0.0.0.0'}:${m.hostPort}->${m.containerPort}/${m.protocol}`)
    .join(', ');
}
