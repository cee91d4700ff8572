// Starting conmon: it double-forks (the process we spawn exits at once, its child is the
// monitor) and reports through pipes passed as extra fds, named in _OCI_* variables.
import { findExecutable, spawnProcess, type SpawnedProcess, type StdioSpec } from '../sys/index.js';
import type { Readable, Writable } from 'node:stream';
import { BerthError } from '../errors/index.js';

/** Extra fds in the child, in this order after stdin/stdout/stderr. */
const SYNC_FD = 3;
const START_FD = 4;
const ATTACH_FD = 5;

export interface SpawnedConmon {
  child: SpawnedProcess;
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

export async function spawnConmon(binary: string, args: string[], o: { cwd: string; withStartPipe?: boolean; withAttachPipe?: boolean }): Promise<SpawnedConmon> {
  const env: NodeJS.ProcessEnv = { ...process.env, _OCI_SYNCPIPE: String(SYNC_FD) };
  const stdio: StdioSpec[] = ['ignore', 'ignore', 'from-child', 'from-child'];
  if (o.withStartPipe || o.withAttachPipe) {
    env._OCI_STARTPIPE = String(START_FD);
    stdio.push('to-child');
  }
  if (o.withAttachPipe) {
    env._OCI_ATTACHPIPE = String(ATTACH_FD);
    stdio.push('from-child');
  }
  let child: SpawnedProcess;
  try {
    // detached: its own session, so a signal to our process group never reaches it.
    child = await spawnProcess(binary, args, { cwd: o.cwd, env, stdio, detached: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !findExecutable(binary)) {
      throw new BerthError('Unavailable', `conmon not found: install it (apt-get install conmon) or set monitor.conmon in berth.toml (tried "${binary}")`, { cause: e });
    }
    throw new BerthError('Internal', `cannot start conmon: ${(e as Error).message}`, { cause: e });
  }
  let stderr = '';
  const errStream = child.stderr!;
  errStream.setEncoding('utf8');
  errStream.on('data', (d: string) => {
    if (stderr.length < 16384) stderr += d;
  });
  const pipes = child.stdio.filter((p) => p !== undefined);
  for (const p of pipes) p.on('error', () => {});
  return {
    child,
    sync: child.stdio[SYNC_FD] as Readable,
    start: child.stdio[START_FD] as Writable | undefined,
    attach: child.stdio[ATTACH_FD] as Readable | undefined,
    exited: child.exited.then((e) => e.code),
    stderr: () => cleanStderr(stderr),
    release: () => {
      for (const p of pipes) p.destroy();
      child.unref();
    },
  };
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
