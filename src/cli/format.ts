// Output helpers shared by the commands: docker-style tables, sizes, relative times and
// `--format` templates ({{.Field}}, {{json .}}, {{.A.B}}, `table` prefix).
import { invalidArgument } from '../errors/index.js';

/** Left-aligned columns separated by three spaces, like docker's tabwriter output. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Decimal sizes as docker prints them: 4.26MB, 1.2GB, 512B. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : Number(v.toPrecision(3))}${units[i]}`;
}

/** "3 seconds ago", "About a minute ago", "2 hours ago" … like docker's units.HumanDuration. */
export function timeAgo(ms: number, now = Date.now()): string {
  return `${humanDuration(Math.max(0, now - ms))} ago`;
}

export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.round(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.round(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.round(h / 24 / 30)} months`;
  return `${Math.round(h / 24 / 365)} years`;
}

// --format templates: the subset of Go's text/template that docker's users write:
// {{.Field}}, {{.A.B}}, {{.}}, {{json .X}}, {{len .X}}, {{join .X ","}}, {{upper .X}},
// {{lower .X}}, with {{- and -}} trimming. Mistakes fail as docker's do (InvalidArgument,
// exit 125): a parse error names the line, an unknown field its position and type. As in
// Go, a key missing from a map (labels, options, port maps: see templateMap) is
// "<no value>", while a field missing from a struct-like view is an error.
const maps = new WeakSet<object>();

/**
 * Marks obj as a map for templates (its keys are data): a missing key is "<no value>".
 * deep: every object below it too (a document of a foreign format, e.g. a CNI conflist).
 */
export function templateMap<T>(obj: T, o: { deep?: boolean } = {}): T {
  if (obj === null || typeof obj !== 'object') return obj;
  if (!Array.isArray(obj)) maps.add(obj);
  if (o.deep) for (const v of Object.values(obj)) templateMap(v, o);
  return obj;
}

type Arg = { kind: 'field'; path: string[]; pos: number; text: string } | { kind: 'string'; value: string };
type Node = string | { fn: string | undefined; args: Arg[]; pos: number; line: number; text: string };

const FUNCTIONS = new Set(['json', 'len', 'join', 'upper', 'lower']);
const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

/** A parsed template; render() it once per object. */
export class Template {
  private constructor(private readonly nodes: Node[]) {}

  static parse(source: string): Template {
    const tpl = source.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
    const nodes: Node[] = [];
    const lineAt = (i: number) => tpl.slice(0, i).split('\n').length;
    const fail = (line: number, msg: string) => invalidArgument(`template parsing error: template: :${line}: ${msg}`);
    let i = 0;
    let trimNext = false;
    while (i < tpl.length) {
      const open = tpl.indexOf('{{', i);
      let text = tpl.slice(i, open < 0 ? tpl.length : open);
      if (trimNext) text = text.replace(/^\s+/, '');
      trimNext = false;
      if (open < 0) {
        if (text) nodes.push(text);
        break;
      }
      let bodyStart = open + 2;
      if (tpl.startsWith('- ', bodyStart) || tpl.startsWith('-\t', bodyStart) || tpl.startsWith('-\n', bodyStart)) {
        text = text.replace(/\s+$/, '');
        bodyStart++;
      }
      if (text) nodes.push(text);
      const close = tpl.indexOf('}}', bodyStart);
      if (close < 0) throw fail(lineAt(open), 'unclosed action');
      let bodyEnd = close;
      if (close > bodyStart && tpl[close - 1] === '-' && /\s/.test(tpl[close - 2] ?? '')) {
        bodyEnd--;
        trimNext = true;
      }
      const line = lineAt(open);
      const body = tpl.slice(bodyStart, bodyEnd);
      const words = [...body.matchAll(/"((?:[^"\\]|\\.)*)"|\S+/g)];
      if (words.length === 0) throw fail(line, 'missing value for command');
      const column = (w: RegExpMatchArray) => {
        const at = bodyStart + w.index!;
        return at - (tpl.lastIndexOf('\n', at - 1) + 1);
      };
      const arg = (w: RegExpMatchArray): Arg => {
        if (w[1] !== undefined) return { kind: 'string', value: w[1].replace(/\\(.)/g, '$1') };
        const t = w[0];
        if (t === '.') return { kind: 'field', path: [], pos: column(w), text: t };
        if (/^(\.[A-Za-z_][\w]*)+$/.test(t)) return { kind: 'field', path: t.slice(1).split('.'), pos: column(w), text: t };
        if (KEYWORDS.has(t)) throw fail(line, `berth templates do not support {{${t}}}`);
        if (/^[A-Za-z_]\w*$/.test(t)) throw fail(line, `function "${t}" not defined`);
        throw fail(line, `unexpected "${t}" in command`);
      };
      const first = words[0];
      const name = first[1] === undefined && /^[A-Za-z_]\w*$/.test(first[0]) ? first[0] : undefined;
      if (name !== undefined && KEYWORDS.has(name)) throw fail(line, `berth templates do not support {{${name}}}`);
      if (name !== undefined && !FUNCTIONS.has(name)) throw fail(line, `function "${name}" not defined`);
      const args = (name !== undefined ? words.slice(1) : words).map(arg);
      const want = name === undefined ? 1 : name === 'join' ? 2 : 1;
      if (args.length !== want) throw fail(line, name === undefined ? `${body.trim()}: a pipeline is not supported` : `wrong number of args for ${name}: want ${want} got ${args.length}`);
      nodes.push({ fn: name, args, pos: column(first), line, text: body.trim() });
      i = close + 2;
    }
    return new Template(nodes);
  }

  /** type: what obj is, for error messages ("can't evaluate field X in type container"). */
  render(obj: unknown, type = 'view'): string {
    let out = '';
    for (const n of this.nodes) {
      if (typeof n === 'string') {
        out += n;
        continue;
      }
      const values = n.args.map((a) => (a.kind === 'string' ? a.value : lookup(obj, type, a, n.line)));
      out += apply(n, values);
    }
    return out;
  }
}

const NO_VALUE = Symbol('no value');

/** The value at a field path; a missing struct field is an error, a missing map key NO_VALUE. */
function lookup(obj: unknown, rootType: string, a: Extract<Arg, { kind: 'field' }>, line: number): unknown {
  let v: unknown = obj;
  let type = rootType;
  for (const key of a.path) {
    if (v === NO_VALUE || v === null || v === undefined) {
      // Go: a missing map entry or a nil map yields no value, and so does any field of it.
      v = NO_VALUE;
      continue;
    }
    const fail = (why: string) =>
      invalidArgument(`template: :${line}:${a.pos}: executing "" at <${a.text}>: ${why}`);
    if (typeof v !== 'object' || Array.isArray(v)) throw fail(`can't evaluate field ${key} in type ${goType(v)}`);
    if (Object.prototype.hasOwnProperty.call(v, key)) {
      v = (v as Record<string, unknown>)[key];
      if (v === undefined) v = NO_VALUE;
    } else if (maps.has(v)) {
      v = NO_VALUE;
    } else {
      throw fail(`can't evaluate field ${key} in type ${type}`);
    }
    type = key;
  }
  return v;
}

