// Output helpers shared by the commands: docker-style tables, sizes, relative times and
// `--format` templates (Go's text/template, a `table` prefix for aligned columns).
import { invalidArgument } from '../errors/index.js';
import { writeOut } from './stdout.js';

/** Left-aligned columns separated by three spaces, like docker's tabwriter output. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Decimal sizes as docker prints them: 4.26MB, 1.2GB, 512B. */
export function humanSize(bytes: number, precision = 3): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : Number(v.toPrecision(precision))}${units[i]}`;
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

// --format templates are Go's text/template (src/template, loaded only when a template is
// given), as docker's CLI uses them: "\t" and "\n" typed in the format are tab and newline,
// each object prints one line, a "table " prefix adds a header row and aligns the columns.
// Mistakes fail as docker's do (InvalidArgument, exit 125), before anything is printed.
const maps = new WeakSet<object>();

/**
 * Marks obj as a map for templates (its keys are data): a missing key is "<no value>", range
 * goes in key order. Any other object is a struct, where a missing field is an error.
 * deep: every object below it too (a document of a foreign format, e.g. a CNI conflist).
 */
export function templateMap<T>(obj: T, o: { deep?: boolean } = {}): T {
  if (obj === null || typeof obj !== 'object') return obj;
  if (!Array.isArray(obj)) maps.add(obj);
  if (o.deep) for (const v of Object.values(obj)) templateMap(v, o);
  return obj;
}

export interface Rendered {
  /** One object's line (with its newline). type names the object in messages. */
  render(obj: unknown, type?: string): string;
  /** The header row of a "table …" format (undefined without the prefix), from header names. */
  header(names: (field: string) => string): string | undefined;
}

/** Parses format once (loading the template code); render() it per object. */
export async function compileFormat(format: string): Promise<Rendered> {
  const { parse } = await import('../template/index.js');
  const table = /^table\s/.test(format);
  // "\t" and "\n" in text (not inside actions, where Go's string escapes apply) as docker reads them.
  const source = (table ? format.slice(5).trim() : format).replace(/(\{\{[\s\S]*?\}\})|\\t|\\n/g, (m, action?: string) => action ?? (m === '\\t' ? '\t' : '\n'));
  let tpl: ReturnType<typeof parse>;
  try {
    tpl = parse(source, { isMap: (o) => maps.has(o) });
  } catch (e) {
    throw invalidArgument(`template parsing error: ${(e as Error).message}`);
  }
  return {
    render: (obj, type) => tpl.execute(obj, { type }) + '\n',
    header(names) {
      if (!table) return undefined;
      // Each field reads as its column's header; docker's functions pass it through.
      const heads = new Proxy({}, {
        get: (_, k) => (typeof k === 'string' ? names(k) : undefined),
        getOwnPropertyDescriptor: (_, k) => (typeof k === 'string' ? { value: names(k), enumerable: true, configurable: true } : undefined),
      });
      try {
        return tpl.execute(heads, { header: true }) + '\n';
      } catch {
        return '\n';
      }
    },
  };
}

/** Renders format for each object, all before anything is printed (a mistake prints nothing). */
export async function renderAll(format: string, objs: unknown[], type?: string | string[]): Promise<string> {
  const t = await compileFormat(format);
  return objs.map((o, i) => t.render(o, Array.isArray(type) ? type[i] : type)).join('');
}

/** A field's column header: "CreatedAt" → "CREATED AT", unless the command names it (ps: ID → "CONTAINER ID"). */
export function headerName(field: string, names: Record<string, string> = {}): string {
  return names[field] ?? field.replace(/([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])/g, '$1$3 $2$4').toUpperCase();
}

/**
 * Go's tabwriter (left-aligned, padded with spaces): each tab ends a cell; a column is as wide
 * as its widest cell plus padding over each run of lines that have a cell in it; the text after
 * a line's last tab is not aligned. Trailing spaces are dropped, as table() does.
 */
export function tabwrite(text: string, padding = 3): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const width = (s: string) => [...s].length;
  const out = lines.map(() => '');
  // Cells of column `col` in lines [from, to); columns left of it are already written.
  const format = (col: number, from: number, to: number) => {
    for (let i = from; i < to; ) {
      if (col >= lines[i].length - 1) {
        out[i] += lines[i].slice(col).join('\t');
        i++;
        continue;
      }
      let j = i;
      let w = 0;
      while (j < to && col < lines[j].length - 1) w = Math.max(w, width(lines[j][col]) + padding), j++;
      for (let k = i; k < j; k++) out[k] += lines[k][col] + ' '.repeat(w - width(lines[k][col]));
      format(col + 1, i, j);
      i = j;
    }
  };
  format(0, 0, lines.length);
  return out.map((l) => l.trimEnd()).join('\n');
}

/**
 * Prints a list in the --format the user asked for: undefined/'table' → the table;
 * 'json' → a JSON array; anything else → the template per item ('table …' adds headers).
 * headers: the command's names for some columns (e.g. ID → "CONTAINER ID").
 */
export async function printList<T>(
  items: T[],
  format: string | undefined,
  tableOf: (items: T[]) => string,
  view: (item: T) => unknown,
  o: { type?: string; headers?: Record<string, string> } = {},
): Promise<void> {
  if (format === undefined || format === '' || format === 'table') {
    writeOut(tableOf(items));
  } else if (format === 'json') {
    writeOut(JSON.stringify(items.map(view), null, 2) + '\n');
  } else {
    const t = await compileFormat(format);
    const rows = items.map((i) => t.render(view(i), o.type)).join('');
    const header = t.header((k) => headerName(k, o.headers));
    writeOut(header === undefined ? rows : tabwrite(header + rows));
  }
}

export const shortId = (id: string) => id.slice(0, 12);

/** A sort order by a text key, compared as Go compares strings (code units, not locale): --sort. */
export function byText<T>(key: (item: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}
