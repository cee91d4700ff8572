// berthd against containerd 1.6 on the CRI's streaming paths (test/cri/containerd.ts starts
// containerd with its own config, root and socket), both through their CRI socket, on the
// same busybox image from one registry on 127.0.0.1, in a pod of the same config each:
//   (a) ExecSync round trip of `echo hi`;
//   (b) streaming Exec of `echo hi`: the Exec RPC, the URL upgraded to WebSocket
//       (v4.channel.k8s.io, the newest containerd 1.6 speaks) or SPDY/3.1, until the Status
//       on the error channel — clients written here from the protocol facts;
//   (c) port-forward throughput: busybox httpd in the pod serves a file of random bytes from
//       a host dir mounted into the container, downloaded through the PortForward URL over
//       WebSocket (v4 channels) and SPDY (portforward.k8s.io).
// Latencies alternate between the two runtimes run by run, so load from elsewhere hits both.
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { newInstance, type Instance } from '../test/helpers/index.js';
import { insecureConf, tempDir } from '../test/registry/fixture.js';
import { startBerthd } from '../test/cri/berthd.js';
import type { CriClient } from '../test/cri/client.js';
import { startContainerd, startPeerRegistry } from '../test/cri/containerd.js';
import { SpdySession, type SpdyStream } from '../src/stream/spdy/index.js';
import { Cleanups, fmt, median } from './common.js';

interface Options {
  runs: number;
  transfers: number;
  sizeMb: number;
  pauseMs: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '50' },
      transfers: { type: 'string', default: '3' },
      'size-mb': { type: 'string', default: '100' },
      'pause-ms': { type: 'string', default: '50' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('Usage: bench/stream [--runs N (50), exec round trips] [--transfers N (3), port-forward downloads] [--size-mb N (100)] [--pause-ms N (50), idle time before each round trip]');
    process.exit(0);
  }
  const opts = { runs: Number(values.runs), transfers: Number(values.transfers), sizeMb: Number(values['size-mb']), pauseMs: Number(values['pause-ms']) };
  if (![opts.runs, opts.transfers, opts.sizeMb].every((n) => Number.isInteger(n) && n >= 1) || !(Number.isInteger(opts.pauseMs) && opts.pauseMs >= 0)) {
    console.error('stream: --runs, --transfers and --size-mb must be >= 1, --pause-ms >= 0');
    process.exit(2);
  }
  return opts;
}

/** A CRI runtime under test, with its pod: a sleeper to exec in and an httpd to forward to. */
interface Subject {
  name: string;
  cri: CriClient;
  image: string;
  logDir: string;
  /** The daemon, whose CPU time a transfer costs (containerd 1.6 forwards in its own process). */
  daemonPid: number;
  pod: string;
  sleeper: string;
}

const NAMESPACES = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' };
/**
 * What a kubelet sends for a pod that names no seccomp profile. Left out, the two differ:
 * berth applies its default profile (as cri-o), containerd 1.6 none.
 */
const SECCOMP = { profile_type: 'Unconfined' };
const HTTP_PORT = 8080;
const DATA_FILE = 'data.bin';
const ECHO = ['echo', 'hi'];
/** The SPDY client's stream window (see spdyConnect). */
const RECEIVE_WINDOW = 16 << 20;

const now = () => process.hrtime.bigint();
const msSince = (t0: bigint) => Number(now() - t0) / 1e6;

async function startPod(s: Omit<Subject, 'pod' | 'sleeper'>, dataDir: string): Promise<Subject> {
  const name = `stream-${s.name}`;
  const config = {
    metadata: { name, uid: `uid-${name}`, namespace: 'bench', attempt: 0 },
    hostname: name,
    log_directory: join(s.logDir, name),
    linux: { security_context: { namespace_options: NAMESPACES } },
  };
  const { pod_sandbox_id: pod } = await s.cri.runtime('RunPodSandbox', { config });
  const run = async (cname: string, command: string[], extra: object = {}) => {
    const { container_id: id } = await s.cri.runtime('CreateContainer', {
      pod_sandbox_id: pod,
      sandbox_config: config,
      config: { metadata: { name: cname, attempt: 0 }, image: { image: s.image }, command, log_path: `${cname}.log`, linux: { security_context: { namespace_options: NAMESPACES, seccomp: SECCOMP } }, ...extra },
    });
    await s.cri.runtime('StartContainer', { container_id: id });
    return id as string;
  };
  const sleeper = await run('sleeper', ['sleep', '3600']);
  await run('httpd', ['httpd', '-f', '-p', `127.0.0.1:${HTTP_PORT}`, '-h', '/www'], { mounts: [{ container_path: '/www', host_path: dataDir, readonly: true }] });
  return { ...s, pod, sleeper };
}

