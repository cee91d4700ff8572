// Errors become one line on stderr and an exit status, here and nowhere else. The status
// comes from the error table in src/errors (docker's rule: 125 for berth's own failures,
// 126/127 when the container's command cannot be invoked or is not found); run, start and
// exec return the container's own code themselves.
import { BerthError, exitStatusOf, fromSystemError, isBerthError } from '../errors/index.js';

export function printError(e: unknown, debug: boolean): void {
  // A system error that reached here untyped still reads as one: "write /path: no space left on device".
  const sys = e as NodeJS.ErrnoException;
  const msg = !(e instanceof BerthError) && sys?.syscall ? fromSystemError(e, [sys.syscall, sys.path].filter(Boolean).join(' ')).message : e instanceof Error ? e.message : String(e);
  process.stderr.write(`berth: ${msg.split('\n')[0]}\n`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
}

export function exitCodeFor(e: unknown): number {
  return exitStatusOf(e);
}

/**
 * podman rm's and rmi's exit status after some removals failed: 1 when only missing objects
 * failed, 2 when one was in use (refused without -f), 125 for any other failure.
 */
export function removalExitCode(errors: unknown[]): number {
  const inUse = (e: unknown) => isBerthError(e, 'FailedPrecondition') && e.reason === 'in-use';
  if (errors.some((e) => !isBerthError(e, 'NotFound') && !inUse(e))) return 125;
  return errors.some(inUse) ? 2 : 1;
}
