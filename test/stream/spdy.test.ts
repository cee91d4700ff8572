// SPDY/3.1 sessions end to end: two real sessions over loopback TCP (and behind a node:http
// Upgrade), raw frames written by hand for what a well-behaved peer never sends, and Go's
// spdystream (what kubectl and the kubelet speak) as an independent peer when it is installed.
import { test, type TestContext as T } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpdySession, SpdyStream, upgradeToSpdy, RstStatus } from '../../src/stream/spdy/index.js';

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** Both ends of one loopback TCP connection: the connecting one, then the accepted one. */
async function tcpPair(): Promise<[net.Socket, net.Socket]> {
  const srv = net.createServer();
  const port = await listen(srv);
  const accepted = once(srv, 'connection');
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  const [serverSocket] = (await accepted) as [net.Socket];
  srv.close();
  return [sock, serverSocket];
}

/** A client and a server session over one loopback TCP connection. */
async function pair(t: T): Promise<{ client: SpdySession; server: SpdySession; serverSocket: net.Socket }> {
  const [sock, serverSocket] = await tcpPair();
  const client = new SpdySession(sock, { server: false });
  const server = new SpdySession(serverSocket, { server: true });
  t.after(() => {
    client.close();
    server.close();
  });
  return { client, server, serverSocket };
}

function readAll(s: SpdyStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('close', () => {
      if (!s.readableEnded) reject(new Error(`stream ${s.id} closed before its end`));
    });
  });
}

function write(s: SpdyStream, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => s.write(b, (e) => (e ? reject(e) : resolve())));
}

/** Every stream the server accepts is answered and echoed back. */
function echo(server: SpdySession): void {
  server.on('stream', (s: SpdyStream) => {
    s.reply({ echoed: s.headers['x-n'] ?? '' });
    s.pipe(s);
  });
}

/** Resolves once the stream has emitted 'close' (which may already have happened). */
const closed = (s: SpdyStream): Promise<unknown> => (s.closed ? Promise.resolve() : once(s, 'close'));

const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

test('spdy: headers round-trip on many streams through the shared compression contexts', async (t) => {
  const { client, server } = await pair(t);
  const seen: Array<Record<string, string>> = [];
  server.on('stream', (s: SpdyStream) => {
    seen.push(s.headers);
    s.reply({ 'X-Reply': `r${s.headers['x-n']}`, multi: 'a\0b' }, { fin: true });
    s.resume();
  });
  const replies: Array<Record<string, string>> = [];
  const done: Promise<unknown>[] = [];
  for (let i = 0; i < 300; i++) {
    const s = client.openStream({ streamType: i % 2 ? 'stdout' : 'stderr', 'X-N': String(i), port: '8080', requestID: String(i % 7) }, { fin: true });
    assert.equal(s.id, 2 * i + 1, 'client stream ids are odd and increasing');
    done.push(once(s, 'reply').then(([h]) => replies.push(h as Record<string, string>)), once(s, 'end'));
    s.resume();
  }
  await Promise.all(done);
  assert.equal(seen.length, 300);
  seen.forEach((h, i) => assert.deepEqual(h, { streamtype: i % 2 ? 'stdout' : 'stderr', 'x-n': String(i), port: '8080', requestid: String(i % 7) }));
  replies.forEach((h, i) => assert.deepEqual(h, { 'x-reply': `r${i}`, multi: 'a\0b' }));
  await new Promise((r) => setImmediate(r));
  assert.equal(client.activeStreams, 0, 'streams closed both ways leave the client table');
  assert.equal(server.activeStreams, 0, 'streams closed both ways leave the server table');
});

test('spdy: bidirectional data and half-close', async (t) => {
  const { client, server } = await pair(t);
  server.on('stream', async (s: SpdyStream) => {
    s.reply();
    const got = await readAll(s); // the client's FIN ends our readable side...
    s.end(Buffer.from(`pong:${got}`)); // ...while ours is still writable
  });
  const s = client.openStream({ streamtype: 'stdin' });
  const reply = once(s, 'reply');
  const back = readAll(s);
  s.write('pi');
  s.end('ng');
  await reply;
  assert.equal((await back).toString(), 'pong:ping');
  await closed(s);
  assert.equal(client.activeStreams, 0);
  assert.equal(server.activeStreams, 0);
});