async function removePod(cri: CriClient, pod: string): Promise<void> {
  await cri.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  await cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
}

// ---- (a) ExecSync ----

async function execSync(s: Subject): Promise<number> {
  const t0 = now();
  const r = await s.cri.runtime('ExecSync', { container_id: s.sleeper, cmd: ECHO, timeout: 10 });
  const ms = msSince(t0);
  if (r.exit_code !== 0 || Buffer.from(r.stdout).toString() !== 'hi\n') throw new Error(`${s.name}: ExecSync echo hi: exit ${r.exit_code}, stdout ${JSON.stringify(Buffer.from(r.stdout).toString())}`);
  return ms;
}

// ---- (b) streaming Exec ----

const execRequest = (s: Subject) => ({ container_id: s.sleeper, cmd: ECHO, stdin: false, stdout: true, stderr: true, tty: false });

function checkExec(s: Subject, how: string, stdout: string, status: string): void {
  const st = JSON.parse(status) as { status?: string };
  if (stdout !== 'hi\n' || st.status !== 'Success') throw new Error(`${s.name}: exec over ${how}: stdout ${JSON.stringify(stdout)}, status ${status}`);
}

/**
 * The v4 channel protocol: every message starts with its channel (0 stdin, 1 stdout,
 * 2 stderr, 3 error); the server ends with a JSON Status on 3. Time from the RPC to the
 * Status; the connection is closed before the next run.
 */
async function wsExec(s: Subject): Promise<number> {
  const t0 = now();
  const { url } = await s.cri.runtime('Exec', execRequest(s));
  const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v4.channel.k8s.io'], { perMessageDeflate: false });
  const closed = once(ws, 'close');
  let stdout = '';
  const ms = await new Promise<number>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('close', () => reject(new Error(`${s.name}: exec over WebSocket closed before its Status`)));
    ws.on('message', (m: Buffer) => {
      if (m.length === 0) return;
      if (m[0] === 1) stdout += m.subarray(1).toString();
      else if (m[0] === 3) {
        const ms = msSince(t0);
        try {
          checkExec(s, 'WebSocket', stdout, m.subarray(1).toString());
          resolve(ms);
        } catch (e) {
          reject(e);
        }
      } else if (m[0] === 2 && m.length > 1) reject(new Error(`${s.name}: stderr ${m.subarray(1).toString()}`));
    });
  });
  ws.close(1000);
  await closed;
  return ms;
}

/** An HTTP/1.1 Upgrade to SPDY/3.1 done by hand: the client session on the upgraded socket. */
async function spdyConnect(url: string, protocol: string): Promise<SpdySession> {
  const u = new URL(url);
  const sock = connect(Number(u.port), u.hostname);
  await once(sock, 'connect');
  sock.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  for (;;) {
    const [chunk] = (await once(sock, 'data')) as [Buffer];
    buf = Buffer.concat([buf, chunk]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) continue;
    const head = buf.subarray(0, end).toString();
    if (!head.startsWith('HTTP/1.1 101')) {
      sock.destroy();
      throw new Error(`SPDY upgrade refused: ${head.split('\r\n')[0]}`);
    }
    sock.pause();
    if (end + 4 < buf.length) sock.unshift(buf.subarray(end + 4));
    // A large window: the client takes what comes as it comes, as kubectl's
    // spdystream (no flow control at all) does; a 64 KiB window would bound berth's sends (it
    // honours windows) but not containerd's (it ignores them).
    return new SpdySession(sock, { server: false, receiveWindow: RECEIVE_WINDOW });
  }
}

