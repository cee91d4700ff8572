// What a CLI command is. Each src/cli/<group>.ts exports a list of these; main.ts
// dispatches. Commands are thin: parse → call the library → print.
import type { FlagDef, FlagValues } from './args.js';
import type { Engine } from '../engine/index.js';
import { isBerthError } from '../errors/index.js';

export interface Command {
  name: string;
  aliases?: string[];
  /** e.g. "run [OPTIONS] IMAGE [COMMAND] [ARG...]" (without the leading "berth "). */
  usage: string;
  summary: string;
  flags: FlagDef[];
  /** Positional argument count bounds, checked before run. */
  minArgs?: number;
  maxArgs?: number;
  /** Stop flag parsing after this many positionals (run IMAGE CMD… / exec CTR CMD…). */
  stopAfter?: number;
  /** For groups such as `image` and `container`: berth image ls … */
  subcommands?: Command[];
  /** Hidden from the command list (internal, e.g. the conmon exit hook). */
  hidden?: boolean;
  /** Gets the engine the global flags configured; returns the process exit code (default 0). */
  run?(ctx: Engine, flags: FlagValues, args: string[]): Promise<number | void>;
}

export const formatFlag: FlagDef = { name: 'format', type: 'string', value: 'FORMAT', desc: 'Output format: table (default), json, or a Go-style template such as {{.ID}}' };

/** `container exists` and `image exists`: exit 0 when lookup finds the object, 1 when it answers NotFound. */
export function existsCommand(what: string, lookup: (ctx: Engine, ref: string) => Promise<unknown>): Command {
  return {
    name: 'exists',
    usage: `exists ${what.toUpperCase()}`,
    summary: `Check if ${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what} exists in local storage (exit 0) or not (exit 1)`,
    flags: [],
    minArgs: 1,
    maxArgs: 1,
    async run(ctx, _f, [ref]) {
      try {
        await lookup(ctx, ref);
        return 0;
      } catch (e) {
        if (isBerthError(e, 'NotFound')) return 1;
        throw e;
      }
    },
  };
}
