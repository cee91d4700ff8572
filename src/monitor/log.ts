// Reading the CRI log format conmon writes (k8s-file):
//   <RFC3339Nano time> <stdout|stderr> <tags> <text>\n
// The first tag is P (partial: the line continues in the next record of the same stream)
// or F (full). conmon rotates by writing a new file and renaming it over the old one.
import { close, closeSync, fstat, fstatSync, open, openSync, read, readSync, stat, statSync, watch, type Stats } from 'node:fs';
import { basename, dirname } from 'node:path';
import { promisify } from 'node:util';
import { BerthError, fromSystemError } from '../errors/index.js';

export interface LogLine {
  /** RFC3339Nano as written (of the line's first fragment). */
  time: string;
  stream: 'stdout' | 'stderr';
  /** Without the trailing newline; partial fragments joined. */
  text: Buffer;
  /** The output ended without a newline (the last fragment was never completed). */
  partial?: boolean;
}

export interface ReadLogOptions {
  /** Only the last n lines (before following). */
  tail?: number;
  since?: Date;
  until?: Date;
  /** Keep reading new lines until the container is gone. */
  follow?: boolean;
  /** Polled (about once a second) while following; false ends the follow. */
  isRunning?: () => boolean;
  /** Settles when the container exited (e.g. waitExitCode); ends the follow. */
  exited?: Promise<unknown>;
  signal?: AbortSignal;
  /**
   * Read with synchronous calls, for a process that serves nothing else meanwhile (the
   * CLI): no start of libuv's thread pool, no round trip through it per call. A daemon
   * keeps the default, and its loop free.
   */
  sync?: boolean;
}

interface Record {
  time: string;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  text: Buffer;
}

const SPACE = 0x20;
const NEWLINE = 0x0a;
const CHUNK = 64 * 1024;
const RUNNING_CHECK_MS = 1000;

/** Parses one record (without its newline); undefined for a malformed line. */
export function parseLogRecord(line: Buffer): Record | undefined {
  const a = line.indexOf(SPACE);
  const b = a < 0 ? -1 : line.indexOf(SPACE, a + 1);
  if (b < 0) return undefined;
  const c = line.indexOf(SPACE, b + 1);
  const stream = line.toString('latin1', a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tags = line.toString('latin1', b + 1, c < 0 ? line.length : c);
  return {
    time: line.toString('latin1', 0, a),
    stream,
    partial: tags.split(':')[0] === 'P',
    text: c < 0 ? Buffer.alloc(0) : line.subarray(c + 1),
  };
}

/** RFC3339Nano → milliseconds (Date keeps milliseconds; finer digits are dropped). */
function logTimeMs(time: string): number {
  return Date.parse(time.replace(/(\.\d{3})\d+/, '$1'));
}

/** Joins partial records into lines, one pending partial per stream. */
class LineAssembler {
  private pending = new Map<string, { time: string; parts: Buffer[] }>();

  /** Copies text out of r: records point into a read buffer that is reused. */
  push(r: Record): LogLine | undefined {
    const p = this.pending.get(r.stream);
    if (r.partial) {
      if (p) p.parts.push(Buffer.from(r.text));
      else this.pending.set(r.stream, { time: r.time, parts: [Buffer.from(r.text)] });
      return undefined;
    }
    if (!p) return { time: r.time, stream: r.stream, text: Buffer.from(r.text) };
    this.pending.delete(r.stream);
    return { time: p.time, stream: r.stream, text: Buffer.concat([...p.parts, r.text]) };
  }

  /** Fragments still waiting for their end: at the end of the output, they are what's left. */
  flush(): LogLine[] {
    const out = [...this.pending].map(([stream, p]) => ({ time: p.time, stream: stream as LogLine['stream'], text: Buffer.concat(p.parts), partial: true }));
    this.pending.clear();
    return out.sort((a, b) => logTimeMs(a.time) - logTimeMs(b.time));
  }
}

/** Splits bytes into complete lines, keeping an unfinished last line for later. */
class LineSplitter {
  private carry: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    const data = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl >= 0; nl = data.indexOf(NEWLINE, start)) {
      lines.push(data.subarray(start, nl));
      start = nl + 1;
    }
    // Copy so the big chunk buffer is not kept alive by a small remainder.
    this.carry = Buffer.from(data.subarray(start));
    return lines;
  }
}

