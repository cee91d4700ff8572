import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { bufferChurn } from '../../sys/index.js';
import {
  ByteQueue, DICTIONARY, FLAG_FIN, FLAG_UNIDIRECTIONAL, GOAWAY, GOAWAY_OK, GOAWAY_PROTOCOL_ERROR,
  HEADERS, MAX_ID, PING, RST_STREAM, RstStatus, SETTINGS, SETTINGS_INITIAL_WINDOW_SIZE, SYN_REPLY,
  SYN_STREAM, VERSION, WINDOW_UPDATE, controlFrame, dataHeader, decodeHeaders, encodeHeaders,
  settingsFrame, wordsFrame,
} from './frames.js';

/** The initial flow-control window of every stream and of the session (SPDY/3.1). */
const DEFAULT_WINDOW = 64 * 1024;
/** What we let the peer have in flight on the whole session, in stream windows: raised from the
 *  default at start so one slow stream does not stall the others. */
const SESSION_WINDOWS = 16;
const MAX_DATA_FRAME = 16 * 1024;

export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(`spdy: ${message}`);
    this.name = 'SpdyProtocolError';
  }
}

type WriteCallback = (err?: Error | null) => void;

/** Header blocks share one zlib context per direction for the whole session. Node has no
 *  synchronous zlib call that keeps its context between calls, so blocks go through zlib streams
 *  in order; the session keeps frame order around the asynchronous step. */
class HeaderCodec {
  private readonly deflater = zlib.createDeflate({ dictionary: DICTIONARY, flush: zlib.constants.Z_SYNC_FLUSH });
  private readonly inflater = zlib.createInflate({ dictionary: DICTIONARY, flush: zlib.constants.Z_SYNC_FLUSH });
  private readonly deflated: Buffer[] = [];
  private readonly inflated: Buffer[] = [];

  constructor(onError: (e: Error) => void) {
    this.deflater.on('data', (c: Buffer) => this.deflated.push(c));
    this.inflater.on('data', (c: Buffer) => this.inflated.push(c));
    this.deflater.on('error', onError);
    this.inflater.on('error', onError);
  }

  compress(headers: Record<string, string>): Promise<Buffer> {
    return this.run(this.deflater, this.deflated, encodeHeaders(headers));
  }

  decompress(block: Buffer): Promise<Buffer> {
    return this.run(this.inflater, this.inflated, block);
  }

  close(): void {
    this.deflater.close();
    this.inflater.close();
  }

  // Output is emitted before the write's callback runs; a failed block never calls back
  // (the 'error' handler ends the session instead).
  private run(z: zlib.Deflate | zlib.Inflate, out: Buffer[], input: Buffer): Promise<Buffer> {
    return new Promise((resolve) => {
      z.write(input, (err) => {
        if (!err) resolve(Buffer.concat(out.splice(0)));
      });
    });
  }
}

interface PendingWrite {
  chunk: Buffer;
  off: number;
  cb: WriteCallback;
}

/**
 * One SPDY/3.1 connection. Server sessions own even stream ids, clients odd ones.
 * Events: 'stream' (SpdyStream) for each stream the peer opens; 'goaway' (lastGoodId, status)
 * when the peer sends GOAWAY; 'error' (SpdyProtocolError) when the peer breaks the protocol
 * (the session then closes; emitted only while someone listens, so a bad peer never takes the
 * process down); 'close' once the socket is gone.
 */
export class SpdySession extends EventEmitter {
  private readonly socket: Duplex;
  private readonly server: boolean;
  private readonly streams = new Map<number, SpdyStream>();
  private readonly codec: HeaderCodec;
  private readonly input = new ByteQueue();
  private nextId: number;
  private lastPeerId = 0;
  private nextPingId: number;
  private readonly pings = new Map<number, { start: number; resolve: (ms: number) => void; reject: (e: Error) => void }>();
  private decoding = false;
  private closed = false;
  private prefaceSent = false;
  private goingAway = false;
  private peerGoneAway = false;

  // Outgoing frames in order; a header frame waits for its compressed block.
  private readonly out: Array<Buffer | Promise<Buffer>> = [];
  private flushWaiters: WriteCallback[] = [];

