// --format templates and the output helpers: Go-style fields, json, escapes, tables,
// sizes and relative times as docker prints them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration, humanSize, printList, renderAll, shortId, table, Template, templateMap, timeAgo } from '../../src/cli/format.js';

test('templates: fields, nested fields, functions, trimming, escapes', () => {
  const r = (tpl: string, obj: unknown) => Template.parse(tpl).render(obj);
  const obj = { ID: 'abc', Names: ['a', 'b'], Config: { Labels: templateMap({ x: '1' }), Cmd: null }, Count: 0, Ok: false };
  assert.equal(r('{{.ID}}', obj), 'abc');
  assert.equal(r('{{ .ID }}: {{.Count}} {{.Ok}}', obj), 'abc: 0 false');
  assert.equal(r('{{.Config.Labels.x}}', obj), '1');
  assert.equal(r('{{.Names}}', obj), '[a b]');
  assert.equal(r('{{.Config.Labels}}', obj), '{"x":"1"}');
  assert.equal(r('{{json .Names}}', obj), '["a","b"]');
  assert.equal(r('{{json .}}', { a: 1 }), '{"a":1}');
  assert.equal(r('{{len .Names}} {{join .Names ", "}} {{upper .ID}} {{lower "XY"}}', obj), '2 a, b ABC xy');
  assert.equal(r('{{.Config.Cmd}}', obj), 'null');
  assert.equal(r('{{.ID}}\\t{{.Count}}\\n', obj), 'abc\t0\n');
  assert.equal(r('a  {{- .ID -}}  b', obj), 'aabcb');
  // A key missing from a map is "<no value>" (and so is any field below it), as in Go.
  assert.equal(r('{{.Config.Labels.nope}}|{{.Config.Labels.nope.deeper}}|{{json .Config.Labels.nope}}', obj), '<no value>|<no value>|null');
  assert.equal(renderAll('{{.ID}}', [{ ID: 1 }, { ID: 2 }]), '1\n2\n');
});

test('templates: mistakes fail as docker\'s do', () => {
  const fails = (tpl: string, obj: unknown, message: RegExp) => assert.throws(() => Template.parse(tpl).render(obj, 'container'), { code: 'InvalidArgument', message }, tpl);
  fails('{{.ID', {}, /^template parsing error: template: :1: unclosed action$/);
  fails('x\n{{}}', {}, /^template parsing error: template: :2: missing value for command$/);
  fails('{{range .Names}}x{{end}}', {}, /berth templates do not support \{\{range\}\}/);
  fails('{{nope .ID}}', {}, /function "nope" not defined/);
  fails('{{join .Names}}', {}, /wrong number of args for join: want 2 got 1/);
  fails('{{.Nope}}', { ID: 'x' }, /^template: :1:2: executing "" at <\.Nope>: can't evaluate field Nope in type container$/);
  fails('{{.ID.X}}', { ID: 'x' }, /can't evaluate field X in type string/);
  fails('{{len .Count}}', { Count: 3 }, /error calling len: len of int/);
  // All objects are rendered before anything is returned: a mistake in the second prints nothing.
  assert.throws(() => renderAll('{{.ID}}', [{ ID: 1 }, {}]), /can't evaluate field ID/);
});

test('printList: table, json, a template per item, "table" prefix', (t) => {
  const out: string[] = [];
  // Captures what the command would print; the real stream is put back afterwards.
  const write = process.stdout.write;
  t.after(() => void (process.stdout.write = write));
  process.stdout.write = ((s: string) => (out.push(s), true)) as typeof process.stdout.write;
  const items = [{ id: 'aaaa', n: 1 }, { id: 'bb', n: 22 }];
  const tableOf = (xs: typeof items) => table(['ID', 'N'], xs.map((x) => [x.id, String(x.n)]));
  const view = (x: (typeof items)[number]) => ({ ID: x.id, N: x.n });
  for (const format of [undefined, '', 'table', 'json', '{{.ID}}={{.N}}', 'table {{.ID}}']) printList(items, format, tableOf, view);
  process.stdout.write = write;
  const tbl = 'ID     N\naaaa   1\nbb     22\n';
  assert.deepEqual(out, [tbl, tbl, tbl, JSON.stringify([{ ID: 'aaaa', N: 1 }, { ID: 'bb', N: 22 }], null, 2) + '\n', 'aaaa=1\nbb=22\n', 'aaaa\nbb\n']);
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
