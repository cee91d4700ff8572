// What every RPC handler gets: the engine, the daemon's settings, the call's signal (its
// deadline or cancellation), and the little state the daemon keeps between calls.
import type { Config } from '../config/index.js';
import type { Engine } from '../engine/index.js';
import type { StreamServer } from '../stream/index.js';
import { invalidArgument } from '../errors/index.js';
import type { ImageSpec } from './types.js';

export interface DaemonState {
  /** From UpdateRuntimeConfig; nothing uses it until the CNI config is written from a template. */
  podCidr?: string;
}

export interface CallContext {
  engine: Engine;
  config: Config;
  state: DaemonState;
  /** Hands out the URLs of Exec, Attach and PortForward. */
  streams: StreamServer;
  /** Aborted when the call's deadline passes or the client cancels it. */
  signal: AbortSignal;
}

/** The image a request names; an empty spec is a bad request. */
export function imageRef(spec: ImageSpec | null | undefined, what: string): string {
  const ref = spec?.image?.trim();
  if (!ref) throw invalidArgument(`${what}: no image given (ImageSpec.image is empty)`);
  return ref;
}

/** ms since the epoch as the CRI's int64 nanoseconds (a decimal string: it exceeds 2^53); unset is 0. */
export function nanos(ms: number | null | undefined): string {
  return ms ? (BigInt(ms) * 1_000_000n).toString() : '0';
}

/** Now in nanoseconds. */
export function nowNanos(): string {
  return nanos(Date.now());
}
