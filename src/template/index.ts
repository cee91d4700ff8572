// Go's text/template for `--format` and `inspect -f`: parse once, execute per value. JS values
// stand for Go's (see fmt.ts); which objects are maps the caller says with isMap. The
// functions are Go's builtins plus docker's (json, split, join, title, lower, upper, pad,
// truncate). Mistakes are InvalidArgument errors worded as Go's.
import { builtins, Exec, type Func } from './exec.js';
import type { IsMap } from './fmt.js';
import { parseTree, type Tree } from './parse.js';

export interface ParseOptions {
  /** The template's name in messages ("template: NAME:1:2: …"). */
  name?: string;
  /** Objects that are maps: a missing key is "<no value>", ranges go in key order. Others are structs. */
  isMap?: IsMap;
}

export interface ExecuteOptions {
  /** The root value's type name in messages ("can't evaluate field X in type T"). */
  type?: string;
  /**
   * Executing for a table's header row: docker's functions pass their first argument
   * through, so {{upper .Names}} heads its column with the header of .Names.
   */
  header?: boolean;
}

export interface Template {
  execute(data: unknown, o?: ExecuteOptions): string;
}

const passThrough: Func = { args: [1, 3], fn: ([v]) => v };
const headerFuncs = new Map(builtins);
for (const n of ['json', 'split', 'join', 'title', 'lower', 'upper', 'pad', 'truncate']) headerFuncs.set(n, passThrough);

export function parse(source: string, o: ParseOptions = {}): Template {
  const name = o.name ?? '';
  const isMap = o.isMap ?? (() => false);
  const tree: Tree = parseTree(source, name, new Set(builtins.keys()));
  return {
    execute: (data, x = {}) => new Exec(tree, source, name, x.header ? headerFuncs : builtins, isMap).run(data, x.type),
  };
}
