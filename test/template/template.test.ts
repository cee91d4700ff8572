// Go's text/template semantics, as its documentation states them: a table of templates,
// the data they run on, and the output (or the error) Go gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from '../../src/template/index.js';

const maps = new WeakSet<object>();
/** A Go map (keys are data); every other object is a struct. */
const map = <T extends object>(o: T): T => (maps.add(o), o);
const isMap = (o: object) => maps.has(o);

const data = {
  ID: 'abc123',
  Name: 'web',
  Names: ['a', 'b', 'c'],
  Empty: [] as string[],
  Count: 3,
  Zero: 0,
  Ratio: 1.5,
  Ok: true,
  No: false,
  Nil: null,
  Text: '',
  Labels: map({ tier: 'front', app: 'web', 'with-dash': 'x' }),
  NoLabels: map({}),
  State: { Status: 'running', Pid: 42, Running: true },
  Networks: map({ zeta: { IPAddress: '10.0.0.3', Aliases: ['z'] }, alpha: { IPAddress: '10.0.0.2', Aliases: [] } }),
  Ports: map({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] }),
  Nested: [
    [1, 2],
    [3, 4],
  ],
  Env: ['A=1', 'B=two'],
  Html: '<a&b>',
};

const cases: [template: string, want: string][] = [
  // Fields, maps, dot, $.
  ['{{.ID}}', 'abc123'],
  ['{{ .ID }}-{{.Count}}-{{.Ok}}-{{.Ratio}}', 'abc123-3-true-1.5'],
  ['{{.State.Status}} {{.State.Pid}}', 'running 42'],
  ['{{.Labels.app}} {{.Labels.nope}}', 'web <no value>'],
  ['{{.Labels.nope.deeper}}', '<no value>'],
  ['{{.Nil}}', '<no value>'],
  ['{{.}}', '{abc123 web [a b c] [] 3 0 1.5 true false <nil>  map[app:web tier:front with-dash:x] map[] {running 42 true} map[alpha:{10.0.0.2 []} zeta:{10.0.0.3 [z]}] map[80/tcp:[{0.0.0.0 8080}]] [[1 2] [3 4]] [A=1 B=two] <a&b>}'],
  ['{{.Names}} {{.Empty}} {{.Labels}}', '[a b c] [] map[app:web tier:front with-dash:x]'],
  ['{{.State}}', '{running 42 true}'],
  ['{{printf "%+v" .State}}', '{Status:running Pid:42 Running:true}'],
  ['{{with .State}}{{.Status}}/{{$.Name}}{{end}}', 'running/web'],
  // Variables: declaration, scope to {{end}}, assignment, $ inside range.
  ['{{$x := .Name}}{{$x}}', 'web'],
  ['{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', '2'],
  ['{{$x := "out"}}{{range .Names}}{{$x := .}}{{end}}{{$x}}', 'out'],
  ['{{range .Names}}{{.}}{{$.Name}} {{end}}', 'aweb bweb cweb '],
  ['{{range $i, $n := .Names}}{{$i}}={{$n}},{{end}}', '0=a,1=b,2=c,'],
  ['{{range $n := .Names}}{{$n}}{{end}}', 'abc'],
  // Range: maps in sorted key order, else on empty, nested ranges, ints, break/continue.
  ['{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}', 'app=web;tier=front;with-dash=x;'],
  ['{{range .Networks}}{{.IPAddress}} {{end}}', '10.0.0.2 10.0.0.3 '],
  ['{{range $name, $n := .Networks}}{{$name}}:{{range .Aliases}}{{.}}{{else}}-{{end}} {{end}}', 'alpha:- zeta:z '],
  ['{{range .Empty}}x{{else}}none{{end}}', 'none'],
  ['{{range .NoLabels}}x{{else}}no labels{{end}}', 'no labels'],
  ['{{range .Labels.missing}}x{{else}}missing{{end}}', 'missing'],
  ['{{range .Nested}}[{{range .}}{{.}}{{end}}]{{end}}', '[12][34]'],
  ['{{range 3}}{{.}}{{end}}', '012'],
  ['{{range .Names}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}', 'a'],
  ['{{range .Names}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}', 'ac'],
  ['{{range $p, $b := .Ports}}{{$p}}->{{(index $b 0).HostPort}}{{end}}', '80/tcp->8080'],
  // if / else if / else, with / else; Go's truth.
  ['{{if .Ok}}y{{else}}n{{end}}{{if .No}}y{{else}}n{{end}}', 'yn'],
  ['{{if .Zero}}a{{else if .Text}}b{{else if .Names}}c{{else}}d{{end}}', 'c'],
  ['{{if .Empty}}a{{else if .NoLabels}}b{{else}}c{{end}}', 'c'],
  ['{{if .State}}struct is true{{end}}', 'struct is true'],
  ['{{if .Nil}}x{{else}}nil is false{{end}}', 'nil is false'],
  ['{{with .Text}}x{{else}}empty{{end}}|{{with .Labels.app}}{{.}}{{end}}', 'empty|web'],
  ['{{with $x := .Count}}{{$x}}{{end}}', '3'],
  ['{{with .Text}}x{{else with .Name}}{{.}}{{end}}', 'web'],
  ['{{if $x := .Count}}{{$x}}{{else}}{{$x}}{{end}}|{{if $y := .Zero}}{{$y}}{{else}}zero {{$y}}{{end}}', '3|zero 0'],
  // Trim markers, comments, raw strings, literals.
  ['a  {{- .Name -}}  b', 'awebb'],
  ['a\n\t{{- .Name}}\n', 'aweb\n'],
  ['{{.Count}} {{- 3}}', '33'],
  ['{{-3}}', '-3'],
  ['x{{/* a comment\nover lines */}}y', 'xy'],
  ['x {{- /* trimmed */ -}} y', 'xy'],
  ['{{`raw \\n "quoted"`}}', 'raw \\n "quoted"'],
  ['{{"tab\\there"}} {{"\\u00e9\\x41"}} {{"\\xc3\\xa9\\303\\251"}}', 'tab\there éA éé'],
  ["{{'a'}} {{0x1F}} {{1e3}} {{1_000}} {{-1.5}} {{print nil}}", '97 31 1000 1000 -1.5 <nil>'],
  ['{{true}} {{false}}', 'true false'],
  // Pipelines, parentheses, field chains on parenthesized values and variables.
  ['{{.Name | printf "%s!"}}', 'web!'],
  ['{{.Name | printf "%s-%s" "x"}}', 'x-web'],
  ['{{.Names | len | printf "%03d"}}', '003'],
  ['{{(index .Networks "alpha").IPAddress}}', '10.0.0.2'],
  ['{{$n := .Networks}}{{$n.zeta.IPAddress}}', '10.0.0.3'],
  ['{{printf "%d" (len (index .Nested 1))}}', '2'],
  // and / or return an operand (short-circuiting), not a bool; not.
  ['{{and 1 0 "x"}} {{and 1 2 3}} {{or 0 "" "z"}} {{or 0 ""}} {{not 0}} {{not .Names}}', '0 3 z  true false'],
  ['{{or .Labels.nope "default"}}', 'default'],
  ['{{if and .Ok (eq .Name "web")}}both{{end}}', 'both'],
  ['{{and .No (index .Empty 5)}}', 'false'],
  ['{{or .Ok (index .Empty 5)}}', 'true'],
  // Comparisons: eq with several arguments, nil, ordering of numbers and strings.
  ['{{eq .Count 1 2 3}} {{eq .Name "db" "cache"}} {{ne .Name "db"}}', 'true false true'],
  ['{{lt 1 2}} {{le 2 2}} {{gt 1.5 1}} {{ge "b" "a"}} {{lt "a" "B"}}', 'true true true true false'],
  ['{{eq .Labels.nope "x"}} {{eq .Nil nil}}', 'false true'],
  ['{{eq .State.Status "running"}}', 'true'],
  // len, index, slice.
  ['{{len .Names}} {{len .Labels}} {{len "héllo"}} {{len .Empty}}', '3 3 6 0'],
  ['{{index .Names 1}} {{index .Nested 1 0}} {{index .Labels "app"}}|{{index .Labels "nope"}}|', 'b 3 web||'],
  ['{{index .Networks "alpha" | printf "%v"}}', '{10.0.0.2 []}'],
  ['{{index "abc" 1}}', '98'],
  ['{{slice .Names 1}} {{slice .Names 1 2}} {{slice .ID 0 3}} {{slice .ID 3}}', '[b c] [b] abc 123'],
  // print, println, printf verbs.
  ['{{print "a" 1 2 "b"}}|{{print 1 2}}|{{println "x" 1}}', 'a1 2b|1 2|x 1\n'],
  ['{{printf "%s|%5s|%-5s|%.2s" "ab" "ab" "ab" "abc"}}', 'ab|   ab|ab   |ab'],
  ['{{printf "%d|%5d|%-5d|%05d|%+d|%x|%X|%o|%b|%c" 42 42 42 42 42 255 255 8 5 65}}', '42|   42|42   |00042|+42|ff|FF|10|101|A'],
  ['{{printf "%.2f|%8.3f|%e|%g|%g|%v" 3.14159 2.5 1234.5678 0.000012 100000.0 2.50}}', '3.14|   2.500|1.234568e+03|1.2e-05|100000|2.5'],
  ['{{printf "%q|%v|%t|%v|%T" "a\\"b" .Names true .Labels .Count}}', '"a\\"b"|[a b c]|true|map[app:web tier:front with-dash:x]|int'],
  ['{{printf "%s" .Names}} {{printf "%q" .Names}}', '[a b c] ["a" "b" "c"]'],
  ['{{printf "%d" "x"}} {{printf "%s" 5}} {{printf "%d"}} {{printf "x" 1}}', '%!d(string=x) %!s(int=5) %!d(MISSING) x%!(EXTRA int=1)'],
  ['{{printf "%5.1f%%" 99.44}}', ' 99.4%'],
  ['{{printf "%-10s|" .Name}}{{printf "%10s|" .Name}}', 'web       |       web|'],
  ['{{printf "%v %v" .Nil .Labels.nope}}', '<nil> <nil>'],
  // docker's and podman's functions.
  ['{{json .Labels}}', '{"app":"web","tier":"front","with-dash":"x"}'],
  ['{{json .State}}', '{"Status":"running","Pid":42,"Running":true}'],
  ['{{json .Env}} {{json .Empty}} {{json .Nil}} {{json .Html}} {{json .Labels.nope}}', '["A=1","B=two"] [] null "<a&b>" null'],
  ['{{join .Names ", "}} {{join .Empty ","}}|', 'a, b, c |'],
  ['{{split "a:b:c" ":"}} {{index (split .ID "1") 0}}', '[a b c] abc'],
  ['{{upper .Name}} {{lower "ABC"}} {{title "hello big world"}}', 'WEB abc Hello Big World'],
  ['[{{pad .Name 2 1}}][{{pad "" 2 1}}]', '[  web ][]'],
  ['{{truncate .ID 3}} {{truncate .ID 10}}', 'abc abc123'],
  ['{{range .Env}}{{index (split . "=") 1}} {{end}}', '1 two '],
  ['{{.Name | upper | printf "<%s>"}}', '<WEB>'],
  ['{{html .Html}} {{urlquery "a b&c"}}', '&lt;a&amp;b&gt; a+b%26c'],
  // define / template / block.
  ['{{define "x"}}[{{.}}]{{end}}{{template "x" .Name}}{{template "x" .Count}}', '[web][3]'],
  ['{{block "b" .Names}}{{len .}}{{end}}', '3'],
];

