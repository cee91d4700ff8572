// Output helpers shared by the commands: docker-style tables, sizes, relative times and
// `--format` templates ({{.Field}}, {{json .}}, {{.A.B}}, `table` prefix).

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

/**
 * Renders a Go-template-like format for one object: {{.Field}}, {{.A.B}}, {{json .X}},
 * {{json .}}, plus \t and \n escapes. Unknown fields render as "<no value>" like Go.
 */
export function renderTemplate(tpl: string, obj: unknown): string {
  const body = tpl.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return body.replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
    let v: unknown = obj;
    for (const key of path ? path.split('.') : []) v = v == null ? undefined : (v as Record<string, unknown>)[key];
    if (json) return JSON.stringify(v ?? null);
    if (v === undefined) return '<no value>';
    if (Array.isArray(v)) return `[${v.join(' ')}]`;
    if (v !== null && typeof v === 'object') return JSON.stringify(v);
    return String(v);
  });
}

/**
 * Prints a list in the --format the user asked for: undefined/'table' → the table;
 * 'json' → a JSON array; anything else → the template per item ('table …' adds headers).
 */
export function printList<T>(items: T[], format: string | undefined, tableOf: (items: T[]) => string, view: (item: T) => unknown): void {
  if (format === undefined || format === '' || format === 'table') {
    process.stdout.write(tableOf(items));
  } else if (format === 'json') {
    process.stdout.write(JSON.stringify(items.map(view), null, 2) + '\n');
  } else {
    const tpl = format.startsWith('table ') ? format.slice(6) : format;
    const out = items.map((i) => renderTemplate(tpl, view(i)) + '\n').join('');
    process.stdout.write(out);
  }
}

export const shortId = (id: string) => id.slice(0, 12);
