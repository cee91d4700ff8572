// Port-forward into a real network namespace: the addon's dial (no helper process), the
// transport-neutral forwarder, SPDY-style stream pairing over real sockets, and the
// WebSocket protocol driven by the Kubernetes JavaScript client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { WebSocketServer } from 'ws';
import { KubeConfig, PortForward } from '@kubernetes/client-node';
import { TEST_DIR_PREFIX } from '../helpers/index.js';
import { createNetns, removeNetns } from '../../src/network/index.js';
import { dialInNetns } from '../../src/sys/index.js';
import { EventEmitter } from 'node:events';
import { forwardConnection, PortForwardPairs, servePortForwardSession, type PortForwardSession, type PortForwardTarget } from '../../src/stream/port-forward.js';
import { portsFromQuery, selectPortForwardProtocol, servePortForwardWebSocket } from '../../src/stream/port-forward-ws.js';

// Ports of the servers inside the namespace (nothing listens on them on the host).
const ECHO = 7001;
const SINK = 7002; // answers "<bytes> <sha256>" once the client half-closes
const RESET = 7003; // resets the connection on its first data
const V6ONLY = 7004; // on ::1 only
const HTTPD = 7005; // busybox httpd
const NOREAD = 7006; // answers without reading the request, then closes (unread data: RST)
const UNUSED = 7009;

let dir: string;
let netns: string;
let target: PortForwardTarget;
let hostServer: Server | net.Server;
let hostPort: number; // "host" on the host, "netns" inside the namespace
const children: ChildProcess[] = [];
const sockets: net.Socket[] = []; // the tests' socket pairs, destroyed at the end

const SERVER = `
const net = require('net'), crypto = require('crypto');
const [hello] = process.argv.slice(2).map(Number);
const listen = (port, host, fn) => new Promise((r) => net.createServer({ allowHalfOpen: true }, fn).listen(port, host, r));
Promise.all([
  listen(hello, '127.0.0.1', (s) => s.end('netns\\n')),
  listen(${ECHO}, '127.0.0.1', (s) => { s.on('error', () => {}); s.pipe(s); }),
  listen(${SINK}, '127.0.0.1', (s) => {
    let n = 0; const h = crypto.createHash('sha256');
    s.on('data', (d) => { n += d.length; h.update(d); });
    s.on('end', () => s.end(n + ' ' + h.digest('hex') + '\\n'));
  }),
  listen(${RESET}, '127.0.0.1', (s) => s.once('data', () => s.resetAndDestroy())),
  listen(${V6ONLY}, '::1', (s) => s.end('v6\\n')),
  listen(${NOREAD}, '127.0.0.1', (s) => { s.pause(); s.write('bye\\n', () => setTimeout(() => s.destroy(), 100)); }),
]).then(() => console.log('ready'));
`;