const collect = (st: SpdyStream) => {
  let text = '';
  st.on('data', (b: Buffer) => (text += b.toString()));
  return () => text;
};

/** v4 over SPDY: an error, a stdout and a stderr stream, as kubectl opens them; time from the RPC to a complete Status on the error stream. */
async function spdyExec(s: Subject): Promise<number> {
  const t0 = now();
  const { url } = await s.cri.runtime('Exec', execRequest(s));
  const session = await spdyConnect(url, 'v4.channel.k8s.io');
  const closed = once(session, 'close');
  try {
    const error = session.openStream({ streamtype: 'error' });
    const stdout = collect(session.openStream({ streamtype: 'stdout' }));
    const stderr = collect(session.openStream({ streamtype: 'stderr' }));
    let status = '';
    const ms = await new Promise<number>((resolve, reject) => {
      session.once('close', () => reject(new Error(`${s.name}: exec over SPDY: the session closed before its Status`)));
      error.on('data', (b: Buffer) => {
        status += b.toString();
        try {
          JSON.parse(status);
        } catch {
          return; // not complete yet
        }
        const ms = msSince(t0);
        // stdout is written and ended before the status: all of it is here.
        try {
          if (stderr()) throw new Error(`${s.name}: stderr ${stderr()}`);
          checkExec(s, 'SPDY', stdout(), status);
          resolve(ms);
        } catch (e) {
          reject(e);
        }
      });
    });
    return ms;
  } finally {
    session.close();
    await closed;
  }
}

// ---- (c) port-forward ----

/**
 * Counts an HTTP/1.0 response: the head, then Content-Length bytes of body. Returns a feed
 * function that resolves done once the whole body is there.
 */
