// Typed errors with a stable code, mapped once (the table below) to CLI exit statuses and
// gRPC status codes. Library code throws these; anything else reaching the edge is a bug.

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
  | 'Cancelled'
  | 'Unimplemented'
  | 'Internal';

export class BerthError extends Error {
  readonly code: ErrorCode;
  /** Tells apart errors of one code where a caller answers them differently (rm's exit status). */
  readonly reason?: string;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; reason?: string }) {
    super(message, options);
    this.code = code;
    this.name = code;
    if (options?.reason) this.reason = options.reason;
  }
}

export const notFound = (msg: string) => new BerthError('NotFound', msg);
export const alreadyExists = (msg: string) => new BerthError('AlreadyExists', msg);
export const invalidArgument = (msg: string) => new BerthError('InvalidArgument', msg);
export const failedPrecondition = (msg: string) => new BerthError('FailedPrecondition', msg);
export const unavailable = (msg: string) => new BerthError('Unavailable', msg);
export const dataLoss = (msg: string) => new BerthError('DataLoss', msg);
export const cancelled = (msg: string) => new BerthError('Cancelled', msg);
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
    case 'EDQUOT':
      return new BerthError('ResourceExhausted', `${what}: disk quota exceeded`, { cause: e });
    case 'EROFS':
      return new BerthError('PermissionDenied', `${what}: read-only file system`, { cause: e });
    case 'ENOTDIR':
      return new BerthError('InvalidArgument', `${what}: not a directory`, { cause: e });
    case 'EISDIR':
      return new BerthError('InvalidArgument', `${what}: is a directory`, { cause: e });
    default:
      return new BerthError('Internal', `${what}: ${err?.message ?? String(e)}`, { cause: e });
  }
}

/** gRPC status codes (google.rpc.Code) that berth's errors map to. */
export const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
} as const;

/** docker's exit status when the manager itself fails (126/127: the container's command cannot be invoked / is not found). */
const EXIT_BERTH_ERROR = 125;

/**
 * Each code's CLI exit status, gRPC status and HTTP status (the Docker API's: 404 no such
 * object, 409 conflict, 400 bad parameter, as docker answers), the one place they are
 * decided. Every code exits 125 (docker's rule: the manager failed, not the container); a
 * failure that stands for the container's command carries its own `exitCode` (126 or 127).
 */
export const errorStatus: Readonly<Record<ErrorCode, { exit: number; grpc: number; http: number }>> = {
  NotFound: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.NOT_FOUND, http: 404 },
  AlreadyExists: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.ALREADY_EXISTS, http: 409 },
  InvalidArgument: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.INVALID_ARGUMENT, http: 400 },
  FailedPrecondition: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.FAILED_PRECONDITION, http: 409 },
  Unavailable: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.UNAVAILABLE, http: 503 },
  PermissionDenied: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.PERMISSION_DENIED, http: 403 },
  DataLoss: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.DATA_LOSS, http: 500 },
  DeadlineExceeded: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.DEADLINE_EXCEEDED, http: 504 },
  ResourceExhausted: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 507 },
  Cancelled: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.CANCELLED, http: 499 },
  Unimplemented: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.UNIMPLEMENTED, http: 501 },
  Internal: { exit: EXIT_BERTH_ERROR, grpc: GrpcStatus.INTERNAL, http: 500 },
};

/** The CLI's exit status for an error: its own exitCode (126/127), else the table's; 125 for anything untyped. */
export function exitStatusOf(e: unknown): number {
  if (!(e instanceof BerthError)) return EXIT_BERTH_ERROR;
  const own = (e as { exitCode?: unknown }).exitCode;
  return typeof own === 'number' ? own : errorStatus[e.code].exit;
}

/** The gRPC status for an error; UNKNOWN for anything untyped. */
export function grpcStatusOf(e: unknown): number {
  return e instanceof BerthError ? errorStatus[e.code].grpc : GrpcStatus.UNKNOWN;
}

/** The HTTP status for an error (the Docker API's); 500 for anything untyped. */
export function httpStatusOf(e: unknown): number {
  return e instanceof BerthError ? errorStatus[e.code].http : 500;
}