function spawnIn(argv: string[]): ChildProcess {
  const child = spawn('nsenter', [`--net=${netns}`, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

before(async () => {
  dir = mkdtempSync(`/tmp/${TEST_DIR_PREFIX}portfwd-`);
  netns = await createNetns(join(dir, 'netns'), 'pf');
  target = { netnsPath: netns, pod: 'pf-pod', uid: 'pf-uid' };
  const host = net.createServer((s) => s.end('host\n'));
  await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
  hostServer = host;
  hostPort = (host.address() as net.AddressInfo).port;
  writeFileSync(join(dir, 'server.cjs'), SERVER);
  const server = spawnIn([process.execPath, join(dir, 'server.cjs'), String(hostPort)]);
  await new Promise<void>((resolve, reject) => {
    server.once('exit', (c) => reject(new Error(`server exited with ${c}`)));
    server.stdout!.once('data', () => resolve());
  });
  mkdirSync(join(dir, 'www'));
  writeFileSync(join(dir, 'www', 'index.html'), 'served by busybox\n');
  const httpd = spawnIn(['busybox', 'httpd', '-f', '-p', `127.0.0.1:${HTTPD}`, '-h', join(dir, 'www')]);
  await waitForPort(HTTPD, httpd);
});

after(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    }
  }
  for (const s of sockets) s.destroy();
  hostServer?.close();
  if (netns) await removeNetns(netns);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`server for port ${port} exited with ${child.exitCode}`);
    try {
      (await dialInNetns(netns, port)).destroy();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listens on ${port} in the namespace`);
}

/** Everything a socket sends until it ends. */
function readAll(s: net.Socket | PassThrough): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

/** Waits until s has sent at least n bytes in all; resolves with them. */
function readAtLeast(s: net.Socket | PassThrough, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= n) {
        s.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    s.on('data', onData);
    s.once('end', () => got < n && reject(new Error(`ended after ${got} of ${n} bytes`)));
  });
}

/** A connected pair of real TCP sockets on the host: [the client's end, the end handed to the forwarder]. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const srv = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
  const client = net.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const server = await accepted;
  srv.close();
  sockets.push(client, server);
  await new Promise((r) => (client.connecting ? client.once('connect', r) : r(undefined)));
  return [client, server];
}

/** A data and an error stream for one forwarded connection, each a real socket pair. */
async function streams() {
  const [dataClient, data] = await socketPair();
  const [errorClient, error] = await socketPair();
  return { dataClient, data, errorClient, error, errorText: readAll(errorClient).then(String) };
}

test('dialInNetns reaches 127.0.0.1 inside the namespace, not the host', async () => {
  const inside = await dialInNetns(netns, hostPort);
  assert.equal(String(await readAll(inside)), 'netns\n');
  const onHost = await dialInNetns(undefined, hostPort);
  assert.equal(String(await readAll(onHost)), 'host\n', 'no namespace: the host network');
  const v6 = await dialInNetns(netns, V6ONLY, { host: '::1' });
  assert.equal(String(await readAll(v6)), 'v6\n');
  for (const s of [inside, onHost, v6]) s.destroy();
});

test('dialInNetns errors name the port and keep the code', async () => {
  await assert.rejects(dialInNetns(netns, UNUSED), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'ECONNREFUSED');
    assert.match(e.message, new RegExp(`nothing listens on port ${UNUSED} \\(connect 127\\.0\\.0\\.1:${UNUSED} in network namespace ${netns}`));
    return true;
  });
  await assert.rejects(dialInNetns(join(dir, 'no-such-netns'), ECHO), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && /namespace is gone/.test(e.message));
  await assert.rejects(dialInNetns(netns, 0), /invalid port/);
});

test('many dials leave no thread of the process in the namespace', async () => {
  const own = readlinkSync('/proc/self/ns/net');
  const socks = await Promise.all(Array.from({ length: 50 }, () => dialInNetns(netns, ECHO)));
  for (const s of socks) s.destroy();
  const tasks = readdirSync('/proc/self/task');
  assert.ok(tasks.length > 1);
  for (const t of tasks) assert.equal(readlinkSync(`/proc/self/task/${t}/ns/net`), own, `thread ${t}`);
  // fs work runs on libuv's pool: each of these reads the namespace of the pool thread it ran on.
  const seen = await Promise.all(Array.from({ length: 32 }, () => readlink('/proc/thread-self/ns/net')));
  assert.deepEqual(new Set(seen), new Set([own]));
});

test('forwardConnection: 100 MB up with a half-close, the answer back', async () => {
  const s = await streams();
  const done = forwardConnection(target, SINK, s.data, s.error);
  const chunk = randomBytes(1 << 20);
  const hash = createHash('sha256');
  const total = 100;
  for (let i = 0; i < total; i++) hash.update(chunk);
  const answer = readAll(s.dataClient);
  const start = process.hrtime.bigint();
  for (let i = 0; i < total; i++) {
    if (!s.dataClient.write(chunk)) await new Promise((r) => s.dataClient.once('drain', r));
  }
  s.dataClient.end(); // the pod's server sees end of file and answers
  assert.equal(String(await answer), `${total << 20} ${hash.digest('hex')}\n`);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`# port-forward throughput: ${total} MB in ${secs.toFixed(2)} s = ${(total / secs).toFixed(0)} MB/s`);
  await done;
  assert.equal(await s.errorText, '');

  // For scale: the same straight into the namespace, no forwarder in between.
  const direct = await dialInNetns(netns, SINK);
  const directAnswer = readAll(direct);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < total; i++) if (!direct.write(chunk)) await new Promise((r) => direct.once('drain', r));
  direct.end();
  await directAnswer;
  console.log(`# without the forwarder: ${(total / (Number(process.hrtime.bigint() - t0) / 1e9)).toFixed(0)} MB/s`);
  direct.destroy();
});

