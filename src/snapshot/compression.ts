// Compressed layer streams: detection by magic bytes, decompression (gzip in-process, zstd
// via the zstd binary since Node 20's zlib has no zstd). Extraction decompresses on its
// worker thread (extract-worker.ts); image import, load and save use it directly.
import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BerthError, invalidArgument } from '../errors/index.js';

export type Compression = 'none' | 'gzip' | 'zstd';

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) throw invalidArgument('bzip2 compressed archives are not supported');
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) throw invalidArgument('xz compressed archives are not supported');
  return 'none';
}

/** Reads the first n bytes (fewer at end of stream) and returns a stream that still yields them. */
async function peek(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    chunks.push(b);
    len += b.length;
  }
  const head = Buffer.concat(chunks);
  async function* all(): AsyncGenerator<Buffer> {
    try {
      if (head.length) yield head;
      while (!ended) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  return { head: head.subarray(0, n), stream: Readable.from(all(), { objectMode: false }) };
}

/** Returns the uncompressed stream of input, whatever its compression. */
export async function decompressed(input: Readable): Promise<{ stream: Readable; compression: Compression }> {
  const { head, stream } = await peek(input, 6);
  const compression = detectCompression(head);
  return { stream: decompress(stream, compression), compression };
}

export function decompress(input: Readable, compression: Compression): Readable {
  switch (compression) {
    case 'none':
      return input;
    case 'gzip':
      return gunzip(input);
    case 'zstd':
      return zstdDecompress(input);
  }
}

/**
 * Marks a stream that is handed to a reader who may attach only later (after an await):
 * an error before then must not be an 'error' event nobody listens to (an uncaught
 * exception). The reader still gets it: a destroyed stream's error fails its read,
 * iteration or pipeline.
 */
function awaitingReader<T extends Readable>(stream: T): T {
  stream.on('error', () => {});
  return stream;
}

/** zlib's output chunk: larger than its 16 KiB default, for fewer trips through the streams after it. */
const GUNZIP_CHUNK = 256 << 10;

function gunzip(input: Readable): Readable {
  const z = createGunzip({ chunkSize: GUNZIP_CHUNK });
  const out = awaitingReader(new PassThrough());
  input.on('error', (e) => out.destroy(e));
  z.on('error', (e) => out.destroy(invalidArgument(`gzip stream: ${e.message}`)));
  out.on('close', () => {
    input.destroy();
    z.destroy();
  });
  input.pipe(z).pipe(out);
  return out;
}

function zstdDecompress(input: Readable): Readable {
  const child = spawn('zstd', ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = awaitingReader(new PassThrough());
  let stderr = '';
  let failed = false;
  const fail = (e: Error) => {
    if (failed) return;
    failed = true;
    child.kill('SIGKILL');
    out.destroy(e);
  };
  child.on('error', (e) => fail(new BerthError('Unavailable', `zstd: ${e.message} (is zstd installed?)`)));
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  input.on('error', (e) => fail(e));
  child.stdin.on('error', () => {}); // EPIPE when zstd exits early; its exit status says why
  child.stdout.on('error', (e) => fail(e));
  child.stderr.on('error', () => {});
  input.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  let stdoutDone = false;
  let exitCode: number | null | undefined;
  const finish = () => {
    if (!stdoutDone || exitCode === undefined) return;
    if (exitCode === 0) out.end();
    else fail(invalidArgument(`zstd stream: ${stderr.trim().split('\n').pop() || `zstd exited with ${exitCode}`}`));
  };
  child.stdout.on('end', () => {
    stdoutDone = true;
    finish();
  });
  child.on('exit', (code, signal) => {
    exitCode = code ?? (signal ? 128 : 1);
    finish();
  });
  out.on('close', () => {
    if (exitCode === undefined) child.kill('SIGKILL');
    input.destroy();
  });
  return out;
}
