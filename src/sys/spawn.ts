// Child processes without a fork of this process: the addon's posix_spawn (glibc's clones
// with CLONE_VM|CLONE_VFORK, so the parent's page tables are never copied; libuv's
// uv_spawn forks, which cost berthd ~3.7 ms of event loop per start), called on a thread
// of the addon's own: it returns once the child has exec'd, which on a busy machine can
// take milliseconds. The exit is seen through a pidfd polled on the event loop. Pipes are
// real pipes (not Node's socketpairs), our ends wrapped as net.Sockets.
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { load, type PollHandle } from './addon.js';
import { findExecutable } from './path.js';

/**
 * What the child's fd i is: /dev/null ('ignore'), our own fd i ('inherit'), a fd of ours
 * (a number), or a new pipe the child reads ('to-child': we get a Writable) or writes
 * ('from-child': we get a Readable).
 */
export type StdioSpec = 'ignore' | 'inherit' | 'to-child' | 'from-child' | number;

export interface SpawnOptions {
  cwd?: string;
  /** The child's whole environment (default: ours); its PATH finds the binary. */
  env?: NodeJS.ProcessEnv;
  /** A session of its own (setsid): a signal to our process group never reaches it. */
  detached?: boolean;
  /** The child's fds from 0 on (default: stdin, stdout, stderr on /dev/null); all others are closed. */
  stdio?: StdioSpec[];
}

export interface ProcessExit {
  /** The exit code, null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

const POLL_READABLE = 1;
// Made on first use: reading os.constants loads node:os, which most commands never need.
let signalNames: Map<number, NodeJS.Signals> | undefined;
const signalName = (signo: number): NodeJS.Signals | null =>
  (signalNames ??= new Map(Object.entries(constants.signals).map(([n, v]) => [v, n as NodeJS.Signals]))).get(signo) ?? null;

let netModule: typeof import('node:net') | undefined;
const nodeNet = () => (netModule ??= process.getBuiltinModule('node:net'));

/** A started child process; the addon reaps it when it exits (no zombie is left). */
export class SpawnedProcess {
  /** Our ends of the pipes, by the child's fd number (undefined where there is none). */
  readonly stdio: (Readable | Writable | undefined)[];
  /** Resolves once the child has exited and has been reaped. */
  readonly exited: Promise<ProcessExit>;
  private exit?: ProcessExit;
  private readonly poll: PollHandle;

  constructor(readonly pid: number, pidfd: number, stdio: (Readable | Writable | undefined)[]) {
    this.stdio = stdio;
    let settle!: (e: ProcessExit) => void;
    this.exited = new Promise((res) => (settle = res));
    const native = load();
    this.poll = native.pollOpen(pidfd, () => {
      if (this.exit) return;
      const status = native.pollReap(this.poll);
      if (status < 0) return;
      this.exit = status < 256 ? { code: status, signal: null } : { code: null, signal: signalName(status - 256) };
      native.pollClose(this.poll, () => {});
      settle(this.exit);
    });
    native.pollWatch(this.poll, POLL_READABLE);
  }

  get stdin(): Writable | undefined {
    return this.stdio[0] as Writable | undefined;
  }
  get stdout(): Readable | undefined {
    return this.stdio[1] as Readable | undefined;
  }
  get stderr(): Readable | undefined {
    return this.stdio[2] as Readable | undefined;
  }
  /** Set once it has exited. */
  get exitStatus(): ProcessExit | undefined {
    return this.exit;
  }

  /** Sends a signal (default SIGTERM); false when the child has exited already. */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.exit) return false;
    const signo = typeof signal === 'number' ? signal : constants.signals[signal];
    if (signo === undefined) throw Object.assign(new TypeError(`unknown signal: ${signal}`), { code: 'ERR_UNKNOWN_SIGNAL' });
    return load().pollSignal(this.poll, signo);
  }

  /** Lets this process exit while the child runs (it is still reaped if the loop runs on). */
  unref(): void {
    if (!this.exit) load().pollRef(this.poll, false);
  }
}

/**
 * Starts file (looked up in the child's PATH, as execvp would) with args; resolves once it
 * runs. Rejects when it cannot start, with Node's error fields (code ENOENT/EACCES …,
 * syscall 'spawn FILE', path, spawnargs). A fd of ours given in stdio must stay open
 * until then.
 */