test('spdy: HEADERS frames and unidirectional streams', async (t) => {
  const { client, server } = await pair(t);
  const accepted: SpdyStream[] = [];
  server.on('stream', (s: SpdyStream) => accepted.push(s));
  // The client only sends: its readable side is over at once, the server's writable side too.
  const up = client.openStream({ streamtype: 'upload' }, { unidirectional: true });
  const uploaded = readAll(up).then((b) => b.length);
  up.end('one way');
  for (let i = 0; i < 100 && accepted.length < 1; i++) await new Promise((r) => setTimeout(r, 5));
  const a = accepted[0];
  assert.equal(a.writableEnded, true, 'the receiver of a unidirectional stream cannot write');
  assert.equal((await readAll(a)).toString(), 'one way');
  assert.equal(await uploaded, 0);
  await new Promise((r) => setImmediate(r));
  assert.equal(client.activeStreams, 0);
  assert.equal(server.activeStreams, 0);
  // HEADERS after the reply, the last one with FIN.
  const s = client.openStream({ streamtype: 'status' });
  for (let i = 0; i < 100 && accepted.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  const b = accepted[1];
  b.reply({ phase: 'started' });
  b.sendHeaders({ Phase: 'running' });
  b.sendHeaders({ phase: 'done', code: '0' }, { fin: true });
  const got: Array<Record<string, string>> = [];
  s.on('reply', (h) => got.push(h));
  s.on('headers', (h) => got.push(h));
  s.end();
  await readAll(s);
  assert.deepEqual(got, [{ phase: 'started' }, { phase: 'running' }, { phase: 'done', code: '0' }]);
  // Data written before any reply goes out after an implicit empty SYN_REPLY.
  const c = client.openStream({ streamtype: 'eager' });
  const order: string[] = [];
  c.on('reply', (h) => order.push(`reply ${JSON.stringify(h)}`));
  c.on('data', (d: Buffer) => order.push(`data ${d}`));
  for (let i = 0; i < 100 && accepted.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
  accepted[2].end('early');
  c.end();
  await once(c, 'end');
  assert.deepEqual(order, ['reply {}', 'data early']);
});

test('spdy: closing the connection ends every stream and pending ping without errors', async (t) => {
  const { client, server } = await pair(t);
  const serverStreams: SpdyStream[] = [];
  server.on('stream', (s: SpdyStream) => {
    s.reply();
    serverStreams.push(s);
  });
  const errors: Error[] = [];
  const streams = Array.from({ length: 5 }, () => client.openStream({}));
  for (const s of streams) s.on('error', (e) => errors.push(e));
  await Promise.all(streams.map((s) => once(s, 'reply')));
  for (const s of serverStreams) s.on('error', (e) => errors.push(e));
  const serverClosed = new Promise((r) => server.once('close', r));
  const pending = client.ping();
  client.close();
  await assert.rejects(pending, /closed/);
  await serverClosed;
  await Promise.all([...streams, ...serverStreams].map(closed));
  for (const s of [...streams, ...serverStreams]) assert.equal(s.readableEnded, false, 'cut off, not ended');
  assert.deepEqual(errors, []);
  assert.throws(() => client.openStream({}), /closing/);
});

test('spdy: 10 MB through one stream to a slow reader is held back by flow control', async (t) => {
  const { client, server } = await pair(t);
  const total = 10 * 1024 * 1024;
  const data = crypto.randomBytes(total);
  const accepted = once(server, 'stream');
  const s = client.openStream({ streamtype: 'data' });
  let acked = 0; // bytes whose write callback ran
  const writer = (async () => {
    for (let off = 0; off < total; off += 64 * 1024) {
      const chunk = data.subarray(off, off + 64 * 1024);
      await write(s, chunk);
      acked += chunk.length;
    }
    s.end();
  })();
  const [r] = (await accepted) as [SpdyStream];
  r.reply();
  // Nobody reads yet: the writer must stop at the 64 KiB window.
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(acked <= 64 * 1024, `writer ran ahead of an idle reader: ${acked} bytes acknowledged`);
  assert.ok(r.readableLength <= 64 * 1024, `receiver buffered ${r.readableLength} bytes`);
  // Take most of the window, leave some unread: only what was taken may be acknowledged.
  assert.equal(r.readableLength, 64 * 1024);
  const first = r.read(49 * 1024) as Buffer;
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(acked - first.length <= 64 * 1024, `writer got ${acked - first.length} bytes ahead of a paused reader`);
  assert.ok(r.readableLength <= 64 * 1024, `paused receiver buffered ${r.readableLength} bytes`);
  // A slow reader: small reads with pauses; the writer never gets more than a window ahead.
  const parts: Buffer[] = [first];
  let consumed = first.length;
  let maxAhead = 0;
  let maxBuffered = 0;
  let rounds = 0;
  while (!r.readableEnded) {
    let c: Buffer | null;
    while ((c = r.read(4096) as Buffer | null) !== null) {
      parts.push(c);
      consumed += c.length;
      maxAhead = Math.max(maxAhead, acked - consumed);
      maxBuffered = Math.max(maxBuffered, r.readableLength);
    }
    if (r.readableEnded) break;
    // A pause now and then; then read again before waiting: a 'readable' that fired during
    // the pause (nobody listening) does not fire again until a read returns null.
    if (++rounds % 40 === 0) {
      await new Promise((res) => setTimeout(res, 5));
      continue;
    }
    await new Promise<void>((res) => {
      const done = (): void => {
        r.off('readable', done);
        r.off('end', done);
        res();
      };
      r.on('readable', done);
      r.on('end', done);
    });
  }
  await writer;
  assert.equal(consumed, total);
  assert.equal(sha(Buffer.concat(parts)), sha(data));
  assert.ok(maxAhead <= 2 * 64 * 1024, `writer got ${maxAhead} bytes ahead of the reader`);
  assert.ok(maxBuffered <= 64 * 1024, `receiver buffered up to ${maxBuffered} bytes`);
});

test('spdy: a larger receive window lets the writer that far ahead of an idle reader, and no further', async (t) => {
  const [sock, serverSocket] = await tcpPair();
  const window = 512 * 1024;
  const client = new SpdySession(sock, { server: false });
  const server = new SpdySession(serverSocket, { server: true, receiveWindow: window });
  t.after(() => {
    client.close();
    server.close();
  });
  const data = crypto.randomBytes(4 * window);
  const got = once(server, 'stream');
  const s = client.openStream({ streamtype: 'data' });
  let acked = 0;
  const writer = (async () => {
    for (let off = 0; off < data.length; off += 64 * 1024) {
      await write(s, data.subarray(off, off + 64 * 1024));
      acked += 64 * 1024;
    }
    s.end();
  })();
  const [r] = (await got) as [SpdyStream];
  r.reply();
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(acked > 64 * 1024, `the writer stopped at the default window: ${acked} bytes acknowledged`);
  assert.ok(acked <= window && r.readableLength <= window, `beyond the window: ${acked} acknowledged, ${r.readableLength} buffered`);
  const back = readAll(r);
  await writer;
  assert.equal(sha(await back), sha(data));
});

test('spdy: 20 concurrent streams each echo their own data', async (t) => {
  const { client, server } = await pair(t);
  echo(server);
  const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    const data = crypto.randomBytes(200 * 1024 + i * 1000);
    const s = client.openStream({ 'x-n': String(i) });
    const reply = once(s, 'reply');
    const back = readAll(s); // read while writing: the echo is flow-controlled too
    for (let off = 0; off < data.length; off += 16 * 1024) await write(s, data.subarray(off, off + 16 * 1024));
    s.end();
    assert.equal(((await reply)[0] as Record<string, string>).echoed, String(i));
    return { sent: sha(data), got: sha(await back) };
  }));
  for (const r of results) assert.equal(r.got, r.sent);
  await new Promise((r) => setImmediate(r));
  assert.equal(client.activeStreams, 0);
  assert.equal(server.activeStreams, 0);
});

