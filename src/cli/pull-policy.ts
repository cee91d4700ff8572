// run/create --pull missing|always|never: fetch the image first when the policy says so,
// with progress on stderr (stdout belongs to the container).
import type { FlagDef, FlagValues } from './args.js';
import type { Engine } from '../engine/index.js';
import type { PullProgress } from '../image/index.js';
import { invalidArgument, isBerthError } from '../errors/index.js';
import { registryOptions } from './registry-flags.js';

export const pullFlag: FlagDef = { name: 'pull', type: 'string', value: 'POLICY', default: 'missing', desc: 'Pull the image before running: missing (default), always or never' };

/** The one line a pull prints when it waits for another process's download or unpacking of a layer. */
export function waitingLine(e: Extract<PullProgress, { type: 'waiting' }>): string {
  if (e.work === 'unpack') return `Waiting for another process (pid ${e.pid}) unpacking layer ${e.digest}`;
  return `Waiting for another pull of blob ${e.digest} (pid ${e.pid})`;
}

/** Pulls ref unless the policy and the local store say it is not needed. */
export async function ensureImage(ctx: Engine, ref: string, f: FlagValues): Promise<void> {
  const policy = f.pull as string;
  // -q: nothing about the pull is printed.
  const say = (line: string) => void (f.quiet ? undefined : process.stderr.write(line));
  if (policy !== 'missing' && policy !== 'always' && policy !== 'never') throw invalidArgument(`invalid --pull "${policy}": missing, always or never`);
  if (policy === 'never') return;
  const images = await ctx.images();
  if (policy === 'missing') {
    try {
      images.resolve(ref);
      return;
    } catch (e) {
      if (!isBerthError(e, 'NotFound')) throw e;
    }
    say(`Unable to find image '${ref}' locally\n`);
  }
  const registry = await ctx.registry(registryOptions(f));
  const onProgress = (e: PullProgress) => {
    if (e.type === 'trying') say(`Trying to pull ${e.reference}...\n`);
    else if (e.type === 'waiting') say(`${waitingLine(e)}\n`);
    else if (e.type === 'blob' && e.kind !== 'config' && e.status === 'done') say(`Copying blob ${e.digest.slice(7, 19)} done\n`);
  };
  try {
    await images.pull(ref, registry, { onProgress });
  } finally {
    registry.close();
  }
}
