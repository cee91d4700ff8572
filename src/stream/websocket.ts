// The Kubernetes channel protocols over WebSocket, server side. Every message starts with
// its channel: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize. The base64 protocols send
// text messages: the channel as a digit, then the data in base64. v4 reports the end as a
// JSON Status on the error channel; v5 adds the close message [255, channel] (the client
// closes its stdin without closing the connection).
import { PassThrough, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import { log } from '../log/index.js';
import { resizeEvents, runCommand } from './remote-command.js';
import { statusBytes } from './status.js';
import type { CommandRequest, StreamRuntime } from './types.js';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;

interface Protocol {
  base64: boolean;
  /** Status as JSON on the error channel (v4 and later). */
  jsonStatus: boolean;
  /** Understands the close message (v5). */
  close: boolean;
}

/** The remote-command subprotocols served, by name; '' is a client that names none (v1, binary). */
export const COMMAND_PROTOCOLS: Record<string, Protocol> = {
  'v5.channel.k8s.io': { base64: false, jsonStatus: true, close: true },
  'v4.channel.k8s.io': { base64: false, jsonStatus: true, close: false },
  'v4.base64.channel.k8s.io': { base64: true, jsonStatus: true, close: false },
  'channel.k8s.io': { base64: false, jsonStatus: false, close: false },
  'base64.channel.k8s.io': { base64: true, jsonStatus: false, close: false },
  '': { base64: false, jsonStatus: false, close: false },
};

/** The first protocol the client offers that is served (its order is its preference). */
export function pickProtocol(offered: Iterable<string>, served: Record<string, unknown>): string | false {
  for (const p of offered) if (p in served && p !== '') return p;
  return false;
}

function frame(p: Protocol, channel: number, data: Buffer): Buffer | string {
  if (p.base64) return String(channel) + data.toString('base64');
  const out = Buffer.allocUnsafe(data.length + 1);
  out[0] = channel;
  data.copy(out, 1);
  return out;
}

/** A channel the server writes: each write is one message, done once ws took it. */
function writeChannel(ws: WebSocket, p: Protocol, channel: number): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      if (ws.readyState !== ws.OPEN) return done();
      ws.send(frame(p, channel, chunk), (err) => done(err ?? undefined));
    },
  }).on('error', (e) => log.debug('websocket channel write failed', { channel, error: e.message }));
}

/**
 * Serves one exec or attach on an open WebSocket: relays the channels, runs the command,
 * sends its status and closes. A client that goes away ends the command (exec) or detaches
 * (attach).
 */
export async function serveCommandWebSocket(ws: WebSocket, runtime: StreamRuntime, req: CommandRequest): Promise<void> {
  const p = COMMAND_PROTOCOLS[ws.protocol] ?? COMMAND_PROTOCOLS[''];
  const abort = new AbortController();
  const stdin = req.stdin ? new PassThrough() : undefined;
  const stdout = req.stdout ? writeChannel(ws, p, STDOUT) : undefined;
  const stderr = req.stderr && !req.tty ? writeChannel(ws, p, STDERR) : undefined;
  const resize = resizeEvents();
  ws.on('error', (e) => log.debug('websocket error', { error: e.message }));
  ws.on('close', () => {
    stdin?.end();
    abort.abort();
  });
  stdin?.on('error', (e) => log.debug('stdin relay failed', { error: e.message }));
  ws.on('message', (raw: Buffer, isBinary: boolean) => {
    try {
      onMessage(raw, isBinary);
    } catch (e) {
      log.debug('bad websocket message', { error: (e as Error).message });
    }
  });
  const onMessage = (raw: Buffer, isBinary: boolean) => {
    let channel: number;
    let data: Buffer;
    if (p.base64 && !isBinary) {
      const text = raw.toString('latin1');
      channel = text.charCodeAt(0) - 48;
      data = Buffer.from(text.slice(1), 'base64');
    } else {
      if (raw.length === 0) return;
      channel = raw[0];
      data = raw.subarray(1);
    }
    if (channel === STDIN) stdin?.write(data);
    else if (channel === RESIZE && req.tty) resize.push(data);
    else if (channel === CLOSE && p.close && data[0] === STDIN) stdin?.end();
  };
  // An empty message on the lowest channel the server writes tells the client it is connected.
  ws.send(frame(p, stdout ? STDOUT : stderr ? STDERR : ERROR, Buffer.alloc(0)));
  const outcome = await runCommand(runtime, req, { stdin, stdout, stderr, resize: resize.emitter }, abort.signal);
  if (ws.readyState !== ws.OPEN) return;
  // What the command wrote is sent before its status.
  await Promise.all([stdout, stderr].map((w) => w && new Promise<void>((resolve) => w.end(resolve))));
  const status = statusBytes(outcome, req.kind === 'exec' ? req.cmd : [], p.jsonStatus);
  if (status) await new Promise<void>((resolve) => ws.send(frame(p, ERROR, status), () => resolve()));
  ws.close(1000);
}
