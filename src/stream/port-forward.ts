// Port-forward sessions, independent of the transport that carries them: one forwarded
// connection is a data stream and an error stream (a SPDY stream pair, or two channels of a
// WebSocket) tied to one TCP connection dialled inside the pod's network namespace.
// A connection the pod's server resets (ECONNRESET, or EPIPE when it stopped reading)
// resets that stream pair and nothing more: clients end the whole session on any message
// on an error stream, so, as kubelet does since the fix for kubernetes#74551
// (containerd#9875), a reset is logged, not reported there. Other failures (a refused
// dial …) go to the error stream, one line, in kubelet's words.
import { setMaxListeners } from 'node:events';
import type { Duplex, Writable } from 'node:stream';
import type { Socket } from 'node:net';
import { log } from '../log/index.js';
import { bufferChurn, dialInNetns } from '../sys/index.js';

/** Where a pod's ports are: its network namespace (none for a pod on the host's network). */
export interface PortForwardTarget {
  netnsPath?: string;
  /** Names the pod in error messages (the CRI hands out the sandbox id). */
  pod?: string;
  uid?: string;
}

/** After the pod's server has sent its last byte, how long the client may still send. */
const LINGER_MS = 1000;

function noop(): void {}

/** The one-line message kubelet and containerd write on a connection's error stream. */
function forwardError(target: PortForwardTarget, port: number, why: string): string {
  return `error forwarding port ${port} to pod ${target.pod ?? ''}, uid ${target.uid ?? ''}: ${why}`;
}

/** Ends a writable stream after what it holds; resolves once it has flushed or closed. */
function endAndWait(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (w.writableFinished || w.destroyed) return resolve();
    w.once('finish', () => resolve());
    w.once('close', () => resolve());
    w.once('error', () => resolve());
    if (!w.writableEnded) w.end();
  });
}

/** Dials the pod's port on 127.0.0.1, then ::1 if that is refused (a server bound to ::1 only). */
async function dialPod(target: PortForwardTarget, port: number): Promise<Socket> {
  try {
    return await dialInNetns(target.netnsPath, port);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw e;
    return dialInNetns(target.netnsPath, port, { host: '::1' }).catch(() => Promise.reject(e));
  }
}

/**
 * Forwards one connection: dials port in the target, then copies both ways with
 * backpressure. An end of the client's data is passed on as a half-close (the pod's server
 * reads end of file and may still answer); once the pod's side has ended, the client gets
 * a short while to finish. A failed dial is written to error. Resolves when it is over (it
 * never rejects), after ending data and error, or after destroying both with the error
 * when the pod's server reset the connection: the transport resets a stream destroyed
 * with an error (SPDY: RST_STREAM). A client that resets data resets the pod's connection.
 * An abort ends it at once.
 */
export async function forwardConnection(target: PortForwardTarget, port: number, data: Duplex, error: Writable, signal?: AbortSignal): Promise<void> {
  data.on('error', noop);
  error.on('error', noop);
  let clientGone = data.destroyed;
  const onClientGone = () => (clientGone = true);
  data.once('close', onClientGone);
  const report = (why: string) => {
    if (!error.writableEnded && !error.destroyed) error.write(forwardError(target, port, why));
  };
  const finish = async () => {
    data.off('close', onClientGone);
    data.resume(); // what the client still sends has nowhere to go
    await Promise.all([endAndWait(data), endAndWait(error)]);
  };

  let sock: Socket;
  try {
    if (signal?.aborted) throw new Error('the session ended');
    sock = await dialPod(target, port);
  } catch (e) {
    report((e as Error).message);
    return finish();
  }
  if (clientGone || signal?.aborted) {
    sock.destroy();
    return finish();
  }

  const reset = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    let linger: NodeJS.Timeout | undefined;
    let reset: NodeJS.ErrnoException | undefined;
    const abort = () => sock.destroy();
    signal?.addEventListener('abort', abort, { once: true });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') {
        reset = e;
        log.info('port-forward: the pod reset a connection', { pod: target.pod, port, error: e.message });
      } else report(e.code ? `${e.syscall ?? 'socket'} ${e.code}` : e.message);
    });
    // The pod's server sent its last byte: tell the client (pipe ends data), then bound the wait.
    sock.once('end', () => (linger = setTimeout(() => sock.destroy(), LINGER_MS)));
    // The client's stream went away without ending: pass a reset on, else just drop the connection.
    data.once('close', () => {
      if (!data.readableEnded && !sock.destroyed) {
        if (data.errored) sock.resetAndDestroy();
        else sock.destroy();
      }
    });
    sock.once('close', () => {
      clearTimeout(linger);
      signal?.removeEventListener('abort', abort);
      data.unpipe(sock);
      sock.unpipe(data);
      resolve(reset);
    });
    // Each read is a new buffer: V8 would let a transfer's worth of them pile up (see bufferChurn).
    sock.on('data', (c: Buffer) => bufferChurn(c.length, { forwarding: true }));
    data.pipe(sock); // an end of data half-closes sock
    sock.pipe(data);
  });
  if (!reset) return finish();
  data.off('close', onClientGone);
  data.destroy(reset);
  error.destroy(reset);
}

