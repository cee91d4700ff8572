// Health checks: the run/create flags, `healthcheck run`, the timer's hidden check, and
// what ps and inspect show of a container's health.
import type { FlagDef, FlagValues } from './args.js';
import type { Command } from './command.js';
import type { Container, ContainerManager, HealthCheck, HealthOnFailure, HealthState } from '../container/index.js';
import { failedPrecondition, invalidArgument } from '../errors/index.js';
import { writeOut } from './stdout.js';

export const healthFlags: FlagDef[] = [
  { name: 'health-cmd', type: 'string', value: 'CMD', desc: "Command that checks the container's health (a shell command or a JSON array; 'none' disables the image's)" },
  { name: 'health-interval', type: 'string', value: 'DURATION', desc: 'Time between health checks (default 30s; disable: none scheduled)' },
  { name: 'health-retries', type: 'int', value: 'N', desc: 'Consecutive failures that make the container unhealthy (default 3)' },
  { name: 'health-start-period', type: 'string', value: 'DURATION', desc: 'Time to start up in, during which failures do not count (default 0s)' },
  { name: 'health-timeout', type: 'string', value: 'DURATION', desc: 'Time a health check may take before it is killed and counts as a failure (default 30s)' },
  { name: 'health-on-failure', type: 'string', value: 'ACTION', desc: 'What an unhealthy container gets: none (default), kill, restart or stop' },
  { name: 'no-healthcheck', type: 'bool', desc: "Disable any health check, also the image's" },
];

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, '\u00b5s': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("1m30s", "500ms", "0") in ms. */
export function parseDuration(v: string, flag: string): number {
  if (v === '0') return 0;
  const parts = [...v.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== v)
    throw invalidArgument(`invalid value "${v}" for ${flag}: expected a duration such as 30s, 1m30s or 500ms`);
  return parts.reduce((ms, p) => ms + Number(p[1]) * UNITS[p[2]], 0);
}

/** --health-cmd: a JSON array (CMD form unless it names CMD, CMD-SHELL or NONE), 'none', or a shell command. */
export function parseHealthCmd(v: string): string[] {
  if (v.trim() === '') throw invalidArgument('--health-cmd: must provide a non-empty command');
  if (v.toLowerCase() === 'none') return ['NONE'];
  if (v.trimStart().startsWith('[')) {
    let a: unknown;
    try {
      a = JSON.parse(v);
    } catch {
      throw invalidArgument(`invalid --health-cmd "${v}": not a JSON array of strings`);
    }
    if (!Array.isArray(a) || a.length === 0 || !a.every((x) => typeof x === 'string')) throw invalidArgument(`invalid --health-cmd "${v}": not a JSON array of strings`);
    return ['CMD', 'CMD-SHELL', 'NONE'].includes(a[0]) ? a : ['CMD', ...a];
  }
  return ['CMD-SHELL', v];
}

/** The health check the flags ask for: fields not given come from the image or the defaults (at create). */
export function healthFromFlags(f: FlagValues): HealthCheck | undefined {
  const cmd = f['health-cmd'] as string | undefined;
  if (f['no-healthcheck']) {
    if (cmd !== undefined) throw invalidArgument('cannot specify both --no-healthcheck and --health-cmd');
    return { test: ['NONE'] };
  }
  const hc: HealthCheck = {};
  if (cmd !== undefined) hc.test = parseHealthCmd(cmd);
  const interval = f['health-interval'] as string | undefined;
  if (interval !== undefined) {
    hc.interval = interval === 'disable' ? 0 : parseDuration(interval, '--health-interval');
    if (hc.interval > 0 && hc.interval < 1000) throw invalidArgument('healthcheck-interval must be at least 1 second');
  }
  const timeout = f['health-timeout'] as string | undefined;
  if (timeout !== undefined) {
    hc.timeout = parseDuration(timeout, '--health-timeout');
    if (hc.timeout < 1000) throw invalidArgument('healthcheck-timeout must be at least 1 second');
  }
  const start = f['health-start-period'] as string | undefined;
  if (start !== undefined) hc.startPeriod = parseDuration(start, '--health-start-period');
  const retries = f['health-retries'] as number | undefined;
  if (retries !== undefined) {
    if (retries < 1) throw invalidArgument('healthcheck-retries must be greater than 0');
    hc.retries = retries;
  }
  const action = f['health-on-failure'] as string | undefined;
  if (action !== undefined) {
    if (!['none', 'kill', 'restart', 'stop'].includes(action)) throw invalidArgument(`invalid on-failure action "${action}" for health check: valid options are none, kill, restart, stop`);
    hc.onFailure = action as HealthOnFailure;
  }
  return Object.keys(hc).length ? hc : undefined;
}

/** The health a container's ps line shows: (healthy), (unhealthy), (starting); '' without a check. */
export function healthSuffix(mgr: ContainerManager, c: Container): string {
  const h = c.state === 'running' ? mgr.health(c) : undefined;
  return h ? ` (${h.Status})` : '';
}

/** ps --filter health=: starting, healthy, unhealthy, or none (no check). */
export function healthFilter(mgr: ContainerManager, value: string): (c: Container) => boolean {
  if (!['starting', 'healthy', 'unhealthy', 'none'].includes(value)) throw invalidArgument(`invalid filter "health=${value}": use starting, healthy, unhealthy or none`);
  return (c) => (mgr.health(c)?.Status ?? 'none') === value;
}

const ns = (ms: number | undefined) => (ms ? Math.round(ms * 1e6) : undefined);

/** inspect's Config.Healthcheck (durations in ns, zero ones left out, as podman) and State.Health. */
export function healthViews(mgr: ContainerManager, c: Container): { config: object | null; state: { Status: string; FailingStreak: number; Log: HealthState['Log'] | null } } {
  const hc = c.config.healthcheck;
  const given = hc?.test ? { Test: hc.test, Interval: ns(hc.interval), Timeout: ns(hc.timeout), StartPeriod: ns(hc.startPeriod), Retries: hc.retries } : null;
  const config = given && Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  const h = mgr.health(c);
  return { config, state: h ? { ...h, Log: h.Log.length ? h.Log : null } : { Status: '', FailingStreak: 0, Log: null } };
}

const runSubcommand: Command = {
  name: 'run',
  usage: 'run CONTAINER',
  summary: 'Run the health check of a container',
  flags: [],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, _f, args) {
    const r = await (await ctx.containers()).healthcheck(args[0]);
    if (r.timedOut) throw failedPrecondition(r.timedOut);
    if (!r.passed) {
      writeOut('unhealthy\n');
      return 1;
    }
    return 0;
  },
};

export const healthcheckCommand: Command = {
  name: 'healthcheck',
  usage: 'healthcheck COMMAND',
  summary: 'Manage health checks on containers',
  flags: [],
  subcommands: [runSubcommand],
};

/** The health check timer's call (not for users): one check of the run whose monitor is CONMON_PID. */
export const timerCheckCommand: Command = {
  name: 'container-healthcheck',
  usage: 'container-healthcheck ID CONMON_PID',
  summary: "Run a container's scheduled health check (run by its timer)",
  flags: [],
  hidden: true,
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, _f, args) {
    // The end of the run stops the timer's group with SIGTERM: the loop and its sleep go,
    // this check finishes its exec session first (it cannot outlast the container).
    process.on('SIGTERM', () => {});
    return (await ctx.containers()).scheduledHealthcheck(args[0], Number(args[1]));
  },
};
