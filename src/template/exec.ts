// Executes a parsed template against a JS value with Go's rules: fields of structs and keys
// of maps, Go truthiness, ranges over slices, maps (sorted keys) and ints, variables scoped
// to their control's {{end}}, and the builtin functions. Errors read as Go's:
// template: NAME:LINE:COL: executing "NAME" at <NODE>: message
import { invalidArgument } from '../errors/index.js';
import { formatValue, goJson, goType, NO_VALUE, sortedKeys, sprintf, type IsMap } from './fmt.js';
import { lineAt, type Arg, type Cmd, type Node, type Pipe, type Tree } from './parse.js';

/** A function's implementation gets its evaluated arguments (a missing value comes as null). */
export interface Func {
  /** Argument count: exact, or [min, max] (max Infinity for variadic). */
  args: number | [number, number];
  fn: (args: unknown[], x: Exec) => unknown;
}

/** Thrown by a function: becomes "error calling NAME: message". */
export class CallError extends Error {}

const BREAK = Symbol('break');
const CONTINUE = Symbol('continue');

export class Exec {
  private out: string[] = [];
  private vars: { name: string; value: unknown }[] = [];
  /** Struct type names for messages: the root's, and each struct by the field that holds it. */
  private names = new WeakMap<object, string>();
  private depth = 0;

  constructor(
    private readonly tree: Tree,
    private readonly src: string,
    private readonly name: string,
    private readonly funcs: ReadonlyMap<string, Func>,
    readonly isMap: IsMap,
  ) {}

  run(data: unknown, type: string | undefined): string {
    if (data !== null && typeof data === 'object' && type) this.names.set(data, type);
    this.vars = [{ name: '$', value: data }];
    this.walk(data, this.tree.root);
    return this.out.join('');
  }

  private fail(pos: number, context: string, msg: string): Error {
    const before = this.src.slice(0, pos);
    const col = pos - (before.lastIndexOf('\n') + 1);
    return invalidArgument(`template: ${this.name}:${lineAt(this.src, pos)}:${col}: executing "${this.name}" at <${context}>: ${msg}`);
  }

  private walk(dot: unknown, list: Node[]): void {
    for (const n of list) {
      switch (n.t) {
        case 'text':
          this.out.push(n.text);
          break;
        case 'action': {
          const v = this.pipeline(dot, n.pipe);
          // Go unwraps an interface holding nil into "no value" before printing it.
          if (!n.pipe.decl.length) this.out.push(v === null ? '<no value>' : formatValue(v, this.isMap));
          break;
        }
        case 'if':
        case 'with': {
          const mark = this.vars.length;
          const v = this.pipeline(dot, n.pipe);
          if (truth(v, this.isMap)) this.walk(n.t === 'with' ? v : dot, n.list);
          else if (n.else) this.walk(dot, n.else);
          this.vars.length = mark;
          break;
        }
        case 'range':
          this.range(dot, n);
          break;
        case 'break':
          throw BREAK;
        case 'continue':
          throw CONTINUE;
        case 'template': {
          const body = this.tree.defines.get(n.name);
          if (!body) throw this.fail(n.pos, `template ${JSON.stringify(n.name)}`, `no such template ${JSON.stringify(n.name)}`);
          if (++this.depth > 1000) throw this.fail(n.pos, `template ${JSON.stringify(n.name)}`, 'exceeded maximum template depth (1000)');
          const saved = this.vars;
          const v = n.pipe ? this.pipeline(dot, n.pipe) : null;
          this.vars = [{ name: '$', value: v }];
          this.walk(v, body);
          this.vars = saved;
          this.depth--;
          break;
        }
      }
    }
  }

  private range(dot: unknown, n: Extract<Node, { t: 'if' | 'with' | 'range' }>): void {
    const mark = this.vars.length;
    // The pipeline's own declarations are set per element below, not to the ranged value.
    const v = this.pipeline(dot, { ...n.pipe, decl: [] });
    let entries: [unknown, unknown][];
    if (v === null || v === NO_VALUE) entries = [];
    else if (Array.isArray(v)) entries = v.map((x, i) => [i, x]);
    else if (typeof v === 'number' && Number.isInteger(v)) entries = Array.from({ length: Math.max(0, v) }, (_, i) => [i, i]);
    else if (typeof v === 'object' && this.isMap(v)) entries = sortedKeys(v).map((k) => [k, (v as Record<string, unknown>)[k]]);
    else throw this.fail(n.pipe.pos, 'range', `range can't iterate over ${formatValue(v, this.isMap)}`);
    if (entries.length === 0) {
      if (n.else) this.walk(dot, n.else);
      this.vars.length = mark;
      return;
    }
    const [first, second] = n.pipe.decl;
    for (const [key, elem] of entries) {
      this.vars.length = mark;
      // One variable gets the element; two get the index (or key) and the element.
      if (second !== undefined) {
        this.setVar(first, key, n.pipe.assign);
        this.setVar(second, elem, n.pipe.assign);
      } else if (first !== undefined) this.setVar(first, elem, n.pipe.assign);
      try {
        this.walk(elem, n.list);
      } catch (e) {
        if (e === BREAK) break;
        if (e !== CONTINUE) throw e;
      }
    }
    this.vars.length = mark;
  }

