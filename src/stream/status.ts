// How a remote command ends, as the Kubernetes streaming protocols report it on their error
// stream: protocols v4 and later send a metav1.Status as JSON (success too); the older ones
// send only a failure, as text.
import { isBerthError } from '../errors/index.js';

/** The end of an exec or attach: an exit code (exec only), or an error that stopped it. */
export type CommandOutcome = { exitCode: number } | { error: unknown };

/** Status.reason and StatusCause.type of a non-zero exit, as the kubelet names them. */
const NON_ZERO_EXIT = 'NonZeroExitCode';
const EXIT_CODE_CAUSE = 'ExitCode';

export interface K8sStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes: { reason?: string; message: string }[] };
}

export function statusOf(outcome: CommandOutcome, cmd: string[] = []): K8sStatus {
  if ('exitCode' in outcome) {
    if (outcome.exitCode === 0) return { metadata: {}, status: 'Success' };
    return {
      metadata: {},
      status: 'Failure',
      message: `command terminated with non-zero exit code: error executing command [${cmd.join(' ')}], exit code ${outcome.exitCode}`,
      reason: NON_ZERO_EXIT,
      details: { causes: [{ reason: EXIT_CODE_CAUSE, message: String(outcome.exitCode) }] },
    };
  }
  const text = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
  const message = `error executing command in container: ${text}`;
  const notFound = isBerthError(outcome.error, 'NotFound');
  return {
    metadata: {},
    status: 'Failure',
    message: notFound ? message : `Internal error occurred: ${message}`,
    reason: notFound ? 'NotFound' : 'InternalError',
    code: notFound ? 404 : 500,
    details: { causes: [{ message }] },
  };
}

/** The bytes for the error stream; undefined when the protocol sends nothing (old protocols on success). */
export function statusBytes(outcome: CommandOutcome, cmd: string[], json: boolean): Buffer | undefined {
  const status = statusOf(outcome, cmd);
  if (json) return Buffer.from(JSON.stringify(status));
  return status.status === 'Success' ? undefined : Buffer.from(status.message ?? 'failed');
}