test('spdy: RST_STREAM both ways ends the stream with a reset event, never an error', async (t) => {
  const { client, server } = await pair(t);
  const errors: Error[] = [];
  const serverStreams: SpdyStream[] = [];
  server.on('stream', (s: SpdyStream) => {
    s.on('error', (e) => errors.push(e));
    serverStreams.push(s);
    if (s.headers.action === 'refuse') s.reset(RstStatus.REFUSED_STREAM);
    else s.reply();
  });
  // The server refuses: the client sees 'reset' with the status, then 'close'.
  const a = client.openStream({ action: 'refuse' });
  a.on('error', (e) => errors.push(e));
  const [status] = await once(a, 'reset');
  assert.equal(status, RstStatus.REFUSED_STREAM);
  await closed(a);
  assert.equal(a.readableEnded, false, 'a reset stream does not end normally');
  // The client cancels a stream the server is writing to; later writes are dropped quietly.
  const b = client.openStream({ action: 'accept' });
  await once(b, 'reply');
  const sb = serverStreams[1];
  const resetSeen = once(sb, 'reset');
  b.reset();
  assert.equal((await resetSeen)[0], RstStatus.CANCEL);
  await closed(sb);
  sb.write('after reset');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(errors, []);
  assert.equal(client.activeStreams, 0);
  assert.equal(server.activeStreams, 0);
  // The session itself is fine.
  assert.ok((await client.ping()) >= 0);
});

