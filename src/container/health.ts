// Health checks (docker's HEALTHCHECK), daemonless. A check is an exec in the container,
// killed at its timeout; its results live in <container dir>/healthcheck.json (status,
// failing streak, the last 5 results), read by ps and inspect.
//
// The scheduler is a shell loop started with each run of the container, in a process group
// of its own: `sleep INTERVAL`, then berth's hidden `container-healthcheck ID CONMON` (a
// short-lived berth process), until that says the container's run is over. The loop costs
// a dash and a sleep process (about 1.5 MB RSS together, mostly shared pages) where a
// resident node process would cost 40 MB per container; berth itself runs only for the
// moment of each check, as with podman's systemd timers. The release of the run (stop,
// kill, rm, an exit) kills the group, so nothing of it outlives the run; each start makes
// a new one. A check under way when the run ends finishes (its exec ends with the
// container) and exits; one acting on a failure (stop, restart) ends its own loop that way.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AttachStreams, ExecResult } from '../monitor/index.js';
import { failedPrecondition } from '../errors/index.js';
import { processToken, spawnProcess, tokenAlive, writeFileAtomicSync } from '../sys/index.js';
import type { ExecRequest } from './exec.js';
import { containerPaths, type Parts } from './parts.js';
import type { Container } from './types.js';

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';
export type HealthOnFailure = 'none' | 'kill' | 'restart' | 'stop';

/** A container's health check; durations in ms. create fills in the image's and the defaults. */
export interface HealthCheck {
  /** ['CMD', program, ...args], ['CMD-SHELL', command], or ['NONE']: no check, not even the image's. */
  test?: string[];
  /** Between scheduled checks; 0: none are scheduled (`healthcheck run` only). */
  interval?: number;
  /** A check still running then is killed and counts as a failure. */
  timeout?: number;
  /** From the start: failures do not count until a check has passed or this is over. */
  startPeriod?: number;
  /** Consecutive failures that make the container unhealthy. */
  retries?: number;
  onFailure?: HealthOnFailure;
}

/** The image config's Healthcheck (docker's; durations in ns, 0: the default). */
export interface ImageHealthcheck {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthLogEntry[];
}

/** The file's content: the state of the run that started at startedAt. */
interface HealthFile extends HealthState {
  startedAt: number | null;
}

export const HEALTH_DEFAULTS = { interval: 30_000, timeout: 30_000, startPeriod: 0, retries: 3 };
/** Results kept, as docker and podman keep them. */
const LOG_ENTRIES = 5;
/** Bytes of a check's output kept (docker's cap). */
const OUTPUT_CAP = 4096;
/** The scheduled check's status when the container's run is over: the loop ends. */
export const TIMER_DONE = 3;

/** The effective check: the given fields over the image's, over the defaults; undefined when there is none. */
export function effectiveHealthcheck(given: HealthCheck | undefined, image: ImageHealthcheck | null | undefined): HealthCheck | undefined {
  const test = given?.test ?? (image?.Test?.length ? image.Test : undefined);
  if (!test) return undefined;
  if (test[0] === 'NONE') return { test: ['NONE'] };
  const ms = (ns: number | undefined) => (ns ? ns / 1e6 : undefined);
  return {
    test,
    interval: given?.interval ?? ms(image?.Interval) ?? HEALTH_DEFAULTS.interval,
    timeout: given?.timeout ?? ms(image?.Timeout) ?? HEALTH_DEFAULTS.timeout,
    startPeriod: given?.startPeriod ?? ms(image?.StartPeriod) ?? HEALTH_DEFAULTS.startPeriod,
    retries: given?.retries ?? (image?.Retries || HEALTH_DEFAULTS.retries),
    ...(given?.onFailure ? { onFailure: given.onFailure } : {}),
  };
}

/** Whether the container has a check to run. */
export function hasHealthcheck(c: Pick<Container, 'config'>): boolean {
  const t = c.config.healthcheck?.test;
  return !!t && t.length > 0 && t[0] !== 'NONE';
}

function healthFile(parts: Parts, c: Pick<Container, 'id' | 'config'>): string {
  return join(containerPaths(parts, c).dir, 'healthcheck.json');
}

/** The health of the container's current (or last) run; undefined without a check. */
export function readHealth(parts: Parts, c: Container): HealthState | undefined {
  if (!hasHealthcheck(c)) return undefined;
  let f: HealthFile | undefined;
  try {
    f = JSON.parse(readFileSync(healthFile(parts, c), 'utf8')) as HealthFile;
  } catch {
    // no check ran yet
  }
  // A new run starts over (its log of earlier results stays).
  if (!f || f.startedAt !== c.startedAt) return { Status: 'starting', FailingStreak: 0, Log: f?.Log ?? [] };
  return { Status: f.Status, FailingStreak: f.FailingStreak, Log: f.Log };
}

export interface HealthResult {
  /** This check's outcome. */
  passed: boolean;
  /** The container's status after it. */
  state: HealthState;
  /** Set when the check was killed at its timeout. */
  timedOut?: string;
}

