// Errors become one line on stderr and an exit status, here and nowhere else. The status
// comes from the error table in src/errors (docker's rule: 125 for berth's own failures,
// 126/127 when the container's command cannot be invoked or is not found); run, start and
// exec return the container's own code themselves.
import { BerthError, exitStatusOf, fromSystemError } from '../errors/index.js';

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