/**
 * Finds where the last `tail` lines start: just after the (tail+1)-th full (F) record
 * counted from the end (an unfinished last record counts as a line). Reads backwards in growing blocks.
 */
async function tailOffset(fh: LogFile, size: number, tail: number): Promise<number> {
  let pos = size; // acc holds the file's bytes [pos, size)
  let acc = Buffer.alloc(0);
  let block = CHUNK;
  for (;;) {
    const lastNl = acc.lastIndexOf(NEWLINE);
    if (lastNl >= 0) {
      // Complete lines start after the first newline in acc, or at the start of the file.
      const first = pos === 0 ? 0 : acc.indexOf(NEWLINE) + 1;
      let full = 0;
      for (let end = lastNl; end >= first; ) {
        const prevNl = end > 0 ? acc.lastIndexOf(NEWLINE, end - 1) : -1;
        const lineStart = Math.max(prevNl + 1, first);
        const r = parseLogRecord(acc.subarray(lineStart, end));
        // The file's last record ends a line even when partial: the output ended there.
        if (r && (!r.partial || end === lastNl) && ++full === tail + 1) return pos + end + 1;
        end = lineStart - 1;
      }
    }
    if (pos === 0) return 0;
    const len = Math.min(block, pos);
    const buf = Buffer.alloc(len);
    await readFully(fh, buf, pos - len);
    pos -= len;
    acc = Buffer.concat([buf, acc]);
    block *= 2;
  }
}

async function readFully(fh: LogFile, buf: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesRead } = await fh.read(buf, off, buf.length - off, position + off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
}

/**
 * Reads a container's CRI log. With follow, keeps yielding new lines (also across a
 * rotation) until isRunning() turns false or `exited` settles, then drains what is left.
 */
export async function* readLog(path: string, o: ReadLogOptions = {}): AsyncGenerator<LogLine> {
  let fh: LogFile;
  try {
    fh = await LogFile.open(path, o.sync);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && o.follow) {
      // conmon creates the file when the container is created; treat a missing one as empty.
      fh = await waitForFile(path, o);
    } else {
      throw fromSystemError(e, `log file ${path}`);
    }
  }
  const sinceMs = o.since?.getTime();
  const untilMs = o.until?.getTime();
  const wanted = (l: LogLine) => {
    if (sinceMs === undefined && untilMs === undefined) return true;
    const t = logTimeMs(l.time);
    return (sinceMs === undefined || t >= sinceMs) && (untilMs === undefined || t <= untilMs);
  };

  let splitter = new LineSplitter();
  const assembler = new LineAssembler();
  const buf = Buffer.alloc(CHUNK);
  let ino = (await fh.stat()).ino;
  let pos = o.tail !== undefined && o.tail >= 0 ? await tailOffset(fh, (await fh.stat()).size, o.tail) : 0;

  let pastUntil = false;
  /** Reads from pos to the current end of the open file. */
  async function* drain(): AsyncGenerator<LogLine> {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return;
      pos += bytesRead;
      for (const line of splitter.push(buf.subarray(0, bytesRead))) {
        const r = parseLogRecord(line);
        const l = r && assembler.push(r);
        if (!l) continue;
        // The log is in time order: past `until` nothing later can match.
        if (untilMs !== undefined && logTimeMs(l.time) > untilMs) {
          pastUntil = true;
          return;
        }
        if (wanted(l)) yield l;
      }
    }
  }

  const waiter = o.follow ? new ChangeWaiter(path, o) : undefined;
  try {
    for (;;) {
      // Read once more after the stop was noticed: conmon wrote everything before it exited.
      const stopping = waiter?.stopped ?? true;
      yield* drain();
      if (pastUntil || o.signal?.aborted) return;
      const now = await fileStat(path, o.sync);
      if (now && now.ino !== ino) {
        // Rotated: the old file was read to its end above; go on with the new one.
        await fh.close();
        fh = await LogFile.open(path, o.sync);
        ino = (await fh.stat()).ino;
        pos = 0;
        splitter = new LineSplitter();
        continue;
      }
      if (now && now.size < pos) pos = 0; // truncated in place
      if (!waiter || stopping) {
        for (const l of assembler.flush()) if (wanted(l)) yield l;
        return;
      }
      await waiter.next();
    }
  } finally {
    waiter?.close();
    await fh.close().catch(() => {});
  }
}

