// The output helpers: --format as docker's CLI reads it (escapes, one line per object,
// the table prefix), tables, sizes and relative times as docker prints them. The template
// language itself is tested in test/template.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headerName, humanDuration, humanSize, printList, renderAll, shortId, table, tabwrite, templateMap, timeAgo } from '../../src/cli/format.js';
import { stdout } from '../../src/cli/stdout.js';

test('--format: Go templates with docker\'s escapes, one line per object, nothing printed on a mistake', async () => {
  const obj = { ID: 'abc', Names: ['a', 'b'], Config: { Labels: templateMap({ x: '1' }), Cmd: null }, Count: 0 };
  assert.equal(await renderAll('{{.ID}}\\t{{.Count}}\\n', [obj]), 'abc\t0\n\n');
  // Inside an action "\t" is Go's own string escape, the same tab.
  assert.equal(await renderAll('{{"\\t"}}|{{.Config.Labels}}|{{.Config.Labels.nope}}|{{.Config.Cmd}}', [obj]), '\t|map[x:1]|<no value>|<no value>\n');
  assert.equal(await renderAll('{{.Names}}\\t{{- " " -}}{{len .Names}}', [obj]), '[a b] 2\n', 'the escape is whitespace a trim marker removes');
  assert.equal(await renderAll('{{.ID}}', [{ ID: 1 }, { ID: 2 }]), '1\n2\n');
  await assert.rejects(renderAll('{{.ID', [obj]), { code: 'InvalidArgument', message: 'template parsing error: template: :1: unclosed action' });
  await assert.rejects(renderAll('{{.Nope}}', [obj], 'container'), { code: 'InvalidArgument', message: 'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type container' });
  // All objects are rendered before anything is returned: a mistake in the second prints nothing.
  await assert.rejects(renderAll('{{.ID}}', [{ ID: 1 }, {}]), /can't evaluate field ID/);
});

test('printList: table, json, a template per item, "table" prefix with headers and aligned columns', async (t) => {
  const out: string[] = [];
  // Captures what the command would print; the real stream is put back afterwards. Output
  // goes through the stream once a command has asked for it (see cli/stdout.ts).
  stdout();
  const write = process.stdout.write;
  t.after(() => void (process.stdout.write = write));
  process.stdout.write = ((s: string) => (out.push(s), true)) as typeof process.stdout.write;
  const items = [{ id: 'aaaa', n: 1 }, { id: 'bb', n: 22 }];
  const tableOf = (xs: typeof items) => table(['ID', 'N'], xs.map((x) => [x.id, String(x.n)]));
  const view = (x: (typeof items)[number]) => ({ ID: x.id, N: x.n, CreatedAt: 'then' });
  for (const format of [undefined, '', 'table', 'json', '{{.ID}}={{.N}}', 'table {{.ID}}', 'table {{.ID}}\\t{{.N}}\\t{{lower .CreatedAt}}', 'table {{.N}}:{{.ID}}'])
    await printList(items, format, tableOf, view, { headers: { ID: 'THING ID' } });
  process.stdout.write = write;
  const tbl = 'ID     N\naaaa   1\nbb     22\n';
  assert.deepEqual(out, [
    tbl,
    tbl,
    tbl,
    JSON.stringify(items.map(view), null, 2) + '\n',
    'aaaa=1\nbb=22\n',
    'THING ID\naaaa\nbb\n',
    'THING ID   N    CREATED AT\naaaa       1    then\nbb         22   then\n',
    'N:THING ID\n1:aaaa\n22:bb\n',
  ]);
  assert.equal(headerName('RunningFor'), 'RUNNING FOR');
  assert.equal(headerName('ImageID'), 'IMAGE ID');
  assert.equal(headerName('CPUPerc'), 'CPU PERC');
  assert.equal(headerName('ID', { ID: 'CONTAINER ID' }), 'CONTAINER ID');
});

test('tabwrite: Go tabwriter columns (cells end at tabs, a column spans the lines that have it)', () => {
  assert.equal(tabwrite('a\tbbb\tc\nxxxx\ty\tz\n'), 'a      bbb   c\nxxxx   y     z\n');
  // The text after a line's last tab is not a cell; a line without tabs ends the column block.
  assert.equal(tabwrite('a\tb\nno tabs here at all\nccc\td'), 'a   b\nno tabs here at all\nccc   d');
  assert.equal(tabwrite('a\tb\tc\naa\tb\nlonger\tx\ty', 2), 'a       b  c\naa      b\nlonger  x  y');
  assert.equal(tabwrite('é\tx\nab\ty'), 'é    x\nab   y', 'widths count characters, not bytes');
});

test('tables, sizes, durations, short IDs', () => {
  assert.equal(table(['A', 'LONGER'], [['xxxxx', ''], ['y', 'z']]), 'A       LONGER\nxxxxx\ny       z\n');
  assert.deepEqual([0, 512, 999, 1000, 4_260_000, 1_200_000_000, 1e18].map(humanSize), ['0B', '512B', '999B', '1kB', '4.26MB', '1.2GB', '1000PB']);
  const now = 10_000_000_000;
  assert.equal(timeAgo(now, now), 'Less than a second ago');
  assert.equal(timeAgo(now + 5000, now), 'Less than a second ago', 'a time in the future counts as now');
  assert.deepEqual(
    [1, 30, 60, 89, 150, 3600, 5400, 47 * 3600, 3 * 86400, 20 * 86400, 90 * 86400, 3 * 365 * 86400].map((s) => humanDuration(s * 1000)),
    ['1 second', '30 seconds', 'About a minute', 'About a minute', '3 minutes', 'About an hour', '2 hours', '47 hours', '3 days', '3 weeks', '3 months', '3 years'],
  );
  assert.equal(shortId('0123456789abcdef'), '0123456789ab');
});
