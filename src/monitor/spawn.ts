// Starting conmon: it double-forks (the process we spawn exits at once, its child is the
// monitor) and reports through pipes passed as extra fds, named in _OCI_* variables.
import type { ChildProcess } from 'node:child_process';
import { childProcess, findExecutable } from '../sys/index.js';
import type { Readable, Writable } from 'node:stream';
import { BerthError } from '../errors/index.js';

/** Extra fds in the child, in this order after stdin/stdout/stderr. */
const SYNC_FD = 3;
const START_FD = 4;
const ATTACH_FD = 5;

export interface SpawnedConmon {
  child: ChildProcess;
  sync: Readable;
  start?: Writable;
  attach?: Readable;
  /** Resolves when the process we spawned exits (conmon's monitor lives on in its child). */
  exited: Promise<number | null>;
  /** What conmon wrote to stderr before it detached its stdio. */
  stderr(): string;
  /** Drops our ends of the pipes and lets this process exit without waiting for conmon. */
  release(): void;
}

export function spawnConmon(binary: string, args: string[], o: { cwd: string; withStartPipe?: boolean; withAttachPipe?: boolean }): Promise<SpawnedConmon> {
  const env: NodeJS.ProcessEnv = { ...process.env, _OCI_SYNCPIPE: String(SYNC_FD) };
  const stdio: ('ignore' | 'pipe')[] = ['ignore', 'ignore', 'pipe', 'pipe'];
  if (o.withStartPipe || o.withAttachPipe) {
    env._OCI_STARTPIPE = String(START_FD);
    stdio.push('pipe');
  }
  if (o.withAttachPipe) {
    env._OCI_ATTACHPIPE = String(ATTACH_FD);
    stdio.push('pipe');
  }
  // detached: its own session, so a signal to our process group never reaches it.
  const child = childProcess().spawn(binary, args, { cwd: o.cwd, env, stdio, detached: true });
  return new Promise((resolve, reject) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') reject(new BerthError('Unavailable', `conmon not found: install it (apt-get install conmon) or set monitor.conmon in berth.toml (tried "${binary}")`, { cause: e }));
      else reject(new BerthError('Internal', `cannot start conmon: ${e.message}`, { cause: e }));
    });
    child.once('spawn', () => {
      let stderr = '';
      const errStream = child.stdio[2] as Readable;
      errStream.setEncoding('utf8');
      errStream.on('data', (d: string) => {
        if (stderr.length < 16384) stderr += d;
      });
      errStream.on('error', () => {});
      const exited = new Promise<number | null>((res) => {
        if (child.exitCode !== null || child.signalCode !== null) res(child.exitCode);
        else child.once('exit', (code) => res(code));
      });
      const pipes = child.stdio.slice(SYNC_FD) as (Readable & Writable)[];
      for (const p of pipes) p.on('error', () => {});
      const fds = child.stdio as unknown as (Readable & Writable)[];
      resolve({
        child,
        sync: fds[SYNC_FD],
        start: o.withStartPipe || o.withAttachPipe ? fds[START_FD] : undefined,
        attach: o.withAttachPipe ? fds[ATTACH_FD] : undefined,
        exited,
        stderr: () => cleanStderr(stderr),
        release: () => {
          for (const p of [errStream, ...pipes]) p.destroy();
          child.unref();
        },
      });
    });
  });
}

/** conmon prefixes its messages with "[conmon:e]: "; keep the text only. */
function cleanStderr(s: string): string {
  return s
    .split('\n')
    .map((l) => l.replace(/^\[conmon:\w\]:\s*/, '').trim())
    .filter(Boolean)
    .join('; ');
}

/** conmon execs the exit command with execv (no PATH lookup), so resolve it here. */
export function resolveExecutable(name: string): string {
  const file = findExecutable(name);
  if (file) return file;
  throw new BerthError('NotFound', `exit command not found: ${name}`);
}
