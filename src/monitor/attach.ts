// Client side of conmon's attach socket (AF_UNIX, SOCK_SEQPACKET).
// conmon → client: each packet is one byte naming the stream (2 stdout, 3 stderr) followed
// by the data (at most 8192 bytes). client → conmon: raw stdin bytes, one packet per write
// (conmon reads at most 32767 bytes per packet, so we send smaller ones). When the client
// shuts down its write side conmon closes the container's stdin (unless
// --leave-stdin-open); when the container exits conmon closes the socket.
//
// Node cannot open SEQPACKET sockets, so sys/ connects and polls the socket, non-blocking,
// on the event loop: a session holds no thread (a blocking read on libuv's threadpool
// would hold one of its four for as long as the session lasts, and stall every fs call
// once four were open). Each recv returns exactly one packet.
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { closeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { BerthError, invalidArgument } from '../errors/index.js';
import { PacketSocket, POLL_READABLE, POLL_WRITABLE, seqpacketConnect } from '../sys/index.js';

/** The stream byte of conmon's output packets (2 is stdout). */
const STDERR_STREAM = 3;
/** Larger than conmon's biggest packet (8192 + 1), so a recv never truncates one. */
const READ_BUFFER = 16384;
/** Packets taken per readiness callback, so one busy session cannot starve the loop. */
const READ_BATCH = 16;
const STDIN_PACKET = 8192;

export interface AttachStreams {
  stdin?: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Docker-style key sequence, e.g. 'ctrl-p,ctrl-q' (the default); '' disables detaching. */
  detachKeys?: string;
  /** Ends the session from outside (resolves 'detached'). */
  signal?: AbortSignal;
  /** Emits 'resize' with a TerminalSize when the client's terminal changes size (TTY sessions). */
  resize?: NodeJS.EventEmitter;
}

export type AttachResult = 'exited' | 'detached';

/** conmon makes <socketDir>/<id> a symlink to the bundle (or exec dir) holding "attach". */
export function attachSocketPath(socketDir: string, id: string): string {
  return join(socketDir, id, 'attach');
}

/** Connects to conmon's attach socket without blocking the event loop (sys: on the pool;
 *  paths longer than sun_path go through the directory's fd). */
export async function connectAttachSocket(socketPath: string, o: { waitMs?: number } = {}): Promise<number> {
  const deadline = Date.now() + (o.waitMs ?? 0);
  try {
    for (;;) {
      try {
        return await seqpacketConnect(socketPath);
      } catch (e) {
        // conmon reports the container's pid before it opens the attach socket: right after
        // a create, the socket may be a moment away.
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() >= deadline) throw e;
        await delay(10);
      }
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      throw new BerthError('FailedPrecondition', `cannot attach: the container is not running (no monitor at ${socketPath})`, { cause: e });
    }
    throw new BerthError('Internal', `cannot attach to ${socketPath}: ${(e as Error).message}`, { cause: e });
  }
}

/** Parses detach keys: comma-separated single characters or ctrl-<a-z@[\]^_>. */
export function parseDetachKeys(spec: string): Buffer {
  if (spec === '') return Buffer.alloc(0);
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim();
    if (k.length === 1) {
      bytes.push(k.charCodeAt(0));
    } else if (/^ctrl-[a-z@[\\\]^_]$/i.test(k)) {
      const c = k.charAt(5).toLowerCase();
      bytes.push(c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : c.charCodeAt(0) & 0x1f);
    } else {
      throw invalidArgument(`invalid detach keys "${spec}": use characters or ctrl-<key>, separated by commas`);
    }
  }
  return Buffer.from(bytes);
}

/** Finds the detach sequence in the stdin byte stream, holding back a partial match. */
export class DetachMatcher {
  private matched = 0;
  constructor(private readonly sequence: Buffer) {}

  /** Returns the bytes to forward and whether the sequence completed. */
  feed(chunk: Buffer): { forward: Buffer; detach: boolean } {
    if (this.sequence.length === 0) return { forward: chunk, detach: false };
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.sequence[this.matched]) {
        this.matched++;
        if (this.matched === this.sequence.length) {
          this.matched = 0;
          return { forward: Buffer.from(out), detach: true };
        }
        continue;
      }
      // A broken partial match is ordinary input after all.
      for (let i = 0; i < this.matched; i++) out.push(this.sequence[i]);
      this.matched = byte === this.sequence[0] ? 1 : 0;
      if (this.matched === 0) out.push(byte);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}

/** An attach session whose socket is connected: from now on no output is missed. */
export interface AttachSession {
  /**
   * Resolves 'exited' when conmon closes the socket (the process ended and its output was
   * delivered) or 'detached' on the detach keys, an abort of s.signal, or an error on
   * stdout/stderr (the client went away; the container keeps running).
   */
  done: Promise<AttachResult>;
}

/**
 * Attaches to a created or running container (or exec) through its attach socket; resolves
 * once connected, so a caller that starts the container afterwards sees all its output.
 * waitMs: how long a socket that is not there yet is waited for (a container just created).
 */
export async function attach(socketPath: string, s: AttachStreams, o: { waitMs?: number } = {}): Promise<AttachSession> {
  const fd = await connectAttachSocket(socketPath, o);
  const done = attachFd(fd, s);
  // A caller that awaits something else first must not see its failure as unhandled.
  done.catch(() => undefined);
  return { done };
}

type Settle = { result: AttachResult } | { error: unknown };

