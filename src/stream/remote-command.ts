// A remote command (exec or attach) once its transport has its streams: run it and say how
// it ended. Shared by the WebSocket and SPDY transports.
import { EventEmitter } from 'node:events';
import type { CommandOutcome } from './status.js';
import type { CommandRequest, CommandStreams, StreamRuntime } from './types.js';

export async function runCommand(runtime: StreamRuntime, req: CommandRequest, streams: CommandStreams, signal: AbortSignal): Promise<CommandOutcome> {
  try {
    if (req.kind === 'exec') return { exitCode: await runtime.exec(req, streams, signal) };
    await runtime.attach(req, streams, signal);
    return { exitCode: 0 };
  } catch (error) {
    return { error };
  }
}

/**
 * A terminal size from a resize message ({"Width":…,"Height":…}; the names in any case, as
 * Go decodes them: some clients send "width"); undefined for a bad one.
 */
export function parseResize(data: Buffer | string): { rows: number; cols: number } | undefined {
  let m: unknown;
  try {
    m = JSON.parse(data.toString());
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const field = (name: string) => Object.entries(m as Record<string, unknown>).find(([k]) => k.toLowerCase() === name)?.[1];
  const [cols, rows] = [field('width'), field('height')];
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
  return ok(cols) && ok(rows) ? { rows, cols } : undefined;
}

/**
 * The session's terminal sizes as 'resize' events. Clients send their size as soon as they
 * are connected, before the command listens: a listener gets the latest size at once.
 */
export function resizeEvents(): { emitter: EventEmitter; push(data: Buffer | string): void } {
  const emitter = new EventEmitter();
  let last: { rows: number; cols: number } | undefined;
  emitter.on('newListener', (event: string, fn: (size: { rows: number; cols: number }) => void) => {
    if (event === 'resize' && last) {
      const size = last;
      queueMicrotask(() => fn(size));
    }
  });
  return {
    emitter,
    push(data) {
      const size = parseResize(data);
      if (!size) return;
      last = size;
      emitter.emit('resize', size);
    },
  };
}