  // Send side flow control. Go's spdystream (kubectl, the kubelet) neither sends WINDOW_UPDATE nor
  // honours ours, so until the peer shows it does flow control (SETTINGS or WINDOW_UPDATE, which
  // we send first thing ourselves) an exhausted window asks with a PING: an answer without either,
  // or data beyond our window, means the peer has none and windows are no longer enforced.
  private peerFlow: 'unknown' | 'on' | 'off' = 'unknown';
  private probing = false;
  /** @internal */ peerInitialWindow = DEFAULT_WINDOW;
  private sendWindow = DEFAULT_WINDOW;
  private readonly blocked = new Set<SpdyStream>();

  // Receive side: bytes consumed but not yet given back to the peer's session window, and the
  // streams whose peer ignores our windows (the socket is paused while any holds too much).
  private sessionUncredited = 0;
  private readonly overrun = new Set<SpdyStream>();
  /** What each stream's peer may send ahead of its reader. */
  private readonly receiveWindow: number;

  /** receiveWindow: the stream window we advertise (default 64 KiB, the protocol's). */
  constructor(socket: Duplex, o: { server: boolean; receiveWindow?: number }) {
    super();
    this.socket = socket;
    this.server = o.server;
    this.nextId = o.server ? 2 : 1;
    this.nextPingId = o.server ? 2 : 1;
    this.receiveWindow = Math.min(o.receiveWindow ?? DEFAULT_WINDOW, Math.floor(MAX_ID / SESSION_WINDOWS));
    this.codec = new HeaderCodec((e) => this.fail(`header block: ${e.message}`));
    (socket as Duplex & { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
    socket.on('data', (b: Buffer) => {
      bufferChurn(b.length, { forwarding: true });
      this.input.push(b);
      this.readFrames();
    });
    socket.on('drain', () => this.checkFlushed());
    socket.on('end', () => socket.end());
    socket.on('error', () => {}); // a reset connection just closes the session
    socket.on('close', () => this.shutdown());
    socket.resume(); // a socket handed over paused (say, after reading an HTTP response) flows again
    // A server speaks after the client's first frame: a client still reading the HTTP 101
    // response through a buffered reader could swallow early frames.
    if (!o.server) this.preface();
  }

  /** Streams currently in the session's table (open in at least one direction). */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Opens a stream (SYN_STREAM). fin: we send nothing more; unidirectional: the peer may not send. */
  openStream(headers: Record<string, string>, o: { fin?: boolean; unidirectional?: boolean } = {}): SpdyStream {
    if (this.closed || this.goingAway || this.peerGoneAway) throw new Error('spdy: session is closing');
    if (this.nextId > MAX_ID) throw new Error('spdy: stream ids exhausted');
    this.preface();
    const id = this.nextId;
    this.nextId += 2;
    const s = new SpdyStream(this, id, lowerCase(headers));
    this.streams.set(id, s);
    const prefix = Buffer.alloc(10); // stream id, associated-to id 0, priority 0, slot 0
    prefix.writeUInt32BE(id, 0);
    this.sendHeaders(SYN_STREAM, (o.fin ? FLAG_FIN : 0) | (o.unidirectional ? FLAG_UNIDIRECTIONAL : 0), prefix, headers);
    if (o.unidirectional) s.closeRemote();
    if (o.fin) s.closeLocal();
    return s;
  }

  ping(): Promise<number> {
    if (this.closed) return Promise.reject(new Error('spdy: session closed'));
    this.preface();
    const id = this.nextPingId;
    this.nextPingId = this.nextPingId + 2 > MAX_ID ? (this.server ? 2 : 1) : this.nextPingId + 2;
    return new Promise((resolve, reject) => {
      this.pings.set(id, { start: performance.now(), resolve, reject });
      this.send(wordsFrame(PING, 0, id));
    });
  }

  /** Tells the peer no more streams are accepted; the connection closes once open streams end. */
  goAway(): void {
    if (this.closed || this.goingAway) return;
    this.preface();
    this.goingAway = true;
    this.send(wordsFrame(GOAWAY, 0, this.lastPeerId, GOAWAY_OK));
    this.maybeFinish();
  }

  close(): void {
    this.socket.destroy();
    this.shutdown();
  }

  // ---- outgoing ----

  /** @internal */
  send(frame: Buffer | Promise<Buffer>): void {
    if (this.closed) return;
    if (this.out.length === 0 && Buffer.isBuffer(frame)) {
      this.socket.write(frame);
      return;
    }
    this.out.push(frame);
    if (this.out.length === 1) void this.drainOut();
  }

  private async drainOut(): Promise<void> {
    while (this.out.length > 0 && !this.closed) {
      const frame = await this.out[0];
      this.out.shift();
      if (!this.closed) this.socket.write(frame);
    }
    this.checkFlushed();
  }

  /** @internal */
  sendHeaders(type: number, flags: number, prefix: Buffer, headers: Record<string, string>): void {
    if (this.closed) return;
    const block = this.codec.compress(lowerCase(headers)); // one entry per lower-cased name
    this.send(block.then((b) => controlFrame(type, flags, Buffer.concat([prefix, b]))));
  }

  /** Calls back once everything queued has reached the socket and the socket wants more. */
  private afterFlush(cb: WriteCallback): void {
    if (this.closed) cb(new Error('spdy: session closed'));
    else if (this.out.length === 0 && !this.socket.writableNeedDrain) cb();
    else this.flushWaiters.push(cb);
  }

  private checkFlushed(): void {
    if (this.out.length > 0 || this.socket.writableNeedDrain || this.flushWaiters.length === 0) return;
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const cb of waiters) cb();
  }

  private preface(): void {
    if (this.prefaceSent || this.closed) return;
    this.prefaceSent = true;
    this.send(settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, this.receiveWindow]]));
    this.send(wordsFrame(WINDOW_UPDATE, 0, 0, SESSION_WINDOWS * this.receiveWindow - DEFAULT_WINDOW));
  }

  /** @internal Sends as much of the stream's pending write as the windows allow. */
  pump(s: SpdyStream): void {
    const w = s.pendingWrite;
    if (!w || this.closed) return;
    // A chunk's frames go out in one writev: header, payload (the writer's bytes, not a copy), …
    this.socket.cork();
    try {
      while (w.off < w.chunk.length) {
        let room = MAX_DATA_FRAME;
        if (this.peerFlow !== 'off') room = Math.min(room, s.sendWindow, this.sendWindow);
        if (room <= 0) {
          this.blocked.add(s);
          this.probeFlowControl();
          return;
        }
        const n = Math.min(room, w.chunk.length - w.off);
        this.send(dataHeader(s.id, 0, n));
        this.send(w.chunk.subarray(w.off, w.off + n));
        w.off += n;
        s.sendWindow -= n;
        this.sendWindow -= n;
      }
    } finally {
      this.socket.uncork();
    }
    this.blocked.delete(s);
    s.pendingWrite = undefined;
    this.afterFlush(w.cb);
  }

  private pumpAll(): void {
    for (const s of [...this.blocked]) this.pump(s);
  }

  private probeFlowControl(): void {
    if (this.peerFlow !== 'unknown' || this.probing) return;
    this.probing = true;
    this.ping().then(() => {
      if (this.peerFlow !== 'unknown') return;
      this.peerFlow = 'off';
      this.pumpAll();
    }, () => {});
  }

  /** @internal Gives the peer credit for what the stream's reader has consumed. */
  credit(s: SpdyStream): void {
    const consumed = s.received - s.readableLength - s.credited;
    if (consumed <= 0) return;
    s.credited += consumed;
    if (!s.remoteClosed && this.streams.get(s.id) === s) this.send(wordsFrame(WINDOW_UPDATE, 0, s.id, consumed));
    this.creditSession(consumed);
    if (this.overrun.has(s) && s.received - s.credited <= this.receiveWindow) this.unblockInput(s);
  }

  private creditSession(n: number): void {
    this.sessionUncredited += n;
    if (this.sessionUncredited < DEFAULT_WINDOW) return;
    this.send(wordsFrame(WINDOW_UPDATE, 0, 0, this.sessionUncredited));
    this.sessionUncredited = 0;
  }

  private unblockInput(s: SpdyStream): void {
    if (!this.overrun.delete(s)) return;
    if (this.overrun.size === 0 && !this.closed) this.socket.resume();
  }

  // ---- stream bookkeeping ----

  /** @internal */
  streamClosedBothWays(s: SpdyStream): void {
    if (this.streams.get(s.id) !== s) return;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    this.maybeFinish();
  }

  /** @internal Called from the stream's _destroy. */
  streamDestroyed(s: SpdyStream, w: PendingWrite | undefined): void {
    if (this.streams.get(s.id) === s) {
      if (!s.rstDone) this.send(wordsFrame(RST_STREAM, 0, s.id, RstStatus.CANCEL));
      this.streams.delete(s.id);
    }
    this.blocked.delete(s);
    // Unread data is dropped: give it back to the session window.
    this.creditSession(s.received - s.credited);
    s.credited = s.received;
    this.unblockInput(s);
    w?.cb(new Error('spdy: stream closed'));
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if ((this.goingAway || this.peerGoneAway) && this.streams.size === 0 && !this.closed) {
      this.afterFlush(() => this.socket.end());
    }
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('spdy: session closed');
    for (const s of [...this.streams.values()]) s.destroy();
    this.streams.clear();
    this.blocked.clear();
    for (const p of this.pings.values()) p.reject(err);
    this.pings.clear();
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const cb of waiters) cb(err);
    this.codec.close();
    this.emit('close');
  }

  /** A protocol error: GOAWAY, 'error' for whoever listens, close. */
  private fail(message: string): void {
    if (this.closed) return;
    const err = new SpdyProtocolError(message);
    if (this.out.length === 0) this.socket.write(wordsFrame(GOAWAY, 0, this.lastPeerId, GOAWAY_PROTOCOL_ERROR));
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.close();
  }

  // ---- incoming ----

  private readFrames(): void {
    while (!this.closed && !this.decoding && this.input.length >= 8) {
      const length = this.input.peek(8).readUInt32BE(4) & 0xffffff;
      if (this.input.length < 8 + length) return;
      const frame = this.input.take(8 + length);
      if (this.server) this.preface();
      this.onFrame(frame);
    }
  }

  private onFrame(f: Buffer): void {
    const flags = f[4];
    const p = f.subarray(8);
    if ((f[0] & 0x80) === 0) {
      this.onData(f.readUInt32BE(0) & MAX_ID, flags, p);
      return;
    }
    const version = f.readUInt16BE(0) & 0x7fff;
    const type = f.readUInt16BE(2);
    if (version !== VERSION) return this.fail(`unsupported version ${version}`);
    switch (type) {
      case SYN_STREAM:
        if (p.length < 10) return this.fail('short SYN_STREAM');
        return this.decodeBlock(p.subarray(10), (h) => this.onSynStream(p.readUInt32BE(0) & MAX_ID, flags, h));
      case SYN_REPLY:
        if (p.length < 4) return this.fail('short SYN_REPLY');
        return this.decodeBlock(p.subarray(4), (h) => this.onReply(p.readUInt32BE(0) & MAX_ID, flags, h, 'reply'));
      case HEADERS:
        if (p.length < 4) return this.fail('short HEADERS');
        return this.decodeBlock(p.subarray(4), (h) => this.onReply(p.readUInt32BE(0) & MAX_ID, flags, h, 'headers'));
      case RST_STREAM:
        if (p.length !== 8) return this.fail('RST_STREAM length');
        return this.onReset(p.readUInt32BE(0) & MAX_ID, p.readUInt32BE(4));
      case SETTINGS:
        return this.onSettings(p);
      case PING:
        if (p.length !== 4) return this.fail('PING length');
        return this.onPing(p.readUInt32BE(0));
      case GOAWAY:
        if (p.length !== 8) return this.fail('GOAWAY length');
        return this.onGoAway(p.readUInt32BE(0) & MAX_ID, p.readUInt32BE(4));
      case WINDOW_UPDATE:
        if (p.length !== 8) return this.fail('WINDOW_UPDATE length');
        return this.onWindowUpdate(p.readUInt32BE(0) & MAX_ID, p.readUInt32BE(4) & MAX_ID);
      default:
        return; // unknown control frames are ignored
    }
  }

  /** Inflates a header block; frames after it wait, so order is kept. Every block is inflated,
   *  even for streams we refuse, or the shared zlib context would fall out of step. */
  private decodeBlock(block: Buffer, then: (h: Record<string, string>) => void): void {
    this.decoding = true;
    void this.codec.decompress(block).then((raw) => {
      this.decoding = false;
      if (this.closed) return;
      let headers: Record<string, string>;
      try {
        headers = decodeHeaders(raw);
      } catch (e) {
        return this.fail((e as Error).message);
      }
      then(headers);
      this.readFrames();
    });
  }

  private onSynStream(id: number, flags: number, headers: Record<string, string>): void {
    if (id === 0) return this.fail('SYN_STREAM with stream id 0');
    const peerParity = this.server ? 1 : 0;
    if (id % 2 !== peerParity || id <= this.lastPeerId) {
      this.send(wordsFrame(RST_STREAM, 0, id, RstStatus.PROTOCOL_ERROR));
      return;
    }
    this.lastPeerId = id;
    if (this.goingAway || this.listenerCount('stream') === 0) {
      this.send(wordsFrame(RST_STREAM, 0, id, RstStatus.REFUSED_STREAM));
      return;
    }
    const s = new SpdyStream(this, id, headers, true);
    this.streams.set(id, s);
    if (flags & FLAG_UNIDIRECTIONAL) s.closeLocal();
    if (flags & FLAG_FIN) s.closeRemote();
    this.emit('stream', s);
  }

  private onReply(id: number, flags: number, headers: Record<string, string>, event: 'reply' | 'headers'): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.emit(event, headers);
    if (flags & FLAG_FIN) s.closeRemote();
  }

  private onReset(id: number, status: number): void {
    const s = this.streams.get(id);
    if (!s) return;
    s.rstDone = true;
    s.emit('reset', status);
    s.destroy();
  }

  private onSettings(p: Buffer): void {
    if (p.length < 4) return this.fail('short SETTINGS');
    const n = p.readUInt32BE(0);
    if (p.length !== 4 + 8 * n) return this.fail('SETTINGS length');
    this.peerFlow = 'on';
    for (let i = 0; i < n; i++) {
      const id = p.readUInt32BE(4 + 8 * i) & 0xffffff;
      const value = p.readUInt32BE(8 + 8 * i);
      if (id !== SETTINGS_INITIAL_WINDOW_SIZE) continue;
      if (value > MAX_ID) return this.fail('SETTINGS_INITIAL_WINDOW_SIZE too large');
      // A changed initial window shifts every stream's window by the difference.
      const delta = value - this.peerInitialWindow;
      this.peerInitialWindow = value;
      for (const s of this.streams.values()) s.sendWindow += delta;
    }
    this.pumpAll();
  }

  private onPing(id: number): void {
    if ((id & 1) !== (this.nextPingId & 1)) {
      this.send(wordsFrame(PING, 0, id)); // the peer's ping: echo it
      return;
    }
    const p = this.pings.get(id);
    if (!p) return;
    this.pings.delete(id);
    p.resolve(performance.now() - p.start);
  }

  private onGoAway(lastGoodId: number, status: number): void {
    this.peerGoneAway = true;
    // Our streams above lastGoodId were never seen by the peer.
    const ours = this.server ? 0 : 1;
    for (const s of [...this.streams.values()]) {
      if (s.id % 2 === ours && s.id > lastGoodId) {
        s.rstDone = true;
        s.emit('reset', RstStatus.REFUSED_STREAM);
        s.destroy();
      }
    }
    this.emit('goaway', lastGoodId, status);
    this.maybeFinish();
  }

  private onWindowUpdate(id: number, delta: number): void {
    this.peerFlow = 'on';
    if (id === 0) {
      this.sendWindow += delta;
      if (this.sendWindow > MAX_ID) return this.fail('session window overflow');
      this.pumpAll();
      return;
    }
    const s = this.streams.get(id);
    if (!s) return;
    s.sendWindow += delta;
    if (s.sendWindow > MAX_ID) {
      s.rstDone = true;
      this.send(wordsFrame(RST_STREAM, 0, id, RstStatus.FLOW_CONTROL_ERROR));
      s.destroy();
      return;
    }
    this.pump(s);
  }

  private onData(id: number, flags: number, data: Buffer): void {
    if (id === 0) return this.fail('DATA with stream id 0');
    const s = this.streams.get(id);
    if (!s || s.remoteClosed) {
      this.creditSession(data.length); // a closed or reset stream: drop it
      return;
    }
    if (data.length > 0) {
      s.received += data.length;
      s.push(data);
      if (s.received - s.credited > this.receiveWindow && !this.overrun.has(s)) {
        // The peer ignores our window: stop reading the socket until this reader catches up
        // (TCP then holds the peer back). Such a peer has no flow control of its own either, and
        // a writer waiting on it must not wait for the answer to a PING we no longer read.
        this.overrun.add(s);
        this.socket.pause();
        if (this.peerFlow === 'unknown') {
          this.peerFlow = 'off';
          this.pumpAll();
        }
      }
    }
    if (flags & FLAG_FIN) s.closeRemote();
  }
}

