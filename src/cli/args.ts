// A small docker-style argument parser: long and short flags, `-abc` bundles, `--flag=v`,
// `-fv`, repeated flags, `--` and, for run/exec, "everything after the first positional
// belongs to the container".
import { invalidArgument } from '../errors/index.js';

export type FlagType = 'bool' | 'string' | 'strings' | 'int';

export interface FlagDef {
  name: string;
  short?: string;
  type: FlagType;
  desc: string;
  /** Placeholder shown in help, e.g. "NAME". */
  value?: string;
  default?: string | number | boolean;
}

export type FlagValues = Record<string, string | string[] | number | boolean | undefined>;

export interface Parsed {
  flags: FlagValues;
  args: string[];
}

/**
 * Parses argv against defs. With stopAtPositional, parsing stops at the Nth positional
 * (1-based count = stopAfter) so `run IMAGE CMD --flag` hands `--flag` to the container.
 */
export function parseArgs(argv: string[], defs: FlagDef[], stopAfter = Infinity): Parsed {
  const byLong = new Map(defs.map((d) => [d.name, d]));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short!, d]));
  const flags: FlagValues = {};
  const args: string[] = [];
  for (const d of defs) if (d.default !== undefined) flags[d.name] = d.default;

  const set = (def: FlagDef, raw: string | undefined, shown: string) => {
    switch (def.type) {
      case 'bool':
        if (raw === undefined || raw === 'true') flags[def.name] = true;
        else if (raw === 'false') flags[def.name] = false;
        else throw invalidArgument(`invalid value "${raw}" for flag ${shown}: expected true or false`);
        return;
      case 'int': {
        if (raw === undefined || !/^-?\d+$/.test(raw)) throw invalidArgument(`invalid value "${raw ?? ''}" for flag ${shown}: expected an integer`);
        flags[def.name] = Number(raw);
        return;
      }
      case 'string':
        flags[def.name] = raw;
        return;
      case 'strings':
        flags[def.name] = [...((flags[def.name] as string[] | undefined) ?? []), raw!];
        return;
    }
  };

  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (args.length >= stopAfter) break;
    if (a === '--') { i++; break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const def = byLong.get(name);
      if (!def) throw invalidArgument(`unknown flag: --${name}`);
      let raw: string | undefined = eq >= 0 ? a.slice(eq + 1) : undefined;
      if (raw === undefined && def.type !== 'bool') {
        if (i + 1 >= argv.length) throw invalidArgument(`flag needs an argument: --${name}`);
        raw = argv[++i];
      }
      set(def, raw, `--${name}`);
    } else if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const def = byShort.get(a[j]);
        if (!def) throw invalidArgument(`unknown shorthand flag: '${a[j]}' in ${a}`);
        if (def.type === 'bool') {
          if (a[j + 1] === '=') { set(def, a.slice(j + 2), `-${a[j]}`); break; }
          set(def, undefined, `-${a[j]}`);
          continue;
        }
        let raw = a.slice(j + 1);
        if (raw.startsWith('=')) raw = raw.slice(1);
        if (raw === '') {
          if (i + 1 >= argv.length) throw invalidArgument(`flag needs an argument: '${a[j]}' in -${a[j]}`);
          raw = argv[++i];
        }
        set(def, raw, `-${a[j]}`);
        break;
      }
    } else {
      args.push(a);
    }
  }
  args.push(...argv.slice(i));
  return { flags, args };
}