test('spdy: PING from either side', async (t) => {
  const { client, server } = await pair(t);
  const ms = await Promise.all([client.ping(), server.ping(), client.ping()]);
  for (const m of ms) assert.ok(typeof m === 'number' && m >= 0 && m < 5000, `round trip ${m}`);
});

test('spdy: GOAWAY refuses new streams, lets open ones finish, then closes', async (t) => {
  const { client, server } = await pair(t);
  const accepted: SpdyStream[] = [];
  server.on('stream', (s: SpdyStream) => {
    accepted.push(s);
    s.reply();
  });
  const s = client.openStream({ n: '1' });
  await once(s, 'reply');
  const goaway = once(client, 'goaway');
  const bothClosed = Promise.all([once(client, 'close'), once(server, 'close')]);
  server.goAway();
  const [lastGood] = await goaway;
  assert.equal(lastGood, s.id);
  assert.throws(() => client.openStream({ n: '2' }), /closing/);
  // The open stream still works both ways.
  const back = readAll(s);
  s.end('bye');
  assert.equal((await readAll(accepted[0])).toString(), 'bye');
  accepted[0].end('ok');
  assert.equal((await back).toString(), 'ok');
  await bothClosed;
});

test('spdy: a stream that crosses our GOAWAY is refused', async (t) => {
  const { client, server } = await pair(t);
  server.on('stream', (s: SpdyStream) => {
    s.reply();
    s.resume();
    s.on('end', () => s.end());
  });
  const first = client.openStream({});
  await once(first, 'reply');
  const bothClosed = Promise.all([once(client, 'close'), once(server, 'close')]);
  server.goAway();
  const late = client.openStream({}); // sent before the client has read the GOAWAY
  const [status] = await once(late, 'reset');
  assert.equal(status, RstStatus.REFUSED_STREAM);
  first.resume();
  first.end();
  await bothClosed;
});

test('spdy: thousands of streams leave no entries behind', async (t) => {
  const { client, server } = await pair(t);
  server.on('stream', (s: SpdyStream) => {
    s.reply();
    s.resume();
    s.on('end', () => s.end('x'));
  });
  for (let batch = 0; batch < 10; batch++) {
    await Promise.all(Array.from({ length: 300 }, async () => {
      const s = client.openStream({ streamtype: 'stdout' });
      const got = readAll(s);
      s.end('y');
      assert.equal((await got).toString(), 'x');
    }));
  }
  await new Promise((r) => setImmediate(r));
  assert.equal(client.activeStreams, 0);
  assert.equal(server.activeStreams, 0);
});

// ---- over HTTP Upgrade ----

const PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

