// RuntimeService/ExecSync: a command run to its end in a running container; stdout and
// stderr each capped at 16 MiB (CVE-2022-1708); a timeout (seconds, 0: none) ends the
// process and the call with DeadlineExceeded.
import { Writable } from 'node:stream';
import { invalidArgument } from '../errors/index.js';
import type { CallContext } from './context.js';
import { required } from './pod-view.js';

const OUTPUT_CAP = 16 << 20;

export async function execSync(ctx: CallContext, req: { container_id: string; cmd: string[]; timeout: string | number }): Promise<object> {
  const id = required(req.container_id, 'container_id');
  if (!req.cmd?.length) throw invalidArgument('ExecSync: no command given');
  const stdout = collector();
  const stderr = collector();
  const timeout = Number(req.timeout ?? 0);
  const r = await (await ctx.engine.containers()).exec(id, { command: req.cmd, timeout: timeout > 0 ? timeout : undefined }, { stdout: stdout.stream, stderr: stderr.stream }, { signal: ctx.signal });
  return { stdout: stdout.bytes(), stderr: stderr.bytes(), exit_code: r.exitCode ?? -1 };
}

function collector(): { stream: Writable; bytes(): Buffer } {
  const chunks: Buffer[] = [];
  let size = 0;
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (size < OUTPUT_CAP) {
        const part = chunk.subarray(0, OUTPUT_CAP - size);
        chunks.push(part);
        size += part.length;
      }
      done();
    },
  });
  return { stream, bytes: () => Buffer.concat(chunks) };
}
