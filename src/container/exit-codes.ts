// docker's exit codes for a command that cannot run: 127 when it does not exist, 126 when
// it cannot be executed. The monitor classifies the runtime's error (exitCodeHint); the
// code travels on the error to the CLI's edge.
import { BerthError } from '../errors/index.js';
import { RuntimeError } from '../monitor/index.js';

export class CommandExitError extends BerthError {
  constructor(message: string, readonly exitCode: number) {
    super('FailedPrecondition', message);
  }
}

export function commandExitError(e: unknown): unknown {
  if (e instanceof RuntimeError && e.exitCodeHint !== undefined) return new CommandExitError(e.message, e.exitCodeHint);
  return e;
}
