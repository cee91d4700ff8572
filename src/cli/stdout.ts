// The CLI's standard output. process.stdout is a stream; making it for a pipe loads
// node:net and node:stream, about 3 ms of every command's start-up. Text goes to fd 1 with
// writeSync instead, as node's stream writes to files, pipes and terminals on Linux anyway
// (synchronously); what pipes a stream to standard output, or asks about the terminal,
// takes stdout().
import { writeSync } from 'node:fs';

let stream: NodeJS.WriteStream | undefined;

/** A reader that went away (`berth logs C | head -1`) ends the command quietly, as SIGPIPE ends podman; 141 is the status a shell shows. */
const READER_GONE = 141;

/** process.stdout, ready for a reader that goes away. */
export function stdout(): NodeJS.WriteStream {
  if (!stream) {
    stream = process.stdout;
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(READER_GONE);
      throw e;
    });
  }
  return stream;
}

/** Writes text (or bytes) to standard output, all of it before returning. */
export function writeOut(text: string | Uint8Array): void {
  // Once the stream is in use, everything goes through it: output stays in order.
  if (stream) {
    stream.write(text);
    return;
  }
  const data = typeof text === 'string' ? Buffer.from(text) : text;
  for (let done = 0; done < data.length; ) {
    try {
      done += writeSync(1, data, done);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') process.exit(READER_GONE);
      // A non-blocking descriptor (shared so by whoever made it): the stream waits for room.
      if (code !== 'EAGAIN') throw e;
      stdout().write(data.subarray(done));
      return;
    }
  }
}