async function upgradeServer(t: T): Promise<{ port: number; sessions: SpdySession[] }> {
  const sessions: SpdySession[] = [];
  const srv = http.createServer((_req, res) => res.writeHead(404).end());
  srv.on('upgrade', (req, socket, head) => {
    const up = upgradeToSpdy(req, socket, head, PROTOCOLS);
    if (!up) return;
    up.session.on('stream', (s: SpdyStream) => {
      s.reply({ protocol: up.protocol });
      s.pipe(s);
    });
    sessions.push(up.session);
  });
  const port = await listen(srv);
  t.after(() => {
    for (const s of sessions) s.close();
    srv.close();
  });
  return { port, sessions };
}

/** Sends an upgrade request by hand; returns the response head and the socket positioned after it. */
async function rawUpgrade(port: number, headerLines: string[]): Promise<{ head: string; sock: net.Socket }> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write(['GET /exec/token HTTP/1.1', 'Host: 127.0.0.1', ...headerLines, '', ''].join('\r\n'));
  let buf = Buffer.alloc(0);
  for (;;) {
    const [chunk] = (await once(sock, 'data')) as [Buffer];
    buf = Buffer.concat([buf, chunk]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) continue;
    sock.pause();
    const rest = buf.subarray(end + 4);
    if (rest.length) sock.unshift(rest);
    return { head: buf.subarray(0, end).toString(), sock };
  }
}

async function refusal(port: number, headerLines: string[]): Promise<string> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write(['GET /exec/token HTTP/1.1', 'Host: 127.0.0.1', ...headerLines, '', ''].join('\r\n'));
  const parts: Buffer[] = [];
  sock.on('data', (c: Buffer) => parts.push(c));
  await once(sock, 'close');
  return Buffer.concat(parts).toString();
}

test('spdy: upgrade negotiates the first served protocol the client offers and carries a session', async (t) => {
  const { port } = await upgradeServer(t);
  const { head, sock } = await rawUpgrade(port, [
    'Connection: Upgrade', 'Upgrade: SPDY/3.1',
    'X-Stream-Protocol-Version: v5.channel.k8s.io, v4.channel.k8s.io',
    'X-Stream-Protocol-Version: v3.channel.k8s.io',
    'X-Stream-Protocol-Version: channel.k8s.io',
  ]);
  const lines = head.split('\r\n');
  assert.equal(lines[0], 'HTTP/1.1 101 Switching Protocols');
  assert.ok(lines.includes('Connection: Upgrade'), head);
  assert.ok(lines.includes('Upgrade: SPDY/3.1'), head);
  assert.ok(lines.includes('X-Stream-Protocol-Version: v4.channel.k8s.io'), head);
  const client = new SpdySession(sock, { server: false });
  t.after(() => client.close());
  const s = client.openStream({ streamtype: 'stdin' });
  const [reply] = await once(s, 'reply');
  assert.deepEqual(reply, { protocol: 'v4.channel.k8s.io' });
  const back = readAll(s);
  s.end('hello through the upgrade');
  assert.equal((await back).toString(), 'hello through the upgrade');
});

test('spdy: upgrade refusals say why', async (t) => {
  const { port, sessions } = await upgradeServer(t);
  const none = await refusal(port, ['Connection: Upgrade', 'Upgrade: SPDY/3.1', 'X-Stream-Protocol-Version: v9.example.io, v1.example.io']);
  assert.match(none, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.match(none, /\r\n\r\nunable to upgrade: unable to negotiate protocol: client supports \[v9\.example\.io v1\.example\.io\], server accepts \[v4\.channel\.k8s\.io .*\]\n$/);
  const missing = await refusal(port, ['Connection: Upgrade', 'Upgrade: SPDY/3.1']);
  assert.match(missing, /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nunable to upgrade: no X-Stream-Protocol-Version offered\n$/);
  const websocket = await refusal(port, ['Connection: Upgrade', 'Upgrade: websocket', 'X-Stream-Protocol-Version: v4.channel.k8s.io']);
  assert.match(websocket, /^HTTP\/1\.1 400 Bad Request\r\n[^]*SPDY\/3\.1\n$/);
  assert.equal(sessions.length, 0);
});

// ---- raw frames ----

/** A control frame written from the spec, independent of the library's encoder. */
function rawControl(type: number, flags: number, payload: Buffer, version = 3): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | version, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([h, payload]);
}