  private setVar(name: string, value: unknown, assign: boolean): void {
    if (!assign) {
      this.vars.push({ name, value });
      return;
    }
    for (let i = this.vars.length - 1; i >= 0; i--)
      if (this.vars[i].name === name) {
        this.vars[i].value = value;
        return;
      }
  }

  private pipeline(dot: unknown, pipe: Pipe): unknown {
    let v: unknown = undefined;
    for (const cmd of pipe.cmds) v = this.command(dot, cmd, v);
    if (v === undefined) v = null;
    for (const d of pipe.decl) this.setVar(d, v, pipe.assign);
    return v;
  }

  /** One command; final is the previous command's value in a pipeline (undefined: none). */
  private command(dot: unknown, cmd: Cmd, final: unknown): unknown {
    const [first, ...rest] = cmd.args;
    const extra = rest.length > 0 || final !== undefined;
    if (first.t === 'ident') return this.call(dot, first.name, rest, final, cmd);
    if (first.t === 'lit' && first.value === null) throw this.fail(cmd.pos, cmd.text, 'nil is not a command');
    if (extra && first.t === 'field' && first.chain.length) throw this.fail(first.pos, argText(first), `${first.chain[first.chain.length - 1]} has arguments but cannot be invoked as function`);
    if (extra) throw this.fail(cmd.pos, cmd.text, `can't give argument to non-function ${argText(first)}`);
    return this.operand(dot, first);
  }

  private operand(dot: unknown, a: Arg): unknown {
    const context = argText(a);
    switch (a.t) {
      case 'lit':
        return a.value;
      case 'field':
        return this.chain(dot, a.chain, a.pos, context);
      case 'var': {
        const v = [...this.vars].reverse().find((x) => x.name === a.name);
        if (!v) throw this.fail(a.pos, context, `undefined variable: ${a.name}`);
        return this.chain(v.value, a.chain, a.pos, context);
      }
      case 'pipe':
        return this.chain(this.pipeline(dot, a.pipe), a.chain, a.pos, context);
      case 'ident':
        return this.call(dot, a.name, [], undefined, { args: [a], pos: a.pos, text: a.name });
    }
  }

  /** .A.B.C from v: a struct's field (an error if it has none), a map's key (no value if absent). */
  private chain(v: unknown, keys: string[], pos: number, context: string): unknown {
    for (const key of keys) {
      if (v === NO_VALUE) continue;
      if (v === null || v === undefined) throw this.fail(pos, context, `nil pointer evaluating interface {}.${key}`);
      if (typeof v !== 'object' || Array.isArray(v)) throw this.fail(pos, context, `can't evaluate field ${key} in type ${goType(v, this.isMap)}`);
      const has = Object.prototype.hasOwnProperty.call(v, key);
      if (this.isMap(v)) {
        v = has ? (v as Record<string, unknown>)[key] ?? null : NO_VALUE;
        continue;
      }
      if (!has) throw this.fail(pos, context, `can't evaluate field ${key} in type ${this.names.get(v) ?? 'struct'}`);
      const next = (v as Record<string, unknown>)[key] ?? null;
      if (next !== null && typeof next === 'object' && !this.names.has(next)) this.names.set(next, key);
      v = next;
    }
    return v;
  }

  private call(dot: unknown, name: string, argNodes: Arg[], final: unknown, cmd: Cmd): unknown {
    const f = this.funcs.get(name);
    if (!f) throw this.fail(cmd.pos, cmd.text, `"${name}" is not a defined function`);
    const n = argNodes.length + (final !== undefined ? 1 : 0);
    const [min, max] = typeof f.args === 'number' ? [f.args, f.args] : f.args;
    if (n < min || n > max) {
      const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
      throw this.fail(cmd.pos, name, `wrong number of args for ${name}: want ${want} got ${n}`);
    }
    const arg = (a: Arg) => {
      const v = this.operand(dot, a);
      return v === NO_VALUE ? null : v;
    };
    // and/or evaluate their arguments only as far as the result needs (Go 1.18).
    if (name === 'and' || name === 'or') {
      let v: unknown = null;
      for (const a of argNodes) {
        v = arg(a);
        if (truth(v, this.isMap) === (name === 'or')) return v;
      }
      if (final !== undefined) v = final === NO_VALUE ? null : final;
      return v;
    }
    const args = argNodes.map(arg);
    if (final !== undefined) args.push(final === NO_VALUE ? null : final);
    try {
      const v = f.fn(args, this);
      return v === undefined ? null : v;
    } catch (e) {
      if (e instanceof CallError) throw this.fail(cmd.pos, cmd.text, `error calling ${name}: ${e.message}`);
      if (e instanceof TypeMismatch) throw this.fail(cmd.pos, cmd.text, e.message);
      throw e;
    }
  }
}

