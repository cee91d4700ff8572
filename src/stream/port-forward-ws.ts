// Port-forward over WebSocket, as kubelet serves it: every message starts with a channel
// byte; port i has data channel 2i and error channel 2i+1; the server opens each channel
// with the port as 2 bytes little-endian. One connection per port per WebSocket; v4 has no
// way to end one channel, so the WebSocket closes when every port's connection is over.
// Subprotocol v4.channel.k8s.io (or none) is binary; v4.base64.channel.k8s.io sends text
// messages: the channel as an ASCII digit, then the payload in base64.
import { Duplex } from 'node:stream';
import type { WebSocket, RawData } from 'ws';
import { forwardConnection, type PortForwardTarget } from './port-forward.js';
import { bufferChurn } from '../sys/index.js';
import { pickProtocol } from './websocket.js';

/** The subprotocols kubelet serves port-forward with (v5's close signal is not one of them); '' is none. */
export const PORT_FORWARD_WS_PROTOCOLS: Record<string, { base64: boolean }> = {
  'v4.channel.k8s.io': { base64: false },
  'v4.base64.channel.k8s.io': { base64: true },
  '': { base64: false },
};

/** For ws's handleProtocols: the first protocol offered that port-forward speaks; false for none (binary without a subprotocol). */
export function selectPortForwardProtocol(offered: Iterable<string>): string | false {
  return pickProtocol(offered, PORT_FORWARD_WS_PROTOCOLS);
}

/**
 * The ports of a port-forward URL's query: `port` as kubelet reads it (repeated and/or
 * comma-separated), or the API server's `ports`. Throws on a bad one.
 */
export function portsFromQuery(q: URLSearchParams): number[] {
  const ports: number[] = [];
  for (const v of [...q.getAll('port'), ...q.getAll('ports')]) {
    for (const s of v.split(',')) {
      const n = Number(s);
      if (!/^\d{1,5}$/.test(s) || n < 1 || n > 65535) throw new Error(`unable to parse "${s}" as a port`);
      ports.push(n);
    }
  }
  return ports;
}

/** One channel of the WebSocket as a stream; writes complete when ws has handed them to the socket. */
class Channel extends Duplex {
  constructor(private readonly mux: Mux, readonly channel: number) {
    super({ allowHalfOpen: true });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.mux.send(this.channel, chunk, cb);
  }
  override _read(): void {
    this.mux.resume();
  }
}

class Mux {
  readonly channels: Channel[] = [];
  private readonly base64: boolean;

  constructor(private readonly ws: WebSocket, count: number) {
    this.base64 = PORT_FORWARD_WS_PROTOCOLS[ws.protocol]?.base64 ?? false;
    for (let i = 0; i < count; i++) this.channels.push(new Channel(this, i).on('error', () => {}));
    ws.on('message', (data: RawData, isBinary: boolean) => this.receive(data, isBinary));
  }

  send(channel: number, payload: Buffer, cb: (e?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) return cb(new Error('the WebSocket is closed'));
    bufferChurn(payload.length, { forwarding: true }); // the message's copy
    if (this.base64) this.ws.send(String.fromCharCode(48 + channel) + payload.toString('base64'), cb);
    else this.ws.send(Buffer.concat([Buffer.of(channel), payload]), { binary: true }, cb);
  }

  resume(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  private receive(raw: RawData, isBinary: boolean): void {
    let msg = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    bufferChurn(msg.length, { forwarding: true });
    if (msg.length === 0) return;
    let channel = msg[0]!;
    if (this.base64 && !isBinary) {
      channel -= 48;
      msg = Buffer.concat([Buffer.of(0), Buffer.from(msg.subarray(1).toString('latin1'), 'base64')]);
    }
    // Only data channels (even) carry anything from the client; an empty message is no data.
    const c = this.channels[channel];
    if (!c || channel % 2 === 1 || msg.length === 1 || c.readableEnded || c.destroyed) return;
    if (!c.push(msg.subarray(1))) this.ws.pause();
  }
}

/**
 * Serves one port-forward WebSocket (already upgraded, subprotocol chosen with
 * selectPortForwardProtocol): forwards one connection to each of ports in the target.
 * Resolves when the WebSocket is closed.
 */
export async function servePortForwardWebSocket(ws: WebSocket, target: PortForwardTarget, ports: number[], signal?: AbortSignal): Promise<void> {
  ws.on('error', () => {});
  const closed = new Promise<void>((resolve) => {
    if (ws.readyState === ws.CLOSED) resolve();
    ws.once('close', () => resolve());
  });
  const mux = new Mux(ws, ports.length * 2);
  // The client went away: every channel goes with it, and with them the pods' connections.
  ws.once('close', () => mux.channels.forEach((c) => c.destroy()));
  const onAbort = () => ws.close(1001, 'the session ended');
  signal?.addEventListener('abort', onAbort, { once: true });
  const portBytes = (p: number) => Buffer.of(p & 0xff, p >> 8);
  for (const [i, port] of ports.entries()) {
    mux.channels[2 * i]!.write(portBytes(port));
    mux.channels[2 * i + 1]!.write(portBytes(port));
  }
  await Promise.all(ports.map((port, i) => forwardConnection(target, port, mux.channels[2 * i]!, mux.channels[2 * i + 1]!, signal)));
  signal?.removeEventListener('abort', onAbort);
  if (ws.readyState === ws.OPEN) ws.close(1000);
  await closed;
}