/** Wakes the follower on file changes, container exit, abort, or the running check. */
class ChangeWaiter {
  stopped = false;
  private wake: (() => void) | undefined;
  private dirty = false;
  private readonly watcher: ReturnType<typeof watch> | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(path: string, o: ReadLogOptions) {
    const poke = () => this.poke();
    const name = basename(path);
    try {
      // Watch the directory: a rotation renames a new file over the old one.
      this.watcher = watch(dirname(path), { persistent: true }, (_e, f) => {
        if (!f || f.toString() === name) poke();
      });
      this.watcher.on('error', poke);
    } catch {
      // without a watch the running check below still wakes us
    }
    if (o.isRunning) {
      this.timer = setInterval(() => {
        if (!o.isRunning?.()) this.stop();
      }, RUNNING_CHECK_MS);
    }
    o.exited?.then(() => this.stop(), () => this.stop());
    o.signal?.addEventListener('abort', () => this.stop(), { once: true });
    if (o.isRunning && !o.isRunning()) this.stopped = true;
  }

  private stop(): void {
    this.stopped = true;
    this.poke();
  }

  private poke(): void {
    this.dirty = true;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async next(): Promise<void> {
    if (!this.dirty) await new Promise<void>((resolve) => (this.wake = resolve));
    this.dirty = false;
  }

  close(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    this.poke();
  }
}

async function waitForFile(path: string, o: ReadLogOptions): Promise<LogFile> {
  for (;;) {
    try {
      return await LogFile.open(path, o.sync);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fromSystemError(e, `log file ${path}`);
    }
    if (o.signal?.aborted || (o.isRunning && !o.isRunning())) throw new BerthError('NotFound', `no log file ${path}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const openFile = promisify(open);
const readAt = promisify(read);
const statFd = promisify(fstat);
const closeFile = promisify(close);
const statPath = promisify(stat);

/** The file's stat, undefined if it cannot be had (gone between rotations). */
async function fileStat(path: string, sync?: boolean): Promise<Stats | undefined> {
  try {
    return sync ? statSync(path) : await statPath(path);
  } catch {
    return undefined;
  }
}

/**
 * An open log file, on node:fs's callbacks (or its synchronous calls): a FileHandle of
 * node:fs/promises would load that module (and readline, which it loads) for every
 * `berth logs`, about 1 ms.
 */
class LogFile {
  private constructor(
    private readonly fd: number,
    private readonly sync: boolean,
  ) {}

  static async open(path: string, sync = false): Promise<LogFile> {
    return new LogFile(sync ? openSync(path, 'r') : await openFile(path, 'r'), sync);
  }

  async read(buf: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    return { bytesRead: this.sync ? readSync(this.fd, buf, offset, length, position) : (await readAt(this.fd, buf, offset, length, position)).bytesRead };
  }

  async stat(): Promise<Stats> {
    return this.sync ? fstatSync(this.fd) : statFd(this.fd);
  }

  async close(): Promise<void> {
    if (this.sync) closeSync(this.fd);
    else await closeFile(this.fd);
  }
}
