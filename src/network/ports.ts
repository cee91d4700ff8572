// Published ports: `-p [IP:][HOSTPORT:]CTRPORT[/tcp|/udp|/sctp]` (ranges allowed) and -P,
// in the shape the portmap plugin's `portMappings` capability takes.
import { readFile } from 'node:fs/promises';
import { BerthError, alreadyExists, invalidArgument } from '../errors/index.js';
import { log } from '../log/index.js';
import { isIP, nodeCrypto, nodeDgram, nodeNet } from '../sys/index.js';

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

/** A host port taken by someone else: another container's mapping or a host socket. */
export interface TakenPort {
  hostIP: string;
  hostPort: number;
  protocol: Protocol;
  /** Who holds it, for the message: "container <id>" or "a process on the host". */
  holder: string;
}

const WILDCARDS = new Set(['', '0.0.0.0', '::']);

/** One spelling per IPv6 address (the URL parser's compressed form). */
function canonical(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

/** Whether two host addresses overlap: equal, or either is a wildcard. */
function sameAddress(a: string, b: string): boolean {
  return WILDCARDS.has(canonical(a)) || WILDCARDS.has(canonical(b)) || canonical(a) === canonical(b);
}

/** Refuses a fixed host port that `taken` already holds (docker's and podman's "port is already allocated"). */
export function checkAllocated(mappings: PortMapping[], taken: TakenPort[]): void {
  for (const m of mappings) {
    if (m.hostPort === 0) continue;
    const t = taken.find((t) => t.hostPort === m.hostPort && t.protocol === m.protocol && sameAddress(t.hostIP, m.hostIP));
    if (t) {
      const host = m.hostIP.includes(':') ? `[${m.hostIP}]` : m.hostIP || '0.0.0.0';
      throw alreadyExists(`Bind for ${host}:${m.hostPort}/${m.protocol} failed: port is already allocated (by ${t.holder})`);
    }
  }
}

/** /proc/net/{tcp,udp}{,6} address: IPv4 as one little-endian word, IPv6 as four. */
function procAddress(hex: string): string {
  const word = (w: string) => [6, 4, 2, 0].map((i) => parseInt(w.slice(i, i + 2), 16));
  if (hex.length === 8) return word(hex).join('.');
  const bytes = [0, 8, 16, 24].flatMap((i) => word(hex.slice(i, i + 8)));
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255) return bytes.slice(12).join('.'); // v4-mapped
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return canonical(groups.join(':'));
}

/**
 * /proc/net/sctp/eps: one line per SCTP endpoint (a bound socket), its port in decimal and
 * its local addresses (0.0.0.0 or :: when bound to all) from the LADDRS column on.
 */
export function parseSctpEndpoints(text: string): TakenPort[] {
  const [header, ...lines] = text.split('\n');
  const columns = (header ?? '').trim().split(/\s+/);
  const port = columns.indexOf('LPORT');
  const addrs = columns.indexOf('LADDRS');
  if (port < 0 || addrs < 0) return [];
  return lines.flatMap((line) => {
    const f = line.trim().split(/\s+/);
    const hostPort = Number(f[port]);
    if (f.length <= addrs || !Number.isInteger(hostPort)) return [];
    return f.slice(addrs).map((a) => a.replace(/^\*/, '')).filter((a) => isIP(a) !== 0)
      .map((a) => ({ hostIP: canonical(a), hostPort, protocol: 'sctp' as const, holder: 'a process on the host' }));
  });
}

/**
 * Sockets listening on the host: TCP in LISTEN, UDP bound and unconnected, SCTP endpoints
 * (no /proc/net/sctp: the module is not loaded, so no SCTP socket exists).
 */
export async function hostListeners(): Promise<TakenPort[]> {
  const out: TakenPort[] = parseSctpEndpoints(await readFile('/proc/net/sctp/eps', 'utf8').catch(() => ''));
  const files: [string, Protocol, string][] = [['tcp', 'tcp', '0A'], ['tcp6', 'tcp', '0A'], ['udp', 'udp', '07'], ['udp6', 'udp', '07']];
  for (const [file, protocol, listening] of files) {
    const text = await readFile(`/proc/net/${file}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== listening) continue;
      const [addr, port] = f[1]!.split(':');
      out.push({ hostIP: procAddress(addr!), hostPort: parseInt(port!, 16), protocol, holder: 'a process on the host' });
    }
  }
  return out;
}

/**
 * Replaces hostPort 0 with a port the kernel says is free now (bind to port 0, close) and
 * that no one in `taken` holds (a container's published port has no socket on the host).
 */
export async function assignHostPorts(mappings: PortMapping[], taken: TakenPort[] = []): Promise<PortMapping[]> {
  const out: PortMapping[] = [];
  for (const m of mappings) {
    if (m.hostPort !== 0) {
      out.push(m);
      continue;
    }
    for (let tries = 0; ; tries++) {
      const picked = { ...m, hostPort: await freePort(m.hostIP, m.protocol) };
      const clash = [...taken, ...out].some((t) => t.hostPort === picked.hostPort && t.protocol === m.protocol && sameAddress(t.hostIP, m.hostIP));
      if (!clash || tries >= 20) {
        out.push(picked);
        break;
      }
    }
  }
  return out;
}

function freePort(hostIP: string, protocol: Protocol): Promise<number> {
  return new Promise((resolve, reject) => {
    if (protocol === 'udp') {
      const sock = nodeDgram().createSocket(hostIP.includes(':') ? 'udp6' : 'udp4');
      sock.on('error', reject);
      sock.bind(0, hostIP || undefined, () => {
        const { port } = sock.address();
        sock.close(() => resolve(port));
      });
      return;
    }
    const srv = nodeNet().createServer();
    srv.on('error', reject);
    srv.listen(0, hostIP || undefined, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const LOCK_WAIT_MS = 60_000;

/**
 * Serializes checking and claiming host ports among berth processes of one store (scope):
 * an abstract unix socket bound by the holder. The kernel frees it when the holder exits,
 * however it dies, so no lock outlives its process. Returns the release function.
 */
export async function lockHostPorts(scope: string): Promise<() => void> {
  const name = `\0berth-host-ports-${nodeCrypto().createHash('sha256').update(scope).digest('hex').slice(0, 32)}`;
  const started = Date.now();
  let told = false;
  for (;;) {
    const srv = nodeNet().createServer();
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      srv.once('error', resolve);
      srv.listen({ path: name }, () => resolve(undefined));
    });
    if (!err) {
      srv.unref();
      let released = false;
      return () => {
        if (!released) srv.close();
        released = true;
      };
    }
    if (err.code !== 'EADDRINUSE') throw new BerthError('Internal', `cannot take the host-port lock: ${err.message}`);
    const waited = Date.now() - started;
    if (waited > LOCK_WAIT_MS) throw new BerthError('Unavailable', `timed out after ${LOCK_WAIT_MS / 1000} s waiting for another berth process to publish its ports`);
    if (waited > 2_000 && !told) {
      log.info('waiting for another berth process to publish its ports');
      told = true;
    }
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
  }
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