function goType(v: unknown): string {
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  return typeof v;
}

function apply(n: Exclude<Node, string>, values: unknown[]): string {
  const [v, sep] = values;
  switch (n.fn) {
    case undefined:
      return text(v);
    case 'json':
      return JSON.stringify(v === NO_VALUE ? null : v);
    case 'len':
      if (Array.isArray(v) || typeof v === 'string') return String(v.length);
      if (v !== null && typeof v === 'object') return String(Object.keys(v).length);
      throw invalidArgument(`template: :${n.line}:${n.pos}: executing "" at <len>: error calling len: len of ${v === NO_VALUE ? 'nil pointer' : goType(v)}`);
    case 'join':
      if (!Array.isArray(v)) throw invalidArgument(`template: :${n.line}:${n.pos}: executing "" at <join>: wrong type for value; expected []string; got ${v === NO_VALUE ? 'nil' : goType(v)}`);
      return v.map(text).join(String(sep));
    case 'upper':
      return text(v).toUpperCase();
    default:
      return text(v).toLowerCase();
  }
}

function text(v: unknown): string {
  if (v === NO_VALUE || v === undefined) return '<no value>';
  if (Array.isArray(v)) return `[${v.join(' ')}]`;
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Renders tpl for each object, all before anything is printed (a mistake prints nothing). */
export function renderAll(tpl: string, objs: unknown[], type?: string | string[]): string {
  const t = Template.parse(tpl);
  return objs.map((o, i) => t.render(o, Array.isArray(type) ? type[i] : type) + '\n').join('');
}

/**
 * Prints a list in the --format the user asked for: undefined/'table' → the table;
 * 'json' → a JSON array; anything else → the template per item ('table …' adds headers).
 */
export function printList<T>(items: T[], format: string | undefined, tableOf: (items: T[]) => string, view: (item: T) => unknown, type?: string): void {
  if (format === undefined || format === '' || format === 'table') {
    process.stdout.write(tableOf(items));
  } else if (format === 'json') {
    process.stdout.write(JSON.stringify(items.map(view), null, 2) + '\n');
  } else {
    process.stdout.write(renderAll(format.startsWith('table ') ? format.slice(6) : format, items.map(view), type));
  }
}

export const shortId = (id: string) => id.slice(0, 12);
