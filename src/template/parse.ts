// Go text/template syntax: a lexer over the whole source (text, actions, trim markers,
// comments) and a recursive-descent parser into the tree exec.ts walks. Errors read as Go's:
// "template: NAME:LINE: message".
import { invalidArgument } from '../errors/index.js';

/** An operand: a field chain on dot, a variable, a function name, a literal, or a (pipeline). */
export type Arg =
  | { t: 'field'; chain: string[]; pos: number }
  | { t: 'var'; name: string; chain: string[]; pos: number }
  | { t: 'ident'; name: string; pos: number }
  | { t: 'lit'; value: unknown; pos: number }
  | { t: 'pipe'; pipe: Pipe; chain: string[]; pos: number };

export interface Cmd {
  args: Arg[];
  pos: number;
  text: string;
}

export interface Pipe {
  decl: string[];
  /** `$x = …` assigns an existing variable instead of declaring one. */
  assign: boolean;
  cmds: Cmd[];
  pos: number;
}

export type Node =
  | { t: 'text'; text: string }
  | { t: 'action'; pipe: Pipe }
  | { t: 'if' | 'with' | 'range'; pipe: Pipe; list: Node[]; else: Node[] | undefined }
  | { t: 'break' | 'continue'; pos: number }
  | { t: 'template'; name: string; pipe: Pipe | undefined; pos: number };

export interface Tree {
  root: Node[];
  /** {{define}} and {{block}} bodies by name. */
  defines: Map<string, Node[]>;
}

type TokType = 'field' | 'var' | 'ident' | 'string' | 'number' | 'char' | 'lparen' | 'rparen' | 'pipe' | 'declare' | 'assign' | 'comma' | 'dot' | 'end';
interface Tok {
  type: TokType;
  text: string;
  pos: number;
  /** Whitespace came before it: `(x).A` chains a field, `(x) .A` is another argument. */
  space: boolean;
}

type Item = { kind: 'text'; text: string } | { kind: 'action'; toks: Tok[]; pos: number };

const SPACE = /[ \t\r\n]/;
const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue', 'nil', 'true', 'false']);

export function parseTree(src: string, name: string, funcs: ReadonlySet<string>): Tree {
  const fail = (pos: number, msg: string) => invalidArgument(`template: ${name}:${lineAt(src, pos)}: ${msg}`);
  return new Parser(lex(src, fail), fail, funcs).parseAll();
}

export function lineAt(src: string, pos: number): number {
  let n = 1;
  for (let i = 0; i < pos && i < src.length; i++) if (src.charCodeAt(i) === 10) n++;
  return n;
}