type Exec = (req: ExecRequest, streams: AttachStreams, signal: AbortSignal) => Promise<ExecResult>;

/** Runs the container's check once and records its result. */
export async function runHealthcheck(parts: Parts, c: Container, exec: Exec): Promise<HealthResult> {
  const hc = c.config.healthcheck;
  if (!hc || !hasHealthcheck(c)) throw failedPrecondition(`container ${c.name} has no defined healthcheck`);
  if (c.state !== 'running') throw failedPrecondition(`container ${c.name} is not running`);
  const test = hc.test!;
  const command = test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test.slice(1).join(' ')] : test[0] === 'CMD' ? test.slice(1) : test;
  const timeout = hc.timeout ?? HEALTH_DEFAULTS.timeout;
  const output: Buffer[] = [];
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (size < OUTPUT_CAP) output.push(chunk.subarray(0, OUTPUT_CAP - size));
      size += chunk.length;
      done();
    },
  });
  const killer = new AbortController();
  const timer = setTimeout(() => killer.abort(), timeout);
  const start = new Date();
  let exitCode: number;
  try {
    const r = await exec({ command }, { stdout: sink, stderr: sink }, killer.signal);
    exitCode = killer.signal.aborted ? -1 : r.exitCode === 0 ? 0 : 1;
  } catch (e) {
    if (!killer.signal.aborted) {
      // The container may have stopped meanwhile: that is no result of the check.
      const now = parts.records.byId(c.id);
      if (!now || now.state !== 'running' || now.conmonPid !== c.conmonPid) throw e;
      output.push(Buffer.from((e as Error).message));
    }
    exitCode = killer.signal.aborted ? -1 : 1;
  } finally {
    clearTimeout(timer);
  }
  const end = new Date();
  const passed = exitCode === 0;
  const state = readHealth(parts, c)!;
  state.Log = [...state.Log, { Start: start.toISOString(), End: end.toISOString(), ExitCode: exitCode, Output: Buffer.concat(output).toString().trimEnd() }].slice(-LOG_ENTRIES);
  if (passed) {
    state.Status = 'healthy';
    state.FailingStreak = 0;
  } else if (state.Status !== 'starting' || start.getTime() - (c.startedAt ?? 0) >= (hc.startPeriod ?? 0)) {
    // Within the start period, failures count only once a check has passed.
    state.FailingStreak++;
    if (state.FailingStreak >= (hc.retries ?? HEALTH_DEFAULTS.retries)) state.Status = 'unhealthy';
  }
  const file: HealthFile = { ...state, startedAt: c.startedAt };
  writeFileAtomicSync(healthFile(parts, c), JSON.stringify(file), { fsync: false });
  await parts.records.healthEvent(c.id, state.Status);
  const timedOut = exitCode === -1 ? `healthcheck command exceeded timeout of ${goDuration(timeout)}` : undefined;
  return { passed, state, timedOut };
}

/** ms as Go prints a duration (1s, 1.5s, 2m0s). */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`;
}

// ---- the scheduler --------------------------------------------------------------------

/** sh -c LOOP berth-healthcheck SECONDS BERTH... ID CONMON: ends when the check says the run is over. */
const LOOP = `i=$1; shift; while sleep "$i"; do "$@"; [ $? -eq ${TIMER_DONE} ] && exit 0; done`;

function timerFile(parts: Parts, id: string): string {
  return join(parts.runtime.monitorDir(id), 'healthcheck.pid');
}

/** Starts the scheduled checks of the container's current run (none without an interval). */
export async function startHealthTimer(parts: Parts, c: Container): Promise<void> {
  const hc = c.config.healthcheck;
  if (!hasHealthcheck(c) || !hc?.interval || !parts.healthcheckCommand || c.conmonPid === null) return;
  let child;
  try {
    child = await spawnProcess(
      '/bin/sh',
      ['-c', LOOP, 'berth-healthcheck', String(hc.interval / 1000), ...parts.healthcheckCommand, c.id, String(c.conmonPid)],
      { detached: true },
    );
  } catch {
    return; // no shell: the checks still run when asked for
  }
  child.unref();
  writeFileAtomicSync(timerFile(parts, c.id), processToken(child.pid), { fsync: false });
  // The run may have ended (and been released) before the file was there.
  const now = parts.records.byId(c.id);
  if (!now || now.state !== 'running' || now.conmonPid !== c.conmonPid) stopHealthTimer(parts, c.id);
}

/**
 * Ends the container's scheduled checks: SIGTERM to the group ends the loop and its sleep.
 * A check under way ignores it (see the timer's command) and finishes on its own, so it
 * leaves no exec session half made; the loop is gone, so no other follows.
 */
export function stopHealthTimer(parts: Parts, id: string): void {
  const file = timerFile(parts, id);
  let token: string;
  try {
    token = readFileSync(file, 'utf8');
  } catch {
    return;
  }
  rmSync(file, { force: true });
  if (!tokenAlive(token)) return;
  const pid = Number(token.split('-')[0]);
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    // already gone
  }
}