/** An operand as Go prints it in an error's "at <…>". */
function argText(a: Arg): string {
  const chain = (c: string[]) => c.map((k) => '.' + k).join('');
  switch (a.t) {
    case 'field':
      return chain(a.chain) || '.';
    case 'var':
      return a.name + chain(a.chain);
    case 'ident':
      return a.name;
    case 'pipe':
      return `(…)${chain(a.chain)}`;
    default:
      return typeof a.value === 'string' ? JSON.stringify(a.value) : String(a.value);
  }
}

/** Go's truth: false, 0, nil, and empty strings, slices and maps are false; structs are true. */
export function truth(v: unknown, isMap: IsMap): boolean {
  if (v === null || v === undefined || v === NO_VALUE || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object' && isMap(v)) return Object.keys(v).length > 0;
  if (typeof v === 'number') return !Number.isNaN(v);
  return true;
}

/** An argument of the wrong type: "wrong type for value; expected string; got int". */
export class TypeMismatch extends Error {}

export function str(v: unknown, x: Exec): string {
  if (typeof v === 'string') return v;
  throw new TypeMismatch(v === null ? 'invalid value; expected string' : `wrong type for value; expected string; got ${goType(v, x.isMap)}`);
}

export function int(v: unknown, x: Exec): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new TypeMismatch(v === null ? 'invalid value; expected int' : `wrong type for value; expected int; got ${goType(v, x.isMap)}`);
}

export function strings(v: unknown, x: Exec): string[] {
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v;
  throw new TypeMismatch(v === null ? 'invalid value; expected []string' : `wrong type for value; expected []string; got ${goType(v, x.isMap)}`);
}

type Kind = 'bool' | 'number' | 'string' | 'nil' | 'other';
const kindOf = (v: unknown): Kind => (v === null ? 'nil' : typeof v === 'boolean' ? 'bool' : typeof v === 'number' ? 'number' : typeof v === 'string' ? 'string' : 'other');

function eq(args: unknown[]): boolean {
  const [a, ...rest] = args;
  const ka = kindOf(a);
  if (ka === 'other') throw new CallError(`non-comparable type ${formatValue(a, () => false)}`);
  return rest.some((b) => {
    const kb = kindOf(b);
    if (kb === 'other') throw new CallError(`non-comparable type ${formatValue(b, () => false)}`);
    // A nil (or missing) value compares unequal to anything but nil, without an error.
    if (ka === 'nil' || kb === 'nil') return ka === kb;
    if (ka !== kb) throw new CallError('incompatible types for comparison');
    return a === b;
  });
}

function lt(a: unknown, b: unknown): boolean {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if ((ka !== 'number' && ka !== 'string') || (kb !== 'number' && kb !== 'string')) throw new CallError('invalid type for comparison');
  if (ka !== kb) throw new CallError('incompatible types for comparison');
  return (a as number | string) < (b as number | string);
}

function length(v: unknown, x: Exec): number {
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (v !== null && typeof v === 'object' && x.isMap(v)) return Object.keys(v).length;
  throw new CallError(v === null ? 'len of nil pointer' : `len of type ${goType(v, x.isMap)}`);
}

function index(v: unknown, keys: unknown[], x: Exec): unknown {
  for (const k of keys) {
    if (v === null) throw new CallError('index of untyped nil');
    if (Array.isArray(v) || typeof v === 'string') {
      if (typeof k !== 'number' || !Number.isInteger(k)) throw new CallError(`cannot index slice/array with type ${goType(k, x.isMap)}`);
      const len = typeof v === 'string' ? Buffer.byteLength(v) : v.length;
      if (k < 0 || k >= len) throw new CallError(`index out of range: ${k}`);
      // Indexing a string gives a byte, as in Go.
      v = typeof v === 'string' ? Buffer.from(v)[k] : v[k];
    } else if (v !== null && typeof v === 'object' && x.isMap(v)) {
      if (typeof k !== 'string') throw new CallError(`value has type ${goType(k, x.isMap)}; should be string`);
      const m = v as Record<string, unknown>;
      if (Object.prototype.hasOwnProperty.call(m, k)) v = m[k] ?? null;
      // A missing key gives the element type's zero value: "" in a map of strings.
      else v = Object.values(m).every((e) => typeof e === 'string') ? '' : null;
    } else throw new CallError(`can't index item of type ${goType(v, x.isMap)}`);
  }
  return v;
}