/** A stream of a SPDY port-forward session, as its transport hands it over. */
export interface PortForwardStream {
  /** The stream's headers (names in any case): streamType, port, requestID. */
  headers: Record<string, string | undefined>;
  stream: Duplex;
  /** The SPDY stream id: pairs the streams of clients that send no requestID. */
  id?: number;
}

interface Pair {
  data?: PortForwardStream;
  error?: PortForwardStream;
  timer: NodeJS.Timeout;
}

export interface PortForwardPairsOptions {
  /** How long the second stream of a pair may take to come (kubelet: 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Validates a port header as kubelet does: 1–65535 in decimal. */
export function parsePort(s: string | undefined): number | string {
  if (s === undefined || s === '') return '"port" header is required';
  if (!/^\d{1,5}$/.test(s) || Number(s) > 65535) return `unable to parse "${s}" as a port`;
  if (Number(s) < 1) return `port "${s}" must be > 0`;
  return Number(s);
}

/**
 * The server side of SPDY port-forward (portforward.k8s.io): the client opens a data and an
 * error stream per forwarded connection, with the same requestID; once both are there the
 * connection is forwarded. A pair whose second stream does not come in time is dropped,
 * with a message on its error stream.
 */
export class PortForwardPairs {
  private readonly pairs = new Map<string, Pair>();
  private readonly forwards = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly timeoutMs: number;

  constructor(private readonly target: PortForwardTarget, o: PortForwardPairsOptions = {}) {
    this.timeoutMs = o.timeoutMs ?? 30_000;
    setMaxListeners(0, this.abort.signal); // one listener per connection, and a session may have many
    o.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  /** Connections being forwarded now. */
  get active(): number {
    return this.forwards.size;
  }

  /**
   * Takes a new stream. Returns undefined, or why the stream was refused (for the log): the
   * stream has been dealt with, a refused error stream gets the message and is ended, a
   * refused data stream is destroyed (reset).
   */
  add(s: PortForwardStream): string | undefined {
    s.stream.on('error', noop);
    const h: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(s.headers)) h[k.toLowerCase()] = v?.trim();
    const type = h.streamtype;
    const port = parsePort(h.port);
    let why = typeof port === 'string' ? port : undefined;
    if (!why && !type) why = '"streamType" header is required';
    if (!why && type !== 'data' && type !== 'error') why = `invalid stream type "${type}"`;
    if (!why && this.abort.signal.aborted) why = 'the session has ended';
    // Clients without requestIDs open the error stream first, the data stream two ids later.
    const id = h.requestid || (s.id === undefined ? '' : String(type === 'data' ? s.id - 2 : s.id));
    let pair = this.pairs.get(id);
    if (!why && pair && pair[type as 'data' | 'error']) why = `error processing stream for request ${id}: ${type} stream already assigned`;
    if (why) {
      this.refuse(s, type, why, pair);
      return why;
    }
    if (!pair) {
      const p: Pair = { timer: setTimeout(() => this.expire(id, p), this.timeoutMs) };
      this.pairs.set(id, (pair = p));
    }
    pair[type as 'data' | 'error'] = s;
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      this.pairs.delete(id);
      this.forward(pair.data, pair.error, port as number);
    }
    return undefined;
  }

  /** Ends every connection and drops waiting streams; resolves when all are over. */
  async close(): Promise<void> {
    this.abort.abort();
    for (const [id, p] of this.pairs) this.drop(id, p, 'the session has ended');
    await Promise.all([...this.forwards]);
  }

  private forward(data: PortForwardStream, error: PortForwardStream, port: number): void {
    const f = forwardConnection(this.target, port, data.stream, error.stream, this.abort.signal).finally(() => this.forwards.delete(f));
    this.forwards.add(f);
  }

  private refuse(s: PortForwardStream, type: string | undefined, why: string, pair?: Pair): void {
    if (type === 'error') {
      s.stream.end(why);
      return;
    }
    // A refused data stream's reason goes to its pair's error stream, if that is there.
    if (pair?.error && !pair.error.stream.writableEnded) pair.error.stream.write(why);
    s.stream.destroy();
  }

  private expire(id: string, p: Pair): void {
    if (this.pairs.get(id) === p) this.drop(id, p, `request ${id}: timed out waiting for streams`);
  }

  private drop(id: string, p: Pair, why: string): void {
    clearTimeout(p.timer);
    this.pairs.delete(id);
    p.error?.stream.end(why);
    p.data?.stream.destroy();
  }
}

/** What port-forward needs of a SPDY session: the streams the client opens, and its end. */
export interface PortForwardSession {
  on(event: 'stream', listener: (s: Duplex & { readonly id: number; readonly headers: Record<string, string>; reply(headers?: Record<string, string>): void }) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Serves port-forward on a SPDY session: every stream the client opens is accepted
 * (SYN_REPLY) and paired; resolves when the session has closed and its connections are over.
 */
export function servePortForwardSession(session: PortForwardSession, target: PortForwardTarget, o: PortForwardPairsOptions = {}): Promise<void> {
  const pairs = new PortForwardPairs(target, o);
  session.on('stream', (s) => {
    s.reply();
    const why = pairs.add({ headers: s.headers, stream: s, id: s.id });
    if (why) log.debug('port-forward: stream refused', { pod: target.pod, stream: s.id, why });
  });
  return new Promise((resolve) => session.once('close', () => void pairs.close().then(resolve)));
}