function httpResponse(expected: number): { feed(b: Buffer): void; done: Promise<void> } {
  let head = Buffer.alloc(0);
  let body = -1;
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return {
    done,
    feed(b: Buffer) {
      if (body < 0) {
        head = Buffer.concat([head, b]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = head.subarray(0, end).toString();
        const len = /\r\ncontent-length: *(\d+)/i.exec(text);
        if (!text.startsWith('HTTP/1.') || !/^HTTP\/1\.\d 200/.test(text) || !len || Number(len[1]) !== expected) return reject(new Error(`unexpected response: ${text.split('\r\n')[0]}`));
        body = head.length - end - 4;
      } else body += b.length;
      if (body === expected) resolve();
      else if (body > expected) reject(new Error(`more body than the ${expected} bytes announced`));
    },
  };
}

const GET = (path: string) => Buffer.from(`GET /${path} HTTP/1.0\r\n\r\n`);

/**
 * Port-forward over WebSocket (v4 channels): port i's data channel is 2i, its error channel
 * 2i+1; the server's first message on each carries the port (2 bytes, little-endian); the
 * client sends raw data behind the channel byte. Ports in the URL's query, as kubelet reads
 * them. Returns ms from sending the request to the response's last byte.
 */
async function wsDownload(s: Subject, path: string, size: number): Promise<number> {
  const { url } = await s.cri.runtime('PortForward', { pod_sandbox_id: s.pod, port: [HTTP_PORT] });
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}?port=${HTTP_PORT}`, ['v4.channel.k8s.io'], { perMessageDeflate: false });
  const closed = once(ws, 'close');
  const res = httpResponse(size);
  const seen = new Set<number>();
  let error = '';
  const failed = new Promise<never>((_, reject) => {
    ws.on('error', reject);
    ws.on('close', () => reject(new Error(`${s.name}: port-forward over WebSocket closed early${error ? `: ${error}` : ''}`)));
  });
  ws.on('message', (m: Buffer) => {
    if (m.length === 0) return;
    let data = m.subarray(1);
    if (!seen.has(m[0])) {
      seen.add(m[0]);
      data = data.subarray(2);
    }
    if (m[0] === 0) res.feed(data);
    else if (m[0] === 1) error += data.toString();
  });
  try {
    await Promise.race([once(ws, 'open'), failed]);
    const t0 = now();
    ws.send(Buffer.concat([Buffer.of(0), GET(path)]));
    await Promise.race([res.done, failed]);
    return msSince(t0);
  } finally {
    failed.catch(() => undefined);
    ws.close(1000);
    await closed;
  }
}

/** Port-forward over SPDY (portforward.k8s.io): an error and a data stream with the port and one requestID, as kubectl opens them. */
async function spdyDownload(s: Subject, path: string, size: number): Promise<number> {
  const { url } = await s.cri.runtime('PortForward', { pod_sandbox_id: s.pod, port: [HTTP_PORT] });
  const session = await spdyConnect(url, 'portforward.k8s.io');
  const closed = once(session, 'close');
  try {
    const headers = { port: String(HTTP_PORT), requestid: '0' };
    const error = collect(session.openStream({ ...headers, streamtype: 'error' }, { fin: true }));
    const data = session.openStream({ ...headers, streamtype: 'data' });
    const res = httpResponse(size);
    data.on('data', (b: Buffer) => res.feed(b));
    const failed = new Promise<never>((_, reject) => {
      data.once('end', () => reject(new Error(`${s.name}: port-forward over SPDY: the data stream ended early${error() ? `: ${error()}` : ''}`)));
      session.once('close', () => reject(new Error(`${s.name}: port-forward over SPDY: the session closed early`)));
    });
    failed.catch(() => undefined);
    const t0 = now();
    data.write(GET(path));
    await Promise.race([res.done, failed]);
    return msSince(t0);
  } finally {
    session.close();
    await closed;
  }
}

/** httpd is up once a small file comes through the forward. */
async function waitForHttpd(s: Subject): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await wsDownload(s, 'ok', 3);
      return;
    } catch (e) {
      if (i >= 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** size bytes of random data in dir/name, written in chunks. */
function writeRandomFile(path: string, size: number): void {
  const fd = openSync(path, 'w', 0o644);
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (let left = size; left > 0; left -= chunk.length) writeSync(fd, randomFillSync(chunk), 0, Math.min(left, chunk.length));
  } finally {
    closeSync(fd);
  }
}

/** CPU time (user + system) of a process so far, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

const col = (x: string) => x.padStart(11);
const ratio = (a: number, b: number) => (a / b).toFixed(2).padStart(8);
const atMost = (r: number, max: number) => `  (goal ≤ ${max.toFixed(1)}: ${r <= max ? 'met' : 'missed'})`;
const atLeast = (r: number, min: number) => `  (goal ≥ ${min.toFixed(1)}: ${r >= min ? 'met' : 'missed'})`;
const mbps = (x: number) => `${x.toFixed(1)} MB/s`.padStart(10);

async function main(): Promise<void> {
  const opts = parseOptions();
  const cleanups = new Cleanups();
  try {
    const [l1, l5] = loadavg();
    console.log(`stream: ${opts.runs} exec round trips per kind (${opts.pauseMs} ms idle before each), ${opts.transfers} port-forward downloads of ${opts.sizeMb} MB per transport; load average ${l1.toFixed(2)} ${l5.toFixed(2)}`);
    const images = await startPeerRegistry(cleanups);
    const dataDir = tempDir(cleanups, 'stream-data');
    const size = opts.sizeMb * 1_000_000;
    writeRandomFile(join(dataDir, DATA_FILE), size);
    writeRandomFile(join(dataDir, 'ok'), 3);

    const berthInst: Instance = await newInstance(cleanups);
    const berthd = await startBerthd(cleanups, berthInst, {
      args: ['--log-level', 'warn'],
      env: { CONTAINERS_REGISTRIES_CONF: insecureConf(cleanups, images.host), REGISTRY_AUTH_FILE: join(berthInst.base, 'none.json') },
    });
    // On a failure midway: the pods go through the CRI (their network too) before berthd is killed.
    cleanups.after(async () => {
      for (const p of (await berthd.cri.runtime('ListPodSandbox', {})).items) await removePod(berthd.cri, p.id);
    });
    const ctrInst = await newInstance(cleanups);
    const ctr = await startContainerd(cleanups, ctrInst, { images });

    const subjects: Subject[] = [];
    for (const [name, cri, inst, daemonPid] of [['berth', berthd.cri, berthInst, berthd.child.pid!], ['containerd', ctr.cri, ctrInst, ctr.child.pid!]] as const) {
      await cri.image('PullImage', { image: { image: images.busybox } }, { timeoutMs: 120_000 });
      subjects.push(await startPod({ name, cri, image: images.busybox, logDir: join(inst.base, 'pod-logs'), daemonPid }, dataDir));
    }
    for (const s of subjects) {
      await waitForHttpd(s);
      // warm-up: each path once
      await execSync(s);
      await wsExec(s);
      await spdyExec(s);
      await spdyDownload(s, 'ok', 3);
    }

    const kinds = { ExecSync: execSync, 'Exec over WebSocket': wsExec, 'Exec over SPDY': spdyExec } as const;
    const lat = new Map(Object.keys(kinds).map((k) => [k, new Map(subjects.map((s) => [s.name, [] as number[]]))]));
    for (const [kind, fn] of Object.entries(kinds)) {
      for (let i = 0; i < opts.runs; i++) {
        for (const s of subjects) {
          // Each runtime's work after its answer (containerd's exit events, berth's next exec
          // monitor) is left to finish, not timed in the other's run: probes come seconds apart.
          await sleep(opts.pauseMs);
          lat.get(kind)!.get(s.name)!.push(await fn(s));
        }
      }
    }
    const transports = { WebSocket: wsDownload, SPDY: spdyDownload } as const;
    const rate = new Map(Object.keys(transports).map((k) => [k, new Map(subjects.map((s) => [s.name, [] as number[]]))]));
    const cpu = new Map(Object.keys(transports).map((k) => [k, new Map(subjects.map((s) => [s.name, [] as number[]]))]));
    for (const [kind, fn] of Object.entries(transports)) {
      for (let i = 0; i < opts.transfers; i++) {
        for (const s of subjects) {
          const c0 = cpuMs(s.daemonPid);
          rate.get(kind)!.get(s.name)!.push(size / 1e6 / ((await fn(s, DATA_FILE, size)) / 1000));
          cpu.get(kind)!.get(s.name)!.push(cpuMs(s.daemonPid) - c0);
        }
      }
    }

    for (const s of subjects) await removePod(s.cri, s.pod);

    const [b, c] = subjects.map((s) => s.name) as [string, string];
    console.log(`\nround trip, echo hi, median of ${opts.runs}`.padEnd(33) + col(b) + col(c) + `  ${b}/${c}`);
    for (const kind of Object.keys(kinds)) {
      const [x, y] = [median(lat.get(kind)!.get(b)!), median(lat.get(kind)!.get(c)!)];
      console.log(kind.padEnd(32) + ' ' + fmt(x) + ' ' + fmt(y) + ratio(x, y) + atMost(x / y, 1.0));
    }
    console.log(`\nport-forward ${opts.sizeMb} MB, median of ${opts.transfers}`.padEnd(33) + col(b) + col(c) + `  ${b}/${c}`);
    for (const kind of Object.keys(transports)) {
      const [x, y] = [median(rate.get(kind)!.get(b)!), median(rate.get(kind)!.get(c)!)];
      console.log(`download over ${kind}`.padEnd(32) + ' ' + mbps(x) + ' ' + mbps(y) + ratio(x, y) + atLeast(x / y, 1.0));
      // Less sensitive to load from elsewhere than the rate: what a download costs the daemon.
      const [u, v] = [median(cpu.get(kind)!.get(b)!), median(cpu.get(kind)!.get(c)!)];
      console.log(`  daemon CPU per download`.padEnd(32) + ' ' + fmt(u) + ' ' + fmt(v) + ratio(u, v));
    }
    const [e1, e5] = loadavg();
    console.log(`\nload average at the end ${e1.toFixed(2)} ${e5.toFixed(2)}`);
  } finally {
    await cleanups.run();
  }
}

main().catch((e: Error) => {
  console.error(`stream: ${e.message}`);
  process.exitCode = 1;
});
