// conmon's parent pipes (_OCI_SYNCPIPE, _OCI_ATTACHPIPE) carry newline-terminated JSON
// messages: {"data": <int>} or {"data": <int>, "message": "<text>"}.
import type { Readable } from 'node:stream';

export interface SyncMessage {
  data: number;
  message?: string;
}

/** Reads one message at a time from a pipe; next() gives null once the pipe is closed. */
export class SyncPipeReader {
  private buffered = '';
  private queue: SyncMessage[] = [];
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.buffered += chunk;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl).trim();
        this.buffered = this.buffered.slice(nl + 1);
        if (line) this.queue.push(parseMessage(line));
      }
      this.notify();
    });
    stream.on('end', () => this.finish());
    stream.on('close', () => this.finish());
    stream.on('error', (e) => {
      this.failure = e;
      this.finish();
    });
  }

  async next(): Promise<SyncMessage | null> {
    for (;;) {
      const m = this.queue.shift();
      if (m) return m;
      if (this.ended) {
        if (this.failure) throw this.failure;
        return null;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private finish(): void {
    if (this.ended) return;
    // A last message without its newline still counts.
    const rest = this.buffered.trim();
    this.buffered = '';
    if (rest) this.queue.push(parseMessage(rest));
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

function parseMessage(line: string): SyncMessage {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { data: -1, message: `unreadable message from conmon: ${line}` };
  }
  const o = v as { data?: unknown; pid?: unknown; exit_code?: unknown; message?: unknown };
  const data = typeof o.data === 'number' ? o.data : typeof o.pid === 'number' ? o.pid : typeof o.exit_code === 'number' ? o.exit_code : -1;
  return typeof o.message === 'string' ? { data, message: o.message } : { data };
}

/**
 * runc reports errors on stderr as logrus text (`time=… level=error msg="…"`); conmon passes
 * that through verbatim. Pull out the msg so users see one readable line.
 */
export function runtimeErrorText(raw: string): string {
  const re = /msg="((?:[^"\\]|\\.)*)"/g;
  let last: string | undefined;
  for (let m = re.exec(raw); m; m = re.exec(raw)) last = m[1];
  if (last !== undefined) return last.replace(/\\(.)/g, '$1');
  // Newer runc versions may log JSON lines.
  for (const line of raw.split('\n').reverse()) {
    try {
      const o = JSON.parse(line) as { msg?: unknown };
      if (typeof o.msg === 'string') return o.msg;
    } catch {
      // not JSON
    }
  }
  return raw.trim().split('\n').filter(Boolean).pop() ?? 'unknown runtime error';
}
