// The one table of error codes → CLI exit status and gRPC status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError, errorStatus, exitStatusOf, grpcStatusOf, GrpcStatus, type ErrorCode } from '../../src/errors/index.js';
import { CommandExitError } from '../../src/container/index.js';

test('every code has its gRPC status (google.rpc.Code numbers) and exits 125', () => {
  const grpc: Record<ErrorCode, number> = {
    Cancelled: 1,
    InvalidArgument: 3,
    DeadlineExceeded: 4,
    NotFound: 5,
    AlreadyExists: 6,
    PermissionDenied: 7,
    ResourceExhausted: 8,
    FailedPrecondition: 9,
    Unimplemented: 12,
    Internal: 13,
    Unavailable: 14,
    DataLoss: 15,
  };
  assert.deepEqual(Object.keys(errorStatus).sort(), Object.keys(grpc).sort());
  for (const [code, status] of Object.entries(errorStatus) as [ErrorCode, { exit: number; grpc: number }][]) {
    assert.equal(status.grpc, grpc[code], code);
    assert.equal(status.exit, 125, code);
    const e = new BerthError(code, 'x');
    assert.equal(grpcStatusOf(e), grpc[code], code);
    assert.equal(exitStatusOf(e), 125, code);
  }
  assert.equal(GrpcStatus.UNKNOWN, 2);
  assert.equal(GrpcStatus.ABORTED, 10);
});

test('a command that cannot be invoked or is not found keeps its 126/127; anything untyped is 125 / UNKNOWN', () => {
  assert.equal(exitStatusOf(new CommandExitError('exec: "nope": executable file not found in $PATH', 127)), 127);
  assert.equal(exitStatusOf(new CommandExitError('exec: "/etc": is a directory', 126)), 126);
  for (const untyped of [new Error('bug'), 'a string', undefined, { exitCode: 3 }]) {
    assert.equal(exitStatusOf(untyped), 125);
    assert.equal(grpcStatusOf(untyped), GrpcStatus.UNKNOWN);
  }
});