test('Go templates: actions, data, functions', () => {
  const wrong: string[] = [];
  for (const [tpl, want] of cases) {
    let got: string;
    try {
      got = parse(tpl, { isMap }).execute(data, { type: 'view' });
    } catch (e) {
      got = `error: ${(e as Error).message}`;
    }
    if (got !== want) wrong.push(`${tpl}\n    got  ${JSON.stringify(got)}\n    want ${JSON.stringify(want)}`);
  }
  assert.deepEqual(wrong, []);
});

const errors: [template: string, message: RegExp][] = [
  // Parse errors name the template and line.
  ['{{.ID', /^template: t:1: unclosed action$/],
  ['x\n{{}}', /^template: t:2: missing value for command$/],
  ['{{if}}x{{end}}', /^template: t:1: missing value for if$/],
  ['{{if .Ok}}x', /^template: t:1: unexpected EOF$/],
  ['x{{end}}', /^template: t:1: unexpected \{\{end\}\}$/],
  ['{{else}}', /^template: t:1: unexpected \{\{else\}\}$/],
  ['{{nope .ID}}', /^template: t:1: function "nope" not defined$/],
  ['{{$x}}', /^template: t:1: undefined variable "\$x"$/],
  ['{{range .Names}}{{$v := .}}{{end}}{{$v}}', /undefined variable "\$v"/],
  ['{{"abc}}', /unterminated quoted string/],
  ['{{(.ID}}', /unclosed left paren/],
  ['{{.ID)}}', /unexpected right paren/],
  ['{{/* open', /unclosed comment/],
  ['{{break}}', /\{\{break\}\} outside \{\{range\}\}/],
  ['{{.ID # x}}', /unexpected bad character U\+0023 '#'/],
  // Execution errors name line:column and the node.
  ['{{.Nope}}', /^template: t:1:2: executing "t" at <\.Nope>: can't evaluate field Nope in type view$/],
  ['x\n  {{.State.Nope}}', /^template: t:2:4: executing "t" at <\.State\.Nope>: can't evaluate field Nope in type State$/],
  ['{{.ID.X}}', /can't evaluate field X in type string/],
  ['{{.Nil.X}}', /nil pointer evaluating interface \{\}\.X/],
  ['{{len .Count}}', /at <len \.Count>: error calling len: len of type int/],
  ['{{join .Names}}', /wrong number of args for join: want 2 got 1/],
  ['{{join .Labels ","}}', /wrong type for value; expected \[\]string; got map\[string\]string/],
  ['{{upper .Count}}', /wrong type for value; expected string; got int/],
  ['{{not 1 2}}', /wrong number of args for not: want 1 got 2/],
  ['{{index .Names 5}}', /error calling index: index out of range: 5/],
  ['{{index .Count 1}}', /error calling index: can't index item of type int/],
  ['{{eq .Name 1}}', /error calling eq: incompatible types for comparison/],
  ['{{lt .Ok true}}', /error calling lt: invalid type for comparison/],
  ['{{eq .Names .Names}}', /error calling eq: non-comparable type/],
  ['{{range .Name}}{{end}}', /range can't iterate over web/],
  ['{{.Name | .ID}}', /ID has arguments but cannot be invoked as function/],
  ['{{.Name | 3}}', /can't give argument to non-function 3/],
  ['{{nil}}', /nil is not a command/],
  ['{{template "none"}}', /no such template "none"/],
];

test('Go templates: parse and execution errors', () => {
  const wrong: string[] = [];
  for (const [tpl, message] of errors) {
    try {
      const out = parse(tpl, { isMap, name: 't' }).execute(data, { type: 'view' });
      wrong.push(`${tpl}: no error, printed ${JSON.stringify(out)}`);
    } catch (e) {
      if ((e as { code?: string }).code !== 'InvalidArgument' || !message.test((e as Error).message)) wrong.push(`${tpl}: ${(e as Error).message}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('Go templates: parsed once, executed against many values; header mode passes docker functions through', () => {
  const t = parse('{{.A}}:{{upper .B}}', { isMap });
  assert.equal(t.execute({ A: 1, B: 'x' }), '1:X');
  assert.equal(t.execute({ A: 2, B: 'y' }), '2:Y');
  assert.equal(t.execute({ A: 'A', B: 'B HEAD' }, { header: true }), 'A:B HEAD');
  // A struct field's value that is undefined counts as nil, not as a missing field.
  assert.equal(parse('{{.A}}').execute({ A: undefined }), '<no value>');
  // Without isMap every object is a struct.
  assert.throws(() => parse('{{.B}}').execute({ A: 1 }), /can't evaluate field B in type struct/);
});
