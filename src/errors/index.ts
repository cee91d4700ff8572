// Typed errors with a stable code, mapped once to CLI exit codes (cli/) and gRPC status
// codes (cri/). Library code throws these; anything else reaching the edge is a bug.

export type ErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'InvalidArgument'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'PermissionDenied'
  | 'DataLoss'
  | 'DeadlineExceeded'
  | 'ResourceExhausted'
  | 'Internal';

export class BerthError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = code;
  }
}

export const notFound = (msg: string) => new BerthError('NotFound', msg);
export const alreadyExists = (msg: string) => new BerthError('AlreadyExists', msg);
export const invalidArgument = (msg: string) => new BerthError('InvalidArgument', msg);
export const failedPrecondition = (msg: string) => new BerthError('FailedPrecondition', msg);
export const unavailable = (msg: string) => new BerthError('Unavailable', msg);
export const dataLoss = (msg: string) => new BerthError('DataLoss', msg);
export const internal = (msg: string, cause?: unknown) => new BerthError('Internal', msg, { cause });

export function isBerthError(e: unknown, code?: ErrorCode): e is BerthError {
  return e instanceof BerthError && (code === undefined || e.code === code);
}

/** Wraps a Node system error (ENOENT, EACCES …) into a BerthError with a readable message. */
export function fromSystemError(e: unknown, what: string): BerthError {
  if (e instanceof BerthError) return e;
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT':
      return new BerthError('NotFound', `${what}: no such file or directory`, { cause: e });
    case 'EACCES':
    case 'EPERM':
      return new BerthError('PermissionDenied', `${what}: permission denied`, { cause: e });
    case 'ENOSPC':
      return new BerthError('ResourceExhausted', `${what}: no space left on device`, { cause: e });
    default:
      return new BerthError('Internal', `${what}: ${err?.message ?? String(e)}`, { cause: e });
  }
}
