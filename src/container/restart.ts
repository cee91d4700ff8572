// Restart policies, daemonless: conmon's exit command (the process that records the exit)
// decides whether the container comes back, waits out the backoff and starts it again.
import type { Container } from './types.js';

/** docker's backoff: 100 ms, doubling with each quick restart, at most a minute. */
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
/** A run at least this long resets the backoff. */
const STEADY_RUN_MS = 10_000;

/** Whether the policy brings c back after this exit (c as recorded at the exit). */
export function shouldRestart(c: Container): boolean {
  const p = c.config.restartPolicy;
  if (!p || p.name === 'no' || c.stoppedByUser || c.config.removeOnExit) return false;
  if (p.name === 'on-failure') return (c.exitCode ?? 0) !== 0 && (!p.maxRetries || c.restartCount < p.maxRetries);
  return true;
}

/** How long to wait before the restart. */
export function restartDelay(c: Container): number {
  const ran = c.startedAt !== null && c.finishedAt !== null ? c.finishedAt - c.startedAt : 0;
  if (ran >= STEADY_RUN_MS) return FIRST_DELAY_MS;
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(c.restartCount, 10));
}