test('busybox httpd inside the namespace answers through a forward', async () => {
  const s = await streams();
  const done = forwardConnection(target, HTTPD, s.data, s.error);
  s.dataClient.write('GET /index.html HTTP/1.0\r\n\r\n');
  const reply = String(await readAll(s.dataClient));
  assert.match(reply, /^HTTP\/1\.[01] 200/);
  assert.match(reply, /served by busybox\n$/);
  s.dataClient.end();
  await done;
});

test('a refused dial is reported on the error stream and ends the data stream', async () => {
  const s = await streams();
  await forwardConnection(target, UNUSED, s.data, s.error);
  assert.equal((await readAll(s.dataClient)).length, 0);
  assert.match(await s.errorText, new RegExp(`^error forwarding port ${UNUSED} to pod pf-pod, uid pf-uid: nothing listens on port ${UNUSED}`));
});

test('a server bound to ::1 only is reached after 127.0.0.1 refuses', async () => {
  const s = await streams();
  const done = forwardConnection(target, V6ONLY, s.data, s.error);
  assert.equal(String(await readAll(s.dataClient)), 'v6\n');
  s.dataClient.end();
  await done;
  assert.equal(await s.errorText, '');
});

function pairStreams(p: PortForwardPairs, port: number | string, requestId: string, s: Awaited<ReturnType<typeof streams>>) {
  assert.equal(p.add({ headers: { streamType: 'error', port: String(port), requestID: requestId }, stream: s.error }), undefined);
  assert.equal(p.add({ headers: { streamType: 'data', port: String(port), requestID: requestId }, stream: s.data }), undefined);
}

test('pairs: two concurrent connections; a reset one ends alone, the session and the other live', async () => {
  const pairs = new PortForwardPairs(target);
  const a = await streams();
  const b = await streams();
  const r = await streams();
  pairStreams(pairs, ECHO, '1', a);
  pairStreams(pairs, ECHO, '2', b);
  assert.equal(pairs.active, 2);
  // Interleaved traffic on both connections.
  const pa = randomBytes(1 << 20);
  const pb = randomBytes(1 << 20);
  const ea = readAtLeast(a.dataClient, pa.length);
  const eb = readAtLeast(b.dataClient, pb.length);
  for (let i = 0; i < 16; i++) {
    a.dataClient.write(pa.subarray(i << 16, (i + 1) << 16));
    b.dataClient.write(pb.subarray(i << 16, (i + 1) << 16));
  }
  assert.ok((await ea).equals(pa));
  assert.ok((await eb).equals(pb));

  // The pod's server resets a third connection.
  pairStreams(pairs, RESET, '3', r);
  r.dataClient.write('trigger');
  // Its stream pair is reset (destroyed); nothing on the error stream, which clients take as fatal.
  assert.equal((await readAll(r.dataClient).catch(() => Buffer.alloc(0))).length, 0, 'its data stream ends');
  assert.equal(await r.errorText, '');
  assert.ok(r.data.destroyed && r.error.destroyed);
  assert.equal(pairs.active, 2);

  // A server that answers without reading a large request (kubernetes#74551): reset, not an error.
  const n = await streams();
  pairStreams(pairs, NOREAD, '5', n);
  n.dataClient.on('error', () => {});
  n.dataClient.write(randomBytes(8 << 20));
  await new Promise((res) => (n.dataClient.once('close', res), n.dataClient.once('end', res)));
  assert.equal(await n.errorText, '');
  assert.ok(n.data.destroyed && n.error.destroyed);

  // The others still work, and the session takes new connections.
  const again = readAtLeast(a.dataClient, 5);
  a.dataClient.write('after');
  assert.equal(String(await again), 'after');
  const c = await streams();
  pairStreams(pairs, ECHO, '4', c);
  const ec = readAtLeast(c.dataClient, 3);
  c.dataClient.write('new');
  assert.equal(String(await ec), 'new');

  // Half-closes end them one by one: the echo server ends its side in turn.
  for (const s of [a, b, c]) {
    s.dataClient.end();
    await readAll(s.dataClient).catch(() => undefined);
    assert.equal(await s.errorText, '');
  }
  await pairs.close();
  assert.equal(pairs.active, 0);
});