/** Splits the source into text and the tokens of each action, applying trim markers and dropping comments. */
function lex(src: string, fail: (pos: number, msg: string) => Error): Item[] {
  const items: Item[] = [];
  let i = 0;
  let trimNext = false;
  while (i <= src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    trimNext = false;
    let at = open + 2;
    // "{{- " trims the text before it; the marker needs the space, else "{{-3}}" is a number.
    if (open >= 0 && src[at] === '-' && SPACE.test(src[at + 1] ?? '')) {
      text = text.replace(/[ \t\r\n]+$/, '');
      at += 2;
    }
    if (text) items.push({ kind: 'text', text });
    if (open < 0) break;
    if (src.startsWith('/*', at)) {
      const end = src.indexOf('*/', at + 2);
      if (end < 0) throw fail(open, 'unclosed comment');
      let after = end + 2;
      if (src.startsWith(' -}}', after) || src.startsWith('\t-}}', after) || src.startsWith('\n-}}', after) || src.startsWith('\r-}}', after)) {
        trimNext = true;
        after += 4;
      } else if (src.startsWith('}}', after)) after += 2;
      else throw fail(open, 'comment ends before closing delimiter');
      i = after;
      continue;
    }
    const toks: Tok[] = [];
    let space = true;
    let depth = 0;
    for (;;) {
      if (at >= src.length) throw fail(open, 'unclosed action');
      const c = src[at];
      if (SPACE.test(c)) {
        // " -}}" ends the action and trims the text after it.
        if (src.startsWith('-}}', at + 1)) {
          trimNext = true;
          at += 4;
          break;
        }
        space = true;
        at++;
        continue;
      }
      if (src.startsWith('}}', at)) {
        at += 2;
        break;
      }
      const start = at;
      const push = (type: TokType, end: number) => {
        toks.push({ type, text: src.slice(start, end), pos: start, space });
        space = false;
        at = end;
      };
      const word = (from: number) => {
        let j = from;
        while (j < src.length && /[\p{L}\p{N}_]/u.test(src[j])) j++;
        return j;
      };
      if (c === '.') {
        // A field chain .A.B, or dot itself; a number like .5 is lexed below.
        if (/[0-9]/.test(src[at + 1] ?? '') && (toks.length === 0 || space)) {
          push('number', numberEnd(src, at));
          continue;
        }
        let j = at;
        while (src[j] === '.' && /[\p{L}_]/u.test(src[j + 1] ?? '')) j = word(j + 1);
        if (j === at) push('dot', at + 1);
        else push('field', j);
      } else if (c === '$') {
        let j = word(at + 1);
        while (src[j] === '.' && /[\p{L}_]/u.test(src[j + 1] ?? '')) j = word(j + 1);
        push('var', j);
      } else if (c === '"') {
        let j = at + 1;
        while (j < src.length && src[j] !== '"') {
          if (src[j] === '\n') throw fail(start, 'unterminated quoted string');
          j += src[j] === '\\' ? 2 : 1;
        }
        if (j >= src.length) throw fail(start, 'unterminated quoted string');
        push('string', j + 1);
      } else if (c === '`') {
        const j = src.indexOf('`', at + 1);
        if (j < 0) throw fail(start, 'unterminated raw quoted string');
        push('string', j + 1);
      } else if (c === "'") {
        let j = at + 1;
        while (j < src.length && src[j] !== "'") j += src[j] === '\\' ? 2 : 1;
        if (j >= src.length) throw fail(start, 'unterminated character constant');
        push('char', j + 1);
      } else if (/[0-9+-]/.test(c)) {
        const j = numberEnd(src, at);
        if (j === at) throw fail(start, `unexpected bad character U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} '${c}' in command`);
        push('number', j);
      } else if (/[\p{L}_]/u.test(c)) {
        push('ident', word(at));
      } else if (c === '(') {
        depth++;
        push('lparen', at + 1);
      } else if (c === ')') {
        if (--depth < 0) throw fail(start, 'unexpected right paren');
        push('rparen', at + 1);
      } else if (c === '|') push('pipe', at + 1);
      else if (c === ':' && src[at + 1] === '=') push('declare', at + 2);
      else if (c === '=') push('assign', at + 1);
      else if (c === ',') push('comma', at + 1);
      else throw fail(start, `unexpected bad character U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} '${c}' in command`);
    }
    if (depth > 0) throw fail(open, 'unclosed left paren');
    items.push({ kind: 'action', toks, pos: open });
    i = at;
  }
  return items;
}

/** The end of a Go number literal at i (sign, 0x/0o/0b, underscores, fraction, exponent); i if none. */
function numberEnd(src: string, i: number): number {
  const m = /^[+-]?(0[xX][0-9a-fA-F_]+(\.[0-9a-fA-F_]*)?([pP][+-]?[0-9]+)?|0[oO][0-7_]+|0[bB][01_]+|([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9][0-9_]*)([eE][+-]?[0-9]+)?)/.exec(src.slice(i, i + 100));
  return m ? i + m[0].length : i;
}

