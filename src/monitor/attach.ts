// Client side of conmon's attach socket (AF_UNIX, SOCK_SEQPACKET).
// conmon → client: each packet is one byte naming the stream (2 stdout, 3 stderr) followed
// by the data (at most 8192 bytes). client → conmon: raw stdin bytes, one packet per write
// (conmon reads at most 32767 bytes per packet, so we send smaller ones). When the client
// shuts down its write side conmon closes the container's stdin (unless
// --leave-stdin-open); when the container exits conmon closes the socket.
//
// Node cannot open SEQPACKET sockets, so sys/ connects and gives a blocking fd. Reads go
// through fs.read on the libuv threadpool, one outstanding read at a time; each read
// returns exactly one packet. Shutting the socket down wakes a blocked read (EOF).
import { basename, dirname, join } from 'node:path';
import { close, closeSync, openSync, read, write } from 'node:fs';
import { BerthError, invalidArgument } from '../errors/index.js';
import { seqpacketConnect, shutdownSocket, shutdownWrite } from '../sys/index.js';

/** The stream byte of conmon's output packets (2 is stdout). */
const STDERR_STREAM = 3;
/** Larger than conmon's biggest packet, so a read never truncates one. */
const READ_BUFFER = 65536;
const STDIN_PACKET = 8192;
const SUN_PATH_MAX = 107;

export interface AttachStreams {
  stdin?: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Docker-style key sequence, e.g. 'ctrl-p,ctrl-q' (the default); '' disables detaching. */
  detachKeys?: string;
  /** Ends the session from outside (resolves 'detached'). */
  signal?: AbortSignal;
}

export type AttachResult = 'exited' | 'detached';

/** conmon makes <socketDir>/<id> a symlink to the bundle (or exec dir) holding "attach". */
export function attachSocketPath(socketDir: string, id: string): string {
  return join(socketDir, id, 'attach');
}

/** Connects to a SEQPACKET socket; paths longer than sun_path go through /proc/self/fd. */
export function connectAttachSocket(socketPath: string): number {
  try {
    if (Buffer.byteLength(socketPath) <= SUN_PATH_MAX) return seqpacketConnect(socketPath);
    const dirFd = openSync(dirname(socketPath), 'r');
    try {
      return seqpacketConnect(`/proc/self/fd/${dirFd}/${basename(socketPath)}`);
    } finally {
      closeSync(dirFd);
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

function readPacket(fd: number, buf: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

function writeAll(fd: number, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    write(fd, data, 0, data.length, null, (err, n) => {
      if (err) reject(err);
      else if (n < data.length) writeAll(fd, data.subarray(n)).then(resolve, reject);
      else resolve();
    });
  });
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

/**
 * Attaches to a running container (or exec) through its attach socket. Resolves 'exited'
 * when conmon closes the socket (the process ended and its output was delivered) or
 * 'detached' on the detach keys or an abort of s.signal.
 */
export async function attach(socketPath: string, s: AttachStreams): Promise<AttachResult> {
  const fd = connectAttachSocket(socketPath);
  return attachFd(fd, s);
}

/** Runs an attach session on an already connected socket fd; closes fd at the end. */
export async function attachFd(fd: number, s: AttachStreams): Promise<AttachResult> {
  const matcher = new DetachMatcher(parseDetachKeys(s.detachKeys ?? 'ctrl-p,ctrl-q'));
  let result: AttachResult = 'exited';
  let stopped = false;
  let writes: Promise<void> = Promise.resolve();

  const stop = () => {
    if (stopped) return;
    stopped = true;
    result = 'detached';
    try {
      shutdownSocket(fd);
    } catch {
      // already closed by the peer
    }
  };
  const onAbort = () => stop();
  s.signal?.addEventListener('abort', onAbort);
  if (s.signal?.aborted) stop();

  const stdin = s.stdin;
  const send = (data: Buffer) => {
    for (let off = 0; off < data.length; off += STDIN_PACKET) {
      const packet = data.subarray(off, off + STDIN_PACKET);
      writes = writes.then(() => (stopped ? undefined : writeAll(fd, packet))).catch(() => {});
    }
  };
  const onData = (chunk: Buffer | string) => {
    const { forward, detach } = matcher.feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (forward.length > 0) send(forward);
    if (detach) {
      writes.then(stop);
      return;
    }
    // Backpressure: take no more input until conmon has taken this.
    stdin?.pause();
    writes.then(() => {
      if (!stopped) stdin?.resume();
    });
  };
  const onEnd = () => {
    writes = writes.then(() => {
      if (!stopped) shutdownWrite(fd);
    }).catch(() => {});
  };
  if (stdin) {
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
  }

  const buf = Buffer.allocUnsafe(READ_BUFFER);
  try {
    for (;;) {
      let n: number;
      try {
        n = await readPacket(fd, buf);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EINTR' || code === 'EAGAIN') continue;
        if (code === 'ECONNRESET' || code === 'ENOTCONN') break;
        throw new BerthError('Internal', `attach: ${(e as Error).message}`, { cause: e });
      }
      if (n === 0) break;
      if (n === 1) continue;
      const target = buf[0] === STDERR_STREAM ? s.stderr : s.stdout;
      // Copy: buf is reused for the next packet while the stream may still hold this one.
      if (!target.write(Buffer.from(buf.subarray(1, n)))) await waitDrain(target);
    }
  } finally {
    s.signal?.removeEventListener('abort', onAbort);
    if (stdin) {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
    }
    stopped = true;
    try {
      shutdownSocket(fd);
    } catch {
      // peer gone
    }
    // No write may still be using fd when it is closed (the number could be reused).
    await writes;
    await new Promise<void>((resolve) => close(fd, () => resolve()));
  }
  return result;
}
