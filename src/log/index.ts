// Structured logging: one JSON object per line on stderr, like pino's output, without
// pino's start-up cost (the CLI's start-up time is a benchmarked figure).
import { invalidArgument } from '../errors/index.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const rank: Record<Level, number> = { debug: 20, info: 30, warn: 40, error: 50 };

let threshold = rank.warn;

export function setLogLevel(level: string): void {
  if (!(level in rank)) throw invalidArgument(`invalid log level "${level}" (debug, info, warn, error)`);
  threshold = rank[level as Level];
}

function write(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (rank[level] < threshold) return;
  const line = JSON.stringify({ level, time: new Date().toISOString(), pid: process.pid, msg, ...fields });
  process.stderr.write(line + '\n');
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
};