function numberValue(text: string): number | undefined {
  const t = text.replace(/_/g, '');
  const sign = t.startsWith('-') ? -1 : 1;
  const u = t.replace(/^[+-]/, '');
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(u)) v = parseInt(u.slice(2), 16);
  else if (/^0[oO][0-7]+$/.test(u)) v = parseInt(u.slice(2), 8);
  else if (/^0[bB][01]+$/.test(u)) v = parseInt(u.slice(2), 2);
  else if (/^0[0-7]+$/.test(u)) v = parseInt(u.slice(1), 8);
  else v = Number(u);
  return Number.isNaN(v) ? undefined : sign * v;
}

/** Go's interpreted string literal: \n \t \" \\ \xFF \u1234 \U00012345 and octal escapes (\x and octal are bytes of UTF-8). */
export function unquote(text: string): string | undefined {
  if (text.startsWith('`')) return text.slice(1, -1).replace(/\r/g, '');
  const body = text.slice(1, -1);
  const bytes: number[] = [];
  const add = (s: string) => bytes.push(...Buffer.from(s));
  const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" };
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      add(c);
      continue;
    }
    const e = body[++i];
    if (e in simple) add(simple[e]);
    else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) return undefined;
      if (e === 'x') bytes.push(parseInt(hex, 16));
      else add(String.fromCodePoint(parseInt(hex, 16)));
      i += n;
    } else if (/[0-7]/.test(e)) {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) return undefined;
      bytes.push(parseInt(oct, 8));
      i += 2;
    } else return undefined;
  }
  return Buffer.from(bytes).toString();
}

class Parser {
  private items: Item[];
  private at = 0;
  private toks: Tok[] = [];
  private ti = 0;
  /** Variables in scope, innermost last; "$" is always there. */
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  private defines = new Map<string, Node[]>();

  constructor(
    items: Item[],
    private readonly fail: (pos: number, msg: string) => Error,
    private readonly funcs: ReadonlySet<string>,
  ) {
    this.items = items;
  }

  parseAll(): Tree {
    const { list, end } = this.list();
    if (end) throw this.fail(end.pos, `unexpected ${end.word}`);
    return { root: list, defines: this.defines };
  }

  /** Nodes up to an {{end}}, {{else …}} or the end of input (end undefined). */
  private list(): { list: Node[]; end?: { word: string; pos: number; rest: Tok[] } } {
    const list: Node[] = [];
    while (this.at < this.items.length) {
      const item = this.items[this.at++];
      if (item.kind === 'text') {
        list.push({ t: 'text', text: item.text });
        continue;
      }
      this.toks = item.toks;
      this.ti = 0;
      const first = this.toks[0];
      if (!first) throw this.fail(item.pos, 'missing value for command');
      const kw = first.type === 'ident' ? first.text : '';
      switch (kw) {
        case 'end':
        case 'else':
          this.ti = 1;
          return { list, end: { word: `{{${kw}}}`, pos: item.pos, rest: this.toks.slice(1) } };
        case 'if':
        case 'with':
        case 'range':
          this.ti = 1;
          list.push(this.control(kw, item.pos));
          break;
        case 'break':
        case 'continue':
          if (this.rangeDepth === 0) throw this.fail(item.pos, `{{${kw}}} outside {{range}}`);
          if (this.toks.length > 1) throw this.fail(item.pos, `unexpected ${this.toks[1].text} in {{${kw}}}`);
          list.push({ t: kw, pos: item.pos });
          break;
        case 'define':
        case 'block':
        case 'template': {
          this.ti = 1;
          const nameTok = this.next();
          const tname = nameTok.type === 'string' ? unquote(nameTok.text) : undefined;
          if (tname === undefined) throw this.fail(item.pos, `unexpected "${nameTok.text}" in ${kw} clause`);
          if (kw === 'define') {
            if (this.peek().type !== 'end') throw this.fail(item.pos, `unexpected "${this.peek().text}" in define clause`);
            this.defines.set(tname, this.namedBody(kw, item.pos));
            break;
          }
          const pipe = this.peek().type === 'end' ? undefined : this.pipeline(kw, item.pos);
          // {{block}} is {{define}} and {{template}} in one.
          if (kw === 'block') this.defines.set(tname, this.namedBody(kw, item.pos));
          list.push({ t: 'template', name: tname, pipe, pos: item.pos });
          break;
        }
        default:
          // A variable declared here lives to the {{end}} of the enclosing control (control() drops it).
          list.push({ t: 'action', pipe: this.pipeline('command', item.pos) });
      }
    }
    return { list };
  }

