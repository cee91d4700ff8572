// Structured logging: one JSON object per line on stderr, like pino's output, without
// pino's start-up cost (the CLI's start-up time is a benchmarked figure); or, for people at
// a terminal, one human line per message.
import { invalidArgument } from '../errors/index.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const rank: Record<Level, number> = { debug: 20, info: 30, warn: 40, error: 50 };

let threshold = rank.warn;

export function setLogLevel(level: string): void {
  if (!(level in rank)) throw invalidArgument(`invalid log level "${level}" (debug, info, warn, error)`);
  threshold = rank[level as Level];
}

export type LogFormat = 'json' | 'text';
let format: LogFormat = 'json';
const started = Date.now();

/** json (the daemon's default, for log collectors) or text: one human line, as podman prints. */
export function setLogFormat(f: string): void {
  if (f !== 'json' && f !== 'text') throw invalidArgument(`invalid log format "${f}" (text, json)`);
  format = f;
}

/** `WARN[0002] msg key=value`: the level, seconds since start, the message and its fields. */
function textLine(level: Level, msg: string, fields?: Record<string, unknown>): string {
  const secs = String(Math.floor((Date.now() - started) / 1000)).padStart(4, '0');
  const rest = Object.entries(fields ?? {}).map(([k, v]) => {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    return `${k}=${/[\s"=]/.test(text) ? JSON.stringify(text) : text}`;
  });
  return `${level.toUpperCase().slice(0, 4)}[${secs}] ${[msg, ...rest].join(' ')}`;
}

function write(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (rank[level] < threshold) return;
  const line = format === 'text' ? textLine(level, msg, fields) : JSON.stringify({ level, time: new Date().toISOString(), pid: process.pid, msg, ...fields });
  process.stderr.write(line + '\n');
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
};