function slice(v: unknown, idx: unknown[], x: Exec): unknown {
  if (typeof v !== 'string' && !Array.isArray(v)) throw new CallError(`can't slice item of type ${goType(v, x.isMap)}`);
  if (typeof v === 'string' && idx.length > 2) throw new CallError('cannot 3-index slice a string');
  const len = typeof v === 'string' ? Buffer.byteLength(v) : v.length;
  const n = idx.map((i) => {
    if (typeof i !== 'number' || !Number.isInteger(i)) throw new CallError(`cannot index slice/array with type ${goType(i, x.isMap)}`);
    return i;
  });
  const [lo = 0, hi = len] = n;
  if (lo < 0 || hi < lo || hi > len) throw new CallError(`invalid slice index: ${lo} > ${hi}`);
  return typeof v === 'string' ? Buffer.from(v).subarray(lo, hi).toString() : v.slice(lo, hi);
}

/** fmt.Sprint: a space between operands when neither is a string. */
function sprint(args: unknown[], isMap: IsMap): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += formatValue(a, isMap);
  });
  return out;
}

const htmlEscapes: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&#34;', '\0': '\uFFFD' };

/** Go's builtins, and the functions docker and podman add (json, split, join, title, lower, upper, pad, truncate). */
export const builtins: ReadonlyMap<string, Func> = new Map<string, Func>([
  ['and', { args: [1, Infinity], fn: () => null }],
  ['or', { args: [1, Infinity], fn: () => null }],
  ['not', { args: 1, fn: ([v], x) => !truth(v, x.isMap) }],
  ['len', { args: 1, fn: ([v], x) => length(v, x) }],
  ['index', { args: [1, Infinity], fn: ([v, ...keys], x) => index(v, keys, x) }],
  ['slice', { args: [1, 4], fn: ([v, ...idx], x) => slice(v, idx, x) }],
  ['print', { args: [0, Infinity], fn: (args, x) => sprint(args, x.isMap) }],
  ['println', { args: [0, Infinity], fn: (args, x) => args.map((a) => formatValue(a, x.isMap)).join(' ') + '\n' }],
  ['printf', { args: [1, Infinity], fn: ([f, ...args], x) => sprintf(str(f, x), args, x.isMap) }],
  ['html', { args: [0, Infinity], fn: (args, x) => sprint(args, x.isMap).replace(/[<>&'"\0]/g, (c) => htmlEscapes[c]) }],
  ['urlquery', { args: [0, Infinity], fn: (args, x) => encodeURIComponent(sprint(args, x.isMap)).replace(/%20/g, '+').replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()) }],
  ['eq', { args: [2, Infinity], fn: (args) => eq(args) }],
  ['ne', { args: 2, fn: (args) => !eq(args) }],
  ['lt', { args: 2, fn: ([a, b]) => lt(a, b) }],
  ['le', { args: 2, fn: ([a, b]) => lt(a, b) || eq([a, b]) }],
  ['gt', { args: 2, fn: ([a, b]) => !lt(a, b) && !eq([a, b]) }],
  ['ge', { args: 2, fn: ([a, b]) => !lt(a, b) }],
  ['json', { args: 1, fn: ([v], x) => goJson(v, x.isMap) }],
  ['split', { args: 2, fn: ([s, sep], x) => splitGo(str(s, x), str(sep, x)) }],
  ['join', { args: 2, fn: ([a, sep], x) => strings(a, x).join(str(sep, x)) }],
  ['title', { args: 1, fn: ([s], x) => str(s, x).replace(/(^|[^\p{L}\p{N}_])(\p{L})/gu, (_, pre: string, c: string) => pre + c.toUpperCase()) }],
  ['lower', { args: 1, fn: ([s], x) => str(s, x).toLowerCase() }],
  ['upper', { args: 1, fn: ([s], x) => str(s, x).toUpperCase() }],
  // pad adds spaces around a non-empty string; truncate keeps its first n bytes.
  ['pad', { args: 3, fn: ([s, pre, post], x) => (str(s, x) === '' ? '' : ' '.repeat(Math.max(0, int(pre, x))) + s + ' '.repeat(Math.max(0, int(post, x)))) }],
  ['truncate', { args: 2, fn: ([s, n], x) => (Buffer.byteLength(str(s, x)) < int(n, x) ? s : Buffer.from(s as string).subarray(0, Math.max(0, n as number)).toString()) }],
]);

/** strings.Split: an empty separator splits into characters. */
function splitGo(s: string, sep: string): string[] {
  return sep === '' ? [...s] : s.split(sep);
}
