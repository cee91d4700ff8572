// Errors become one line on stderr and an exit code, here and nowhere else. Like docker:
// 125 for berth's own failures; run/exec pass the container's code through themselves.
import { BerthError } from '../errors/index.js';

export function printError(e: unknown, debug: boolean): void {
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`berth: ${msg.split('\n')[0]}\n`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
}

export function exitCodeFor(e: unknown): number {
  const code = e instanceof BerthError ? e.code : (e as { code?: string })?.code;
  switch (code) {
    case 'NotFound':
    case 'AlreadyExists':
    case 'InvalidArgument':
    case 'FailedPrecondition':
    case 'PermissionDenied':
    default:
      return 125;
  }
}