export async function spawnProcess(file: string, args: string[], o: SpawnOptions = {}): Promise<SpawnedProcess> {
  const env = o.env ?? process.env;
  const binary = findExecutable(file, env);
  if (!binary) {
    const where = file.includes('/') ? 'no such executable file' : `not found in PATH (${env.PATH || 'unset'})`;
    throw spawnError(file, args, 'ENOENT', `cannot run ${file}: ${where}`);
  }
  const envp: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) envp.push(`${k}=${v}`);
  const specs = o.stdio ?? ['ignore', 'ignore', 'ignore'];
  const native = load();
  const childFds: number[] = [];
  const ours: (number | undefined)[] = [];
  const theirs: number[] = [];
  try {
    for (const [i, s] of specs.entries()) {
      if (s === 'ignore') childFds.push(-1);
      else if (s === 'inherit') childFds.push(i);
      else if (typeof s === 'number') childFds.push(s);
      else {
        const [r, w] = native.pipe();
        const [child, own] = s === 'to-child' ? [r, w] : [w, r];
        theirs.push(child);
        childFds.push(child);
        ours[i] = own;
      }
    }
    let pid: number, pidfd: number;
    try {
      [pid, pidfd] = await native.spawn(binary, [file, ...args], envp, o.cwd ?? null, o.detached ?? false, childFds);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' && o.cwd ? `${binary} or working directory ${o.cwd} not found` : (err.message.split(': ').pop() ?? err.message);
      throw spawnError(file, args, err.code ?? 'EUNKNOWN', `cannot run ${file}: ${why}`, err.errno);
    }
    const net = nodeNet();
    const stdio = specs.map((s, i) => {
      const fd = ours[i];
      if (fd === undefined) return undefined;
      ours[i] = undefined;
      return new net.Socket({ fd, readable: s === 'from-child', writable: s === 'to-child' });
    });
    return new SpawnedProcess(pid, pidfd, stdio);
  } finally {
    for (const fd of [...theirs, ...ours]) if (fd !== undefined) closeSync(fd);
  }
}

function spawnError(file: string, args: string[], code: string, message: string, errno?: number): NodeJS.ErrnoException {
  return Object.assign(new Error(message), {
    code,
    errno: errno ?? -(constants.errno as Record<string, number>)[code]!,
    syscall: `spawn ${file}`,
    path: file,
    spawnargs: args,
  });
}

export interface RunOptions extends Omit<SpawnOptions, 'stdio'> {
  /** Written to the child's stdin, which is then closed (default: stdin is /dev/null). */
  input?: string | Buffer;
  /** Milliseconds until the child is killed (killSignal); 0: never. */
  timeout?: number;
  killSignal?: NodeJS.Signals;
  /** Bytes of stdout or of stderr beyond which the child is killed (default 1 MiB). */
  maxBuffer?: number;
  /** Aborting kills the child (killSignal); an aborted signal starts nothing. */
  signal?: AbortSignal;
}

export interface RunResult extends ProcessExit {
  stdout: Buffer;
  stderr: Buffer;
  /** Killed by the timeout. */
  timedOut: boolean;
  /** Killed by the abort signal. */
  aborted: boolean;
  /** Killed for output beyond maxBuffer (what came before is kept). */
  overflowed: boolean;
}

/**
 * Runs file to its end and collects its output: resolves once it has exited and closed
 * stdout and stderr, whatever its exit status. Rejects only when it cannot start (and
 * with signal.reason when the signal was aborted before).
 */
export async function runProcess(file: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  if (o.signal?.aborted) throw o.signal.reason;
  const child = await spawnProcess(file, args, { ...o, stdio: [o.input === undefined ? 'ignore' : 'to-child', 'from-child', 'from-child'] });
  const max = o.maxBuffer ?? 1024 * 1024;
  const killSignal = o.killSignal ?? 'SIGTERM';
  const r = { timedOut: false, aborted: false, overflowed: false };
  const collect = (s: Readable) =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      s.on('data', (d: Buffer) => {
        if (size + d.length > max) {
          chunks.push(d.subarray(0, max - size));
          size = max;
          r.overflowed = true;
          child.kill(killSignal);
          s.destroy();
          return;
        }
        chunks.push(d);
        size += d.length;
      });
      s.on('error', () => {});
      s.on('close', () => resolve(Buffer.concat(chunks)));
    });
  const out = collect(child.stdout!);
  const err = collect(child.stderr!);
  if (child.stdin) {
    child.stdin.on('error', () => {}); // it may exit without reading its input
    child.stdin.end(o.input);
  }
  const timer = o.timeout ? setTimeout(() => ((r.timedOut = true), child.kill(killSignal)), o.timeout) : undefined;
  const onAbort = () => ((r.aborted = true), child.kill(killSignal));
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) onAbort(); // while it started
  return Promise.all([child.exited, out, err]).then(([exit, stdout, stderr]) => {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    return { ...exit, stdout, stderr, ...r };
  });
}

/** The failure of a run that did not exit with 0, shaped as Node's execFile reports it. */
export function commandFailed(file: string, args: string[], r: RunResult): Error {
  const cmd = [file, ...args].join(' ');
  const stderr = r.stderr.toString('utf8');
  const why = r.overflowed ? 'output beyond maxBuffer' : r.timedOut ? 'timed out' : '';
  return Object.assign(new Error(`Command failed: ${cmd}${why ? ` (${why})` : ''}\n${stderr}`), {
    code: r.overflowed ? 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER' : r.code,
    signal: r.signal,
    killed: r.timedOut || r.aborted || r.overflowed,
    cmd,
    stdout: r.stdout.toString('utf8'),
    stderr,
  });
}