  /** A named template's body, up to its {{end}}: its own variables, only $. */
  private namedBody(kw: string, pos: number): Node[] {
    const saved = this.vars;
    this.vars = ['$'];
    const body = this.list();
    this.vars = saved;
    if (body.end?.word !== '{{end}}') throw this.fail(pos, body.end ? `unexpected ${body.end.word} in ${kw}` : 'unexpected EOF');
    return body.list;
  }

  /** {{if}}, {{with}}, {{range}}: pipeline, list, optional {{else}} (or {{else if …}}), {{end}}. */
  private control(kw: 'if' | 'with' | 'range', pos: number): Node {
    const mark = this.vars.length;
    const pipe = this.pipeline(kw, pos);
    if (kw === 'range') this.rangeDepth++;
    const body = this.list();
    if (kw === 'range') this.rangeDepth--;
    // The pipeline's variables are seen in {{else}} too, except range's (nothing was iterated).
    this.vars.length = kw === 'range' || pipe.assign ? mark : mark + pipe.decl.length;
    let elseList: Node[] | undefined;
    let end = body.end;
    if (end?.word === '{{else}}') {
      const rest = end.rest;
      if (rest.length && rest[0].type === 'ident' && (rest[0].text === 'if' || rest[0].text === 'with') && kw !== 'range') {
        // {{else if …}} / {{else with …}}: a nested control sharing this one's {{end}}.
        this.toks = rest;
        this.ti = 1;
        elseList = [this.control(rest[0].text as 'if' | 'with', pos)];
        end = { word: '{{end}}', pos, rest: [] };
      } else {
        if (rest.length) throw this.fail(end.pos, `unexpected "${rest[0].text}" in else`);
        const e = this.list();
        elseList = e.list;
        end = e.end;
        if (end?.word === '{{else}}') throw this.fail(end.pos, 'expected end; found {{else}}');
      }
    }
    this.vars.length = mark;
    if (!end) throw this.fail(pos, 'unexpected EOF');
    if (end.rest.length) throw this.fail(end.pos, `unexpected "${end.rest[0].text}" in end`);
    return { t: kw, pipe, list: body.list, else: elseList };
  }

  private peek(): Tok {
    return this.toks[this.ti] ?? { type: 'end', text: '}}', pos: -1, space: true };
  }

  private next(): Tok {
    const t = this.peek();
    this.ti++;
    return t;
  }

  /** [decl :=] cmd | cmd …, up to the end of the action or a closing paren. */
  private pipeline(context: string, pos: number): Pipe {
    const decl: string[] = [];
    let assign = false;
    // $x := …, $x = …, and in range $i, $v := …
    const save = this.ti;
    const v = this.peek();
    if (v.type === 'var' && !v.text.includes('.')) {
      this.ti++;
      const t = this.peek();
      if (t.type === 'declare' || t.type === 'assign') {
        this.ti++;
        decl.push(v.text);
        assign = t.type === 'assign';
      } else if (t.type === 'comma' && context === 'range') {
        this.ti++;
        const v2 = this.next();
        const d = this.next();
        if (v2.type !== 'var' || (d.type !== 'declare' && d.type !== 'assign')) throw this.fail(pos, 'range can only initialize variables');
        decl.push(v.text, v2.text);
        assign = d.type === 'assign';
      } else if (t.type === 'comma') {
        throw this.fail(pos, `too many declarations in ${context}`);
      } else this.ti = save;
    }
    if (assign) for (const d of decl) if (!this.vars.includes(d)) throw this.fail(pos, `undefined variable "${d}"`);
    const cmds: Cmd[] = [];
    for (;;) {
      cmds.push(this.command(pos, context));
      const t = this.peek();
      if (t.type === 'pipe') {
        this.ti++;
        continue;
      }
      if (t.type === 'end' || t.type === 'rparen') break;
      throw this.fail(pos, `unexpected "${t.text}" in operand`);
    }
    if (cmds.length === 0 || cmds[0].args.length === 0) throw this.fail(pos, `missing value for ${context}`);
    if (!assign) this.vars.push(...decl);
    // Go places a pipeline (and the if/range/with around it) at its first command.
    return { decl, assign, cmds, pos: cmds[0].pos };
  }