function lowerCase(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = String(v);
  return out;
}

/**
 * One SPDY stream. end() sends an empty DATA frame with FIN (half-close); the peer's FIN ends the
 * readable side. Events besides Duplex's: 'reply' (headers) for the peer's SYN_REPLY, 'headers'
 * (headers) for a HEADERS frame, 'reset' (status) when the peer resets the stream (it is then
 * destroyed without an error). A stream cut off by the session closing is destroyed without
 * 'end' (so pipeline()/finished() report a premature close). A written chunk goes out as it
 * is, not copied: as with a socket, the writer does not change it afterwards.
 */
export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: Record<string, string>;
  private readonly session: SpdySession;
  private readonly peerOpened: boolean;
  private replied = false;
  private crediting = false;
  /** @internal */ localClosed = false;
  /** @internal */ remoteClosed = false;
  /** @internal */ rstDone = false;
  /** @internal */ sendWindow: number;
  /** @internal */ pendingWrite: PendingWrite | undefined;
  /** @internal */ received = 0;
  /** @internal */ credited = 0;

  /** @internal */
  constructor(session: SpdySession, id: number, headers: Record<string, string>, peerOpened = false) {
    super({ allowHalfOpen: true });
    this.session = session;
    this.peerOpened = peerOpened;
    this.id = id;
    this.headers = headers;
    this.sendWindow = session.peerInitialWindow;
  }

  /** Answers a stream the peer opened (SYN_REPLY). Writing to or ending such a stream before
   *  replying replies with no headers first: spdystream drops DATA that precedes the SYN_REPLY. */
  reply(headers: Record<string, string> = {}, o: { fin?: boolean } = {}): void {
    if (!this.peerOpened || this.replied || this.destroyed) return;
    this.replied = true;
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(this.id, 0);
    this.session.sendHeaders(SYN_REPLY, o.fin ? FLAG_FIN : 0, prefix, headers);
    if (o.fin) this.closeLocal();
  }

  /** Sends more headers on the stream (a HEADERS frame), optionally ending our side. */
  sendHeaders(headers: Record<string, string>, o: { fin?: boolean } = {}): void {
    if (this.localClosed || this.destroyed) throw new Error('spdy: stream is not writable');
    this.reply();
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(this.id, 0);
    this.session.sendHeaders(HEADERS, o.fin ? FLAG_FIN : 0, prefix, headers);
    if (o.fin) this.closeLocal();
  }

  /** Sends RST_STREAM (default CANCEL) and destroys the stream. */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.destroyed) return;
    if (!this.rstDone) {
      this.rstDone = true;
      this.session.send(wordsFrame(RST_STREAM, 0, this.id, status));
    }
    this.destroy();
  }

  /** @internal Our side is done without a DATA FIN (sent with the SYN, or the peer's stream is unidirectional). */
  closeLocal(): void {
    this.localClosed = true;
    this.end();
    if (this.remoteClosed) this.session.streamClosedBothWays(this);
  }

  /** @internal */
  closeRemote(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
    if (this.localClosed) this.session.streamClosedBothWays(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: WriteCallback): void {
    if (this.localClosed) return cb(new Error('spdy: stream is not writable'));
    this.reply();
    this.pendingWrite = { chunk, off: 0, cb };
    this.session.pump(this);
  }

  override _final(cb: WriteCallback): void {
    if (!this.localClosed) {
      this.reply();
      this.localClosed = true;
      this.session.send(dataHeader(this.id, FLAG_FIN, 0));
      if (this.remoteClosed) this.session.streamClosedBothWays(this);
    }
    cb();
  }

  // Credit is given after the read that asked for more has taken its bytes out of the buffer,
  // so data sitting unread in a paused stream is never acknowledged.
  override _read(): void {
    if (this.crediting) return;
    this.crediting = true;
    process.nextTick(() => {
      this.crediting = false;
      this.session.credit(this);
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const w = this.pendingWrite;
    this.pendingWrite = undefined;
    if (this.localClosed && this.remoteClosed) this.rstDone = true; // nothing left to cancel
    this.session.streamDestroyed(this, w);
    cb(err);
  }
}
