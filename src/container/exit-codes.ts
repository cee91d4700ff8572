// docker's exit codes for a command that cannot run: 127 when it does not exist, 126 when
// it cannot be executed. The runtime reports both as error text; we classify it once here.
import { BerthError } from '../errors/index.js';

export class CommandExitError extends BerthError {
  constructor(message: string, readonly exitCode: number) {
    super('FailedPrecondition', message);
  }
}

export function commandExitError(e: unknown): unknown {
  if (!(e instanceof Error) || e instanceof CommandExitError) return e;
  const msg = e.message;
  if (/executable file not found|no such file or directory/i.test(msg) && /exec|start container process/i.test(msg))
    return new CommandExitError(msg, 127);
  if (/permission denied/i.test(msg) && /exec|start container process/i.test(msg)) return new CommandExitError(msg, 126);
  return e;
}