function u32(...words: number[]): Buffer {
  const b = Buffer.alloc(4 * words.length);
  words.forEach((w, i) => b.writeUInt32BE(w, 4 * i));
  return b;
}

/** A server session on one end of TCP, our raw socket on the other; collects the frames it sends. */
async function rawPeer(t: T, accept = true): Promise<{ server: SpdySession; sock: net.Socket; received: () => Buffer; closed: Promise<unknown> }> {
  const [sock, serverSocket] = await tcpPair();
  const server = new SpdySession(serverSocket, { server: true });
  if (accept) server.on('stream', (s: SpdyStream) => s.reply());
  const parts: Buffer[] = [];
  sock.on('data', (c: Buffer) => parts.push(c));
  sock.on('error', () => {});
  const closed = once(sock, 'close');
  t.after(() => {
    sock.destroy();
    server.close();
  });
  return { server, sock, received: () => Buffer.concat(parts), closed };
}

/** Splits a byte string into frames (header fields only). */
function frames(b: Buffer): Array<{ control: boolean; type: number; flags: number; payload: Buffer; raw: Buffer }> {
  const out = [];
  let off = 0;
  while (off + 8 <= b.length) {
    const len = b.readUInt32BE(off + 4) & 0xffffff;
    out.push({ control: (b[off] & 0x80) !== 0, type: b.readUInt16BE(off + 2), flags: b[off + 4], payload: b.subarray(off + 8, off + 8 + len), raw: b.subarray(off, off + 8) });
    off += 8 + len;
  }
  return out;
}

test('spdy: a malformed frame closes the session with an error, without crashing the process', async (t) => {
  const cases: Array<[string, Buffer]> = [
    ['garbage header block', rawControl(1, 0, Buffer.concat([u32(1, 0), Buffer.from([0, 0]), Buffer.from('this is not zlib at all')]))],
    ['short PING', rawControl(6, 0, Buffer.from([0, 0, 1]))],
    ['WINDOW_UPDATE of 4 bytes', rawControl(9, 0, u32(1))],
    ['SPDY/2 frame', rawControl(1, 0, Buffer.alloc(12), 2)],
    ['DATA on stream 0', Buffer.concat([u32(0, 3), Buffer.from('abc')])],
    ['SETTINGS count beyond its length', rawControl(4, 0, u32(5, 7, 1))],
  ];
  for (const [name, frame] of cases) {
    const { server, sock, received, closed } = await rawPeer(t);
    const errors: Error[] = [];
    server.on('error', (e) => errors.push(e));
    const sessionClosed = new Promise((r) => server.once('close', r)); // events.once would listen for 'error' too
    sock.write(frame);
    await Promise.all([sessionClosed, closed]);
    assert.equal(errors.length, 1, `${name}: one error`);
    assert.match(errors[0].message, /^spdy: /, name);
    const goaway = frames(received()).find((f) => f.control && f.type === 7);
    assert.ok(goaway, `${name}: GOAWAY sent`);
    assert.equal(goaway.payload.readUInt32BE(4), 1, `${name}: GOAWAY status PROTOCOL_ERROR`);
  }
  // Nobody listening for 'error': still no crash, the session just closes.
  const { server, sock } = await rawPeer(t);
  const sessionClosed = new Promise((r) => server.once('close', r));
  sock.write(rawControl(6, 0, Buffer.alloc(7)));
  await sessionClosed;
  assert.equal(server.listenerCount('error'), 0);
});

test('spdy: unknown frame types are ignored; a peer PING is echoed', async (t) => {
  const { server, sock, received } = await rawPeer(t);
  const errors: Error[] = [];
  server.on('error', (e) => errors.push(e));
  sock.write(Buffer.concat([
    rawControl(10, 0, Buffer.from('credential frames are gone in 3.1')),
    rawControl(0x7ff, 0xff, Buffer.alloc(100)),
    rawControl(6, 0, u32(7)), // odd id: the client's ping
    rawControl(6, 0, u32(8)), // even id: claims to answer a ping the server never sent
  ]));
  for (let i = 0; i < 100 && !frames(received()).some((f) => f.control && f.type === 6); i++) await new Promise((r) => setTimeout(r, 10));
  const pings = frames(received()).filter((f) => f.control && f.type === 6);
  assert.deepEqual(pings.map((f) => f.payload.readUInt32BE(0)), [7]);
  assert.deepEqual(errors, []);
  assert.equal(server.activeStreams, 0);
});