/** Runs an attach session on an already connected socket fd; closes fd at the end. */
export async function attachFd(fd: number, s: AttachStreams): Promise<AttachResult> {
  let matcher: DetachMatcher;
  try {
    matcher = new DetachMatcher(parseDetachKeys(s.detachKeys ?? 'ctrl-p,ctrl-q'));
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  const stdin = s.stdin;
  const buf = Buffer.allocUnsafe(READ_BUFFER);
  /** stdin packets conmon has not taken yet. */
  const pending: Buffer[] = [];
  let stdinEnded = false;
  let detachAfterPending = false;
  let outputBlocked = false;
  let settled: Settle | undefined;
  let finished!: (how: Settle) => void;
  const done = new Promise<Settle>((resolve) => (finished = resolve));

  /** Runs an event handler; whatever it throws ends the session instead of the process. */
  const guard = <A extends unknown[]>(f: (...a: A) => void) => (...a: A) => {
    try {
      f(...a);
    } catch (e) {
      finish({ error: e });
    }
  };
  const socket = new PacketSocket(fd, guard((events: number, error?: NodeJS.ErrnoException) => {
    if (error) {
      // libuv stops polling on a socket error (ECONNRESET when conmon closed with stdin
      // unread): what was delivered before it is still queued.
      if (!readSome(Infinity) && !settled) finish({ error: new BerthError('Internal', `attach: ${error.message}`, { cause: error }) });
      return;
    }
    if (events & POLL_WRITABLE) flush();
    if (events & POLL_READABLE) readSome(READ_BATCH);
  }));

  const watch = () => {
    if (settled) return;
    socket.watch((outputBlocked ? 0 : POLL_READABLE) | (pending.length > 0 ? POLL_WRITABLE : 0));
  };

  const finish = (how: Settle) => {
    if (settled) return;
    settled = how;
    s.signal?.removeEventListener('abort', onAbort);
    if (stdin) {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onStdinError);
      stdin.pause();
    }
    for (const w of [s.stdout, s.stderr]) {
      w.off('close', onOutputError);
      releaseWhenIdle(w, onOutputError);
    }
    // Closing the socket is conmon's end of stream; the fd closes once libuv let go of it.
    void socket.close().then(() => finished(how));
  };

  /** Forwards up to limit packets (stopping early under backpressure, unless draining a
   *  socket that is gone); true when it saw the end of the stream. */
  const readSome = (limit: number): boolean => {
    const draining = limit === Infinity;
    for (let i = 0; i < limit && !settled && (draining || !outputBlocked); i++) {
      let n: number;
      try {
        n = socket.recv(buf);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ECONNRESET' && code !== 'ENOTCONN') throw new BerthError('Internal', `attach: ${(e as Error).message}`, { cause: e });
        n = 0;
      }
      if (n < 0) return false;
      if (n === 0) {
        finish({ result: 'exited' });
        return true;
      }
      if (n === 1) continue;
      const target = buf[0] === STDERR_STREAM ? s.stderr : s.stdout;
      if ((target as Partial<Writable>).destroyed) {
        finish({ result: 'detached' });
        return false;
      }
      // Copy: buf is reused for the next packet while the stream may still hold this one.
      if (!target.write(Buffer.from(buf.subarray(1, n)))) {
        outputBlocked = true;
        waitDrain(target).then(() => {
          outputBlocked = false;
          watch();
        });
        watch();
      }
    }
    return false;
  };

  /** Sends what conmon will take now; waits for writability for the rest. */
  const flush = () => {
    while (pending.length > 0 && !settled) {
      let n: number;
      try {
        n = socket.send(pending[0]);
      } catch {
        // conmon closed its end (the process exited): what is left has nowhere to go, and
        // the read side reports the end of the session.
        pending.length = 0;
        stdinEnded = true;
        break;
      }
      if (n < 0) break;
      pending.shift();
    }
    if (settled) return;
    if (pending.length === 0) {
      if (detachAfterPending) return finish({ result: 'detached' });
      if (stdinEnded) socket.shutdownWrite();
      else stdin?.resume();
    }
    watch();
  };

  const onData = guard((chunk: Buffer | string) => {
    const { forward, detach } = matcher.feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    for (let off = 0; off < forward.length; off += STDIN_PACKET) pending.push(forward.subarray(off, off + STDIN_PACKET));
    if (detach) {
      detachAfterPending = true;
      stdin?.pause();
    } else if (pending.length > 0) {
      // Backpressure: take no more input until conmon has taken this.
      stdin?.pause();
    }
    flush();
  });
  const onEnd = guard(() => {
    stdinEnded = true;
    flush();
  });
  // A broken stdin stops forwarding input; the session goes on (output, detach by signal).
  const onStdinError = () => {
    stdin?.off('data', onData);
    stdin?.off('end', onEnd);
  };
  // An output stream that fails or closes: the client went away, the container runs on.
  const onOutputError = () => finish({ result: 'detached' });
  const onAbort = () => finish({ result: 'detached' });

  for (const w of [s.stdout, s.stderr]) w.on('error', onOutputError).on('close', onOutputError);
  s.signal?.addEventListener('abort', onAbort);
  if (stdin) {
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.on('error', onStdinError);
    stdin.resume();
  }
  if (s.signal?.aborted) finish({ result: 'detached' });
  else watch();

  const how = await done;
  if ('error' in how) throw how.error;
  return how.result;
}

/** Keeps listener on w's 'error' until the writes already handed to w are done (an error
 *  they raise later must not go unhandled), then removes it. */
function releaseWhenIdle(w: NodeJS.WritableStream, listener: () => void): void {
  const off = () => {
    w.off('error', listener);
    w.off('drain', off);
    w.off('close', off);
    w.off('error', off);
  };
  if (!(w as Partial<Writable>).writableLength) {
    setImmediate(off); // errors of a write on a destroyed stream come on the next tick
    return;
  }
  w.on('drain', off);
  w.on('close', off);
  w.on('error', off);
}

function waitDrain(w: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      w.off('error', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
    w.on('error', done);
  });
}
