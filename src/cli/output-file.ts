// `-o FILE` of save and export: the archive goes to a temp file beside FILE, renamed at
// the end (a failed write leaves no half archive); without FILE to stdout, never a terminal.
import { renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fromSystemError, invalidArgument } from '../errors/index.js';
import { tempPathFor } from '../sys/index.js';
import type { FlagDef } from './args.js';
import { stdout } from './stdout.js';

/** -o/--output of the commands that write an archive. */
export const outputFlag: FlagDef = { name: 'output', short: 'o', type: 'string', value: 'FILE', desc: 'Write to FILE instead of stdout' };

/** refusal: the message for a terminal stdout (podman's words differ per command). */
export async function toFileOrStdout(file: string | undefined, refusal: string, write: (out: Writable) => Promise<void>): Promise<void> {
  if (!file) {
    if (stdout().isTTY) throw invalidArgument(refusal);
    await write(stdout());
    return;
  }
  const temp = tempPathFor(file);
  // Opened first: a directory that is not there is an error before any work.
  const handle = await open(temp, 'wx', 0o644).catch((e: unknown) => Promise.reject(fromSystemError(e, file)));
  const out = handle.createWriteStream();
  out.on('error', () => undefined); // reported by finished() below
  try {
    await write(out);
    out.end();
    await finished(out);
    renameSync(temp, file);
  } catch (e) {
    out.destroy();
    rmSync(temp, { force: true });
    throw fromSystemError(e, file);
  }
}