test('spdy: the peer\'s SETTINGS_INITIAL_WINDOW_SIZE and WINDOW_UPDATEs bound what we send', async (t) => {
  const { server, sock, received } = await rawPeer(t);
  const dataOn = (id: number): number => frames(received()).filter((f) => !f.control && streamOf(f) === id).reduce((n, f) => n + f.payload.length, 0);
  const settle = async (): Promise<void> => {
    // Answered PINGs mean the server has handled everything sent before them.
    const before = frames(received()).filter((f) => f.control && f.type === 6).length;
    sock.write(rawControl(6, 0, u32(2 * before + 1)));
    for (let i = 0; i < 200 && frames(received()).filter((f) => f.control && f.type === 6).length === before; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
  };
  sock.write(rawControl(4, 0, u32(1, 7, 1000))); // SETTINGS: INITIAL_WINDOW_SIZE 1000
  await settle();
  const s = server.openStream({ streamtype: 'stdout' });
  s.write(Buffer.alloc(5000, 'a'));
  await settle();
  assert.equal(dataOn(2), 1000);
  sock.write(rawControl(9, 0, u32(2, 1500))); // WINDOW_UPDATE stream 2
  await settle();
  assert.equal(dataOn(2), 2500);
  sock.write(rawControl(4, 0, u32(1, 7, 3000))); // a larger initial window grows open streams by the difference
  await settle();
  assert.equal(dataOn(2), 4500);
  sock.write(rawControl(9, 0, u32(2, 100000)));
  await settle();
  assert.equal(dataOn(2), 5000);
  assert.ok(frames(received()).every((f) => f.control || f.payload.length <= 16 * 1024));
  // The session window (64 KiB, 5000 used) holds back a stream with a large window.
  sock.write(rawControl(4, 0, u32(1, 7, 1 << 20)));
  await settle();
  const s2 = server.openStream({ streamtype: 'stderr' });
  s2.write(Buffer.alloc(100 * 1024, 'b'));
  await settle();
  assert.equal(dataOn(4), 64 * 1024 - 5000);
  sock.write(rawControl(9, 0, u32(0, 20000))); // WINDOW_UPDATE for the session
  await settle();
  assert.equal(dataOn(4), 64 * 1024 - 5000 + 20000);
});

function streamOf(f: { control: boolean; raw: Buffer }): number {
  return f.raw.readUInt32BE(0) & 0x7fffffff;
}

test('spdy: frames split byte by byte across TCP reads', async (t) => {
  const srv = net.createServer();
  const port = await listen(srv);
  const reads: number[] = [];
  const serverSession = new Promise<SpdySession>((resolve) => srv.once('connection', (sock: net.Socket) => {
    sock.on('data', (c: Buffer) => reads.push(c.length)); // sees the same reads the session parses
    resolve(new SpdySession(sock, { server: true }));
  }));
  // A proxy forwards every byte in its own write, one timer turn apart.
  const proxy = net.createServer((inbound) => {
    const outbound = net.connect(port, '127.0.0.1');
    outbound.setNoDelay(true);
    let queue = Buffer.alloc(0);
    let dripping = false;
    const drip = (): void => {
      dripping = queue.length > 0;
      if (!dripping || outbound.destroyed) return;
      outbound.write(queue.subarray(0, 1));
      queue = queue.subarray(1);
      setTimeout(drip, 0);
    };
    inbound.on('data', (c: Buffer) => {
      queue = Buffer.concat([queue, c]);
      if (!dripping) drip();
    });
    outbound.pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    inbound.on('close', () => outbound.destroy());
  });
  const proxyPort = await listen(proxy);
  const sock = net.connect(proxyPort, '127.0.0.1');
  await once(sock, 'connect');
  const client = new SpdySession(sock, { server: false });
  const server = await serverSession;
  t.after(() => {
    client.close();
    server.close();
    proxy.close();
    srv.close();
  });
  server.on('stream', (s: SpdyStream) => {
    s.reply({ seen: s.headers.streamtype });
    s.pipe(s);
  });
  const s = client.openStream({ streamtype: 'stdout', requestid: '42' });
  const [reply] = await once(s, 'reply');
  assert.deepEqual(reply, { seen: 'stdout' });
  const back = readAll(s);
  s.end('split into single bytes');
  assert.equal((await back).toString(), 'split into single bytes');
  assert.ok((await client.ping()) >= 0);
  const ones = reads.filter((n) => n === 1).length;
  assert.ok(reads.length > 60 && ones >= reads.length * 0.9, `server reads: ${reads.length}, of one byte: ${ones}`);
});

// ---- Go's spdystream as the peer ----

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const GO_PEER = path.join(ROOT, 'test/stream/spdystream-peer.go');
const GOPATH = '/usr/share/gocode';
const haveGo = spawnSync('go', ['version']).status === 0 && fs.existsSync(`${GOPATH}/src/github.com/moby/spdystream/connection.go`);

/**
 * The Go peer's binary: built by `make test` before the suite (a cold build of net/http
 * takes minutes on a busy machine), or here, without blocking the event loop, when absent.
 */
async function goPeer(): Promise<string> {
  const bin = path.join(ROOT, 'out', 'spdystream-peer');
  if (fs.existsSync(bin)) return bin;
  const env = { ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: path.join(ROOT, 'out', 'gocache'), GOFLAGS: '' };
  const build = spawn('go', ['build', '-o', bin, GO_PEER], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  build.stderr.on('data', (d) => (stderr += d));
  const [code] = await once(build, 'exit');
  assert.equal(code, 0, `go build: ${stderr}`);
  return bin;
}

test('spdy: interoperates with Go spdystream (the kubectl/kubelet library)', {
  skip: haveGo ? false : 'needs go and the spdystream sources (apt: golang-go golang-github-docker-spdystream-dev)',
}, async (t) => {
  const bin = await goPeer();

  const sessions: SpdySession[] = [];
  const srv = http.createServer((_req, res) => res.writeHead(404).end());
  srv.on('upgrade', (req, socket, head) => {
    const up = upgradeToSpdy(req, socket, head, PROTOCOLS);
    if (!up) return;
    sessions.push(up.session);
    up.session.on('stream', (s: SpdyStream) => {
      s.reply({ protocol: up.protocol });
      if (s.headers.streamtype === 'stdout') {
        // More than a window to a peer that never sends WINDOW_UPDATE.
        s.resume();
        s.end(Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => i % 251)));
        return;
      }
      s.sendHeaders({ 'X-N': s.headers['x-n'], protocol: up.protocol });
      s.pipe(s);
    });
  });
  const port = await listen(srv);
  t.after(() => srv.close());
  const peer = spawn(bin, [String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => peer.kill());
  let out = '';
  let err = '';
  peer.stderr.on('data', (d) => (err += d));
  const exited = once(peer, 'exit');
  await new Promise<void>((resolve, reject) => {
    peer.stdout.on('data', (d) => {
      out += d;
      if (out.includes('streams done\n')) resolve();
    });
    void exited.then(([code]) => reject(new Error(`Go peer exited ${code}: ${err}\n${out}`)));
  });
  // PING from our side, answered by spdystream.
  assert.equal(sessions.length, 1);
  const ms = await sessions[0].ping();
  assert.ok(ms >= 0);
  // The peer now sends GOAWAY and closes once its streams are done.
  const closed = once(sessions[0], 'close');
  peer.stdin.end();
  const [code] = await exited;
  assert.equal(code, 0, `Go peer failed: ${err}\n${out}`);
  await closed;
  assert.deepEqual(out.trim().split('\n'), [
    'protocol v4.channel.k8s.io',
    'ping ok',
    'download 1048576 bytes ok',
    ...Array.from({ length: 8 }, (_, i) => `stream ${i} reply v4.channel.k8s.io echoed 1048576 bytes ok`),
    'streams done',
    'closed',
  ]);
});