test('pairs: refused dial, bad headers, a missing half, clients without requestIDs', async () => {
  const pairs = new PortForwardPairs(target, { timeoutMs: 300 });
  const refused = await streams();
  pairStreams(pairs, UNUSED, 'x', refused);
  assert.match(await refused.errorText, /nothing listens on port 7009/);

  const bad = await streams();
  assert.match(pairs.add({ headers: { streamtype: 'error', port: 'http', requestid: 'b' }, stream: bad.error }) ?? '', /unable to parse "http" as a port/);
  assert.match(await bad.errorText, /^unable to parse "http" as a port$/);
  assert.match(pairs.add({ headers: { streamtype: 'data', port: '0', requestid: 'b' }, stream: bad.data }) ?? '', /port "0" must be > 0/);
  await readAll(bad.dataClient); // refused data stream: destroyed
  assert.match(pairs.add({ headers: { streamtype: 'stdin', port: '80', requestid: 'c' }, stream: (await socketPair())[1] }) ?? '', /invalid stream type "stdin"/);

  const lonely = await streams();
  assert.equal(pairs.add({ headers: { streamtype: 'error', port: String(ECHO), requestid: 'l' }, stream: lonely.error }), undefined);
  assert.match(await lonely.errorText, /request l: timed out waiting for streams/);

  const dup = await streams();
  pairs.add({ headers: { streamtype: 'error', port: String(ECHO), requestid: 'd' }, stream: dup.error });
  const [, second] = await socketPair();
  assert.match(pairs.add({ headers: { streamtype: 'error', port: String(ECHO), requestid: 'd' }, stream: second }) ?? '', /error stream already assigned/);

  // No requestID: the error stream's id pairs with the data stream two ids later.
  const old = await streams();
  assert.equal(pairs.add({ headers: { streamtype: 'error', port: String(ECHO) }, stream: old.error, id: 5 }), undefined);
  assert.equal(pairs.add({ headers: { streamtype: 'data', port: String(ECHO) }, stream: old.data, id: 7 }), undefined);
  const echoed = readAtLeast(old.dataClient, 2);
  old.dataClient.write('hi');
  assert.equal(String(await echoed), 'hi');
  await pairs.close(); // ends what is still open
  await readAll(old.dataClient);
});

test('servePortForwardSession accepts each stream a session opens, pairs them, ends with the session', async () => {
  // The session's shape (a SPDY session emits its peer's streams); the streams are real sockets.
  const session = new EventEmitter();
  const replied: number[] = [];
  const served = servePortForwardSession(session as unknown as PortForwardSession, target);
  const s = await streams();
  const open = (stream: net.Socket, id: number, type: string) =>
    session.emit('stream', Object.assign(stream, { id, headers: { streamtype: type, port: String(ECHO), requestid: '7' }, reply: () => replied.push(id) }));
  open(s.error, 1, 'error');
  open(s.data, 3, 'data');
  assert.deepEqual(replied, [1, 3]);
  const echoed = readAtLeast(s.dataClient, 4);
  s.dataClient.write('ping');
  assert.equal(String(await echoed), 'ping');
  session.emit('close');
  await served;
  await readAll(s.dataClient);
  assert.equal(await s.errorText, '');
});

