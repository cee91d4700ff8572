// Exit codes and OOM markers conmon leaves behind. conmon writes <exitDir>/<id> (and
// <persistDir>/exit) atomically (temp file + rename) after the process exited and its
// output was drained, before it runs the exit command. The code is the process's exit
// status, 128+signal when killed by a signal, or -1 when conmon's timeout killed it.
// An OOM kill creates an empty <persistDir>/oom.
import { existsSync, readFileSync, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, fromSystemError } from '../errors/index.js';
import { readSmallFile } from '../sys/index.js';

/** The exit code conmon recorded, or undefined while there is none. */
export function readExitCode(exitDir: string, id: string): number | undefined {
  try {
    return parseExitCode(readFileSync(join(exitDir, id), 'utf8'));
  } catch (e) {
    return noExitFile(e, id);
  }
}

/** readExitCode without blocking the event loop (for listings of many containers): one threadpool step. */
export function readExitCodeAsync(exitDir: string, id: string): Promise<number | undefined> {
  return readSmallFile(join(exitDir, id), 64).then((b) => (b ? parseExitCode(b.toString('utf8')) : undefined), (e) => noExitFile(e, id));
}

function parseExitCode(text: string): number | undefined {
  const code = Number.parseInt(text.trim(), 10);
  return Number.isNaN(code) ? undefined : code;
}

/** A missing exit file means no exit yet; any other failure is an error. */
function noExitFile(e: unknown, id: string): undefined {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw fromSystemError(e, `exit file of ${id}`);
}

/**
 * When the process exited, as ms since the epoch: the exit file's time (conmon writes it
 * as soon as the process is gone), also when berth notices the exit much later.
 */
export function exitTime(exitDir: string, id: string): Promise<number | undefined> {
  return stat(join(exitDir, id)).then(
    (st) => Math.floor(st.mtimeMs),
    () => undefined,
  );
}

/** True when conmon saw the container's cgroup kill a process for lack of memory. */
export function wasOomKilled(persistDir: string): boolean {
  return existsSync(join(persistDir, 'oom'));
}

/**
 * Resolves with the exit code as soon as conmon writes it. The watch is armed before the
 * first look, so a write in between is not missed.
 */
export function waitExitCode(
  exitDir: string,
  id: string,
  signal?: AbortSignal,
  /** Consulted on every check: the code another process already recorded, if any. */
  recorded?: () => number | undefined,
): Promise<number> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    let watcher: ReturnType<typeof watch>;
    const finish = (err: unknown, code?: number) => {
      watcher?.close();
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(code as number);
    };
    const check = () => {
      try {
        const code = readExitCode(exitDir, id) ?? recorded?.();
        if (code !== undefined) finish(undefined, code);
      } catch (e) {
        finish(e);
      }
    };
    const onAbort = () => finish(abortError(signal as AbortSignal));
    try {
      watcher = watch(exitDir, { persistent: true }, (_event, name) => {
        if (!name || name.toString() === id) check();
      });
    } catch (e) {
      return reject(fromSystemError(e, `exit dir ${exitDir}`));
    }
    watcher.on('error', (e) => finish(fromSystemError(e, `exit dir ${exitDir}`)));
    signal?.addEventListener('abort', onAbort);
    check();
  });
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason instanceof Error ? signal.reason : new BerthError('DeadlineExceeded', 'wait for exit aborted');
}
