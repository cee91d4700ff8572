// conmon's control fifo, "ctl" in the directory given to conmon as -b (the bundle for a
// container, the exec dir for an exec). Each message is one line "<type> <a> <b>\n":
// type 1 = resize the PTY to a rows × b columns, type 2 = reopen the log file.
import { closeSync, constants, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, invalidArgument } from '../errors/index.js';

const RESIZE = 1;
const REOPEN_LOG = 2;

export interface TerminalSize {
  rows: number;
  cols: number;
}

/** The ctl fifo for a directory given to conmon as -b; a path to the fifo itself is kept. */
function ctlPath(dirOrFifo: string): string {
  try {
    if (statSync(dirOrFifo).isFIFO()) return dirOrFifo;
  } catch {
    // fall through: report the missing fifo below
  }
  return join(dirOrFifo, 'ctl');
}

function send(dirOrFifo: string, line: string): void {
  const path = ctlPath(dirOrFifo);
  let fd: number;
  try {
    // Non-blocking: with no reader (conmon gone) open fails with ENXIO instead of hanging.
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENXIO' || code === 'ENOENT') {
      throw new BerthError('FailedPrecondition', 'the container is not running (its monitor is gone)', { cause: e });
    }
    throw new BerthError('Internal', `control fifo ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    // Shorter than PIPE_BUF, so the write is atomic and never interleaves with another.
    writeSync(fd, line);
  } catch (e) {
    throw new BerthError('Internal', `control fifo ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

/** Resizes the container's (or exec's) terminal through conmon. */
export function resize(dirOrFifo: string, size: TerminalSize): void {
  for (const v of [size.rows, size.cols]) {
    if (!Number.isInteger(v) || v < 0 || v > 65535) throw invalidArgument(`invalid terminal size ${size.rows}x${size.cols}`);
  }
  send(dirOrFifo, `${RESIZE} ${size.rows} ${size.cols}\n`);
}

/** Asks conmon to reopen the log file (after it was rotated away). */
export function reopenLog(dirOrFifo: string): void {
  send(dirOrFifo, `${REOPEN_LOG} 0 0\n`);
}