  private command(pos: number, context: string): Cmd {
    const args: Arg[] = [];
    const start = this.peek();
    let endPos = start.pos;
    while (this.peek().type !== 'end' && this.peek().type !== 'pipe' && this.peek().type !== 'rparen') {
      const t = this.peek();
      if (args.length && !t.space && t.type !== 'lparen') throw this.fail(t.pos, `missing space?`);
      args.push(this.operand());
      endPos = this.toks[this.ti - 1].pos + this.toks[this.ti - 1].text.length;
    }
    if (args.length === 0) throw this.fail(pos, this.peek().type === 'pipe' ? 'missing command' : `missing value for ${context}`);
    const text = this.toks.length && start.pos >= 0 ? this.sourceOf(start.pos, endPos) : '';
    return { args, pos: start.pos, text };
  }

  private sourceOf(from: number, to: number): string {
    return this.toks
      .filter((t) => t.pos >= from && t.pos < to)
      .map((t, i) => (i && t.space ? ' ' : '') + t.text)
      .join('');
  }

  private operand(): Arg {
    const t = this.next();
    const chain = () => {
      const c = this.peek();
      if (c.type === 'field' && !c.space) {
        this.ti++;
        return c.text.slice(1).split('.');
      }
      return [];
    };
    switch (t.type) {
      case 'dot':
        return { t: 'field', chain: [], pos: t.pos };
      case 'field':
        return { t: 'field', chain: t.text.slice(1).split('.'), pos: t.pos };
      case 'var': {
        const [name, ...rest] = t.text.split('.');
        if (!this.vars.includes(name)) throw this.fail(t.pos, `undefined variable "${name}"`);
        return { t: 'var', name, chain: rest, pos: t.pos };
      }
      case 'string': {
        const value = unquote(t.text);
        if (value === undefined) throw this.fail(t.pos, `invalid syntax: ${t.text}`);
        return { t: 'lit', value, pos: t.pos };
      }
      case 'char': {
        const value = unquote(t.text);
        if (value === undefined || [...value].length !== 1) throw this.fail(t.pos, `malformed character constant: ${t.text}`);
        return { t: 'lit', value: value.codePointAt(0), pos: t.pos };
      }
      case 'number': {
        const value = numberValue(t.text);
        if (value === undefined) throw this.fail(t.pos, `illegal number syntax: "${t.text}"`);
        return { t: 'lit', value, pos: t.pos };
      }
      case 'ident':
        if (t.text === 'true' || t.text === 'false') return { t: 'lit', value: t.text === 'true', pos: t.pos };
        if (t.text === 'nil') return { t: 'lit', value: null, pos: t.pos };
        if (KEYWORDS.has(t.text)) throw this.fail(t.pos, `unexpected <${t.text}> in command`);
        if (!this.funcs.has(t.text)) throw this.fail(t.pos, `function "${t.text}" not defined`);
        return { t: 'ident', name: t.text, pos: t.pos };
      case 'lparen': {
        const pipe = this.pipeline('parenthesized pipeline', t.pos);
        if (this.next().type !== 'rparen') throw this.fail(t.pos, 'unclosed left paren');
        return { t: 'pipe', pipe, chain: chain(), pos: t.pos };
      }
      default:
        throw this.fail(t.pos, `unexpected "${t.text}" in operand`);
    }
  }
}