/** An HTTP server that upgrades every request to a port-forward WebSocket into the namespace. */
async function wsServer(): Promise<{ url: string; sessions: Promise<void>[]; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => selectPortForwardProtocol(offered) });
  const sessions: Promise<void>[] = [];
  const http = createServer((_req, res) => res.writeHead(400).end());
  http.on('upgrade', (req, socket, head) => {
    const ports = portsFromQuery(new URL(req.url!, 'http://x').searchParams);
    wss.handleUpgrade(req, socket, head, (ws) => sessions.push(servePortForwardWebSocket(ws, target, ports)));
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(http.address() as net.AddressInfo).port}`,
    sessions,
    close: () => new Promise((r) => { wss.close(); http.close(() => r()); http.closeAllConnections(); }),
  };
}

function kubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

test('WebSocket port-forward driven by the Kubernetes JavaScript client', async () => {
  const srv = await wsServer();
  try {
    const pf = new PortForward(kubeConfig(srv.url));
    // Echo: what goes in comes back; 10 MB to see backpressure hold.
    const out = new PassThrough();
    const err = new PassThrough();
    const input = new PassThrough();
    const errText = readAll(err).then(String);
    const ws = (await pf.portForward('default', 'pf-pod', [ECHO], out, err, input)) as import('ws').WebSocket;
    assert.equal(ws.protocol, 'v4.channel.k8s.io');
    const payload = randomBytes(10 << 20);
    const echoed = readAtLeast(out, payload.length);
    const start = process.hrtime.bigint();
    for (let i = 0; i < payload.length; i += 1 << 16) input.write(payload.subarray(i, i + (1 << 16)));
    assert.ok((await echoed).equals(payload));
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(`# WebSocket echo: 10 MB each way in ${secs.toFixed(2)} s = ${(10 / secs).toFixed(0)} MB/s`);
    const closed = new Promise((r) => ws.once('close', r));
    input.end(); // v4: the client closes the WebSocket
    await closed;
    await srv.sessions[0];
    err.end();
    assert.equal(await errText, '');

    // The pod's server ends the connection: the WebSocket closes from the server's side.
    const out2 = new PassThrough();
    const ws2 = (await pf.portForward('default', 'pf-pod', [hostPort], out2, new PassThrough(), new PassThrough())) as import('ws').WebSocket;
    const closed2 = new Promise<number>((r) => ws2.once('close', r));
    assert.equal(String(await readAtLeast(out2, 6)), 'netns\n');
    assert.equal(await closed2, 1000);

    // Refused: the message comes on the error channel, then the WebSocket closes.
    const err3 = new PassThrough();
    const text3 = new Promise<string>((r) => err3.once('data', (d) => r(String(d))));
    const ws3 = (await pf.portForward('default', 'pf-pod', [UNUSED], new PassThrough(), err3, new PassThrough())) as import('ws').WebSocket;
    const closed3 = new Promise((r) => ws3.once('close', r));
    assert.match(await text3, /^error forwarding port 7009 to pod pf-pod, uid pf-uid: nothing listens on port 7009/);
    await closed3;
    await Promise.all(srv.sessions);
  } finally {
    await srv.close();
  }
});

test('WebSocket port-forward: two ports on one WebSocket, base64 subprotocol, raw frames', async () => {
  const srv = await wsServer();
  try {
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/pf?port=${ECHO},${hostPort}`, ['v4.base64.channel.k8s.io']);
    const got = new Map<number, Buffer[]>();
    ws.on('message', (m: Buffer) => {
      const ch = m[0]! - 48;
      got.set(ch, [...(got.get(ch) ?? []), Buffer.from(m.subarray(1).toString(), 'base64')]);
      // Closed once both ports answered: the two connections' data come in no set order.
      const text = (c: number) => Buffer.concat(got.get(c)?.slice(1) ?? []).toString();
      if (text(0) === 'ping' && text(2) === 'netns\n') ws.close();
    });
    await new Promise((r) => ws.once('open', r));
    assert.equal(ws.protocol, 'v4.base64.channel.k8s.io');
    ws.send('0' + Buffer.from('ping').toString('base64'));
    await new Promise((r) => ws.once('close', r));
    await srv.sessions[0];
    // Each channel opens with its port, 2 bytes little-endian.
    assert.deepEqual(got.get(0)![0], Buffer.of(ECHO & 0xff, ECHO >> 8));
    assert.deepEqual(got.get(1)![0], Buffer.of(ECHO & 0xff, ECHO >> 8));
    assert.deepEqual(got.get(2)![0], Buffer.of(hostPort & 0xff, hostPort >> 8));
    assert.equal(Buffer.concat(got.get(2)!.slice(1)).toString(), 'netns\n');
  } finally {
    await srv.close();
  }
});
