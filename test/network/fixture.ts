// A private CNI world per test: temp conf/cache/run/IPAM dirs under /tmp/berth-test-*, its
// own bridge name and subnet, and counters for what a network attachment leaves on the
// host (netns files, veths, iptables rules and chains, host-local reservations).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_DIR_PREFIX } from '../helpers/index.js';
import type { NetworkConfigList, PluginConf } from '../../src/network/index.js';

export interface World {
  dir: string;
  confDir: string;
  cacheDir: string;
  netnsDir: string;
  /** XDG_RUNTIME_DIR of the plugins (dnsname's files). */
  dnsDir: string;
  ipamDir: string;
  bridge: string;
  /** e.g. 10.213.7 — the /24 is `${prefix}.0/24`. */
  prefix: string;
  subnet: string;
  /** Bridges this world created (deleted in cleanup). */
  bridges: Set<string>;
  cleanup(): void;
}

let seq = 0;

/** Random private names, so test files can run in parallel with each other. */
export function newWorld(): World {
  const dir = mkdtempSync(`/tmp/${TEST_DIR_PREFIX}net-`);
  const w: World = {
    dir,
    confDir: join(dir, 'net.d'),
    cacheDir: join(dir, 'cache'),
    netnsDir: join(dir, 'netns'),
    dnsDir: join(dir, 'dnsname'),
    ipamDir: join(dir, 'ipam'),
    bridge: randomBridge(),
    prefix: randomPrefix(),
    subnet: '',
    bridges: new Set(),
    cleanup: () => {
      for (const n of listNetnsFiles(w)) {
        try {
          execFileSync('umount', ['-l', join(w.netnsDir, n)], { stdio: 'ignore' });
        } catch {
          // Not mounted.
        }
      }
      for (const b of w.bridges) deleteLink(b);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  w.subnet = `${w.prefix}.0/24`;
  w.bridges.add(w.bridge);
  mkdirSync(w.confDir);
  return w;
}

export function randomBridge(): string {
  return `bt${process.pid.toString(36)}${(++seq).toString(36)}${Math.random().toString(36).slice(2, 6)}`.slice(0, 15);
}

export function randomPrefix(): string {
  return `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
}

export function deleteLink(name: string): void {
  try {
    execFileSync('ip', ['link', 'del', name], { stdio: 'ignore' });
  } catch {
    // Already gone.
  }
}

/** A bridge network like the default one, on the world's bridge/subnet, IPAM state in ipamDir. */
export function bridgeConfList(w: World, name: string, o: { version?: string; plugins?: PluginConf[]; bridge?: string; prefix?: string } = {}): NetworkConfigList {
  const prefix = o.prefix ?? w.prefix;
  return {
    cniVersion: o.version ?? '1.0.0',
    name,
    plugins: [
      {
        type: 'bridge', bridge: o.bridge ?? w.bridge, isGateway: true, ipMasq: true, hairpinMode: true,
        ipam: {
          type: 'host-local', dataDir: w.ipamDir,
          ranges: [[{ subnet: `${prefix}.0/24`, gateway: `${prefix}.1` }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'firewall' },
      { type: 'tuning' },
      ...(o.plugins ?? []),
    ],
  };
}

export function writeConf(w: World, file: string, doc: unknown): void {
  writeFileSync(join(w.confDir, file), typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
}

export function listNetnsFiles(w: World): string[] {
  try {
    return readdirSync(w.netnsDir);
  } catch {
    return [];
  }
}

/** Host-side veths enslaved to a bridge. */
export function vethsOn(bridge: string): string[] {
  let out = '';
  try {
    out = execFileSync('ip', ['-o', 'link', 'show', 'master', bridge, 'type', 'veth'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return []; // no such bridge
  }
  return out.split('\n').filter(Boolean).map((l) => l.split(':')[1]!.trim().split('@')[0]!);
}

export function allVeths(): number {
  return execFileSync('ip', ['-o', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
}

/** host-local reservations: one file per reserved IP under dataDir/<network>/. */
export function reservations(w: World, network: string): string[] {
  try {
    return readdirSync(join(w.ipamDir, network)).filter((n) => /^[0-9a-f.:]+$/.test(n) && (n.includes('.') || n.includes(':')));
  } catch {
    return [];
  }
}

/** iptables rules (nat + filter) that mention the prefix or one of the words. */
export function iptablesRules(prefix: string, words: string[] = []): string[] {
  const out = execFileSync('iptables-save', [], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.startsWith('-A') && (l.includes(`${prefix}.`) || words.some((w) => l.includes(w))));
}

/**
 * The iptables chains of these attachments: the plugins name per-attachment chains
 * CNI-[DN-|SN-]<start of sha512(network + containerId) in hex>.
 */
export function attachmentChains(attachments: [network: string, containerId: string][]): string[] {
  const hashes = attachments.map(([n, id]) => createHash('sha512').update(n + id).digest('hex'));
  const out = execFileSync('iptables-save', [], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.startsWith(':CNI-')).map((l) => l.slice(1).split(' ')[0]!)
    .filter((c) => {
      const tail = c.replace(/^CNI-((DN|SN)-)?/, '');
      return tail.length >= 8 && hashes.some((h) => h.startsWith(tail));
    });
}

/** True when a network interface of this name exists on the host. */
export function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs argv inside the netns at path. */
export function inNetns(path: string, argv: string[], timeoutMs = 10_000): string {
  return execFileSync('nsenter', [`--net=${path}`, ...argv], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts a TCP server inside the netns answering every connection with `reply`. */
export async function tcpServerIn(path: string, port: number, reply: string): Promise<ChildProcess> {
  const script = `require('net').createServer((s)=>{s.end(${JSON.stringify(reply)})}).listen(${port},'0.0.0.0',()=>console.log('up'))`;
  const child = spawn('nsenter', [`--net=${path}`, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`server exited with ${c}`)));
    child.stdout!.once('data', () => resolve());
  });
  return child;
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await done;
}

/** Connects to host:port and returns what the server sent. */
export async function fetchTcp(host: string, port: number, timeoutMs = 5000): Promise<string> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`timeout connecting to ${host}:${port}`)); }, timeoutMs);
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString()); });
  });
}

/** A fake plugin (shell script) for protocol cases the installed plugins cannot produce. */
export function fakePlugin(dir: string, name: string, body: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}
