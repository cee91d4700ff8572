// --format and inspect -f are Go templates over real containers, images and networks: ranges,
// conditions, functions, the table prefix, the short ID, errors with exit 125 and nothing
// printed; and templates of literals print what podman's (Go's own text/template) prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

test('ps, inspect, images, network ls, version: Go templates on real objects', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const data = join(inst.base, 'data');
  mkdirSync(data);
  await ok(inst, ['run', '-d', '--name', 'web', '--label', 'tier=front', '--label', 'app=web', '-e', 'FOO=bar', '-v', `${data}:/data:ro`, img, 'sleep', '1000']);
  await ok(inst, ['create', '--network', 'none', '--name', 'idle', img, 'true']);
  const id = (await ok(inst, ['inspect', '-f', '{{.Id}}', 'web'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);

  // {{.ID}} in ps is the short ID, the full one with --no-trunc; inspect takes .ID for .Id as podman does.
  assert.equal(await ok(inst, ['ps', '--format', '{{.ID}}']), `${id.slice(0, 12)}\n`);
  assert.equal(await ok(inst, ['ps', '--no-trunc', '--format', '{{.ID}}']), `${id}\n`);
  assert.equal(await ok(inst, ['inspect', '-f', '{{.ID}}', 'web']), `${id}\n`);
  assert.equal(await ok(inst, ['ps', '-a', '--format', '{{.Names}} {{.Mounts}} {{len .Mounts}} {{range .Mounts}}{{.}}{{end}}', '--filter', 'name=web']), 'web [/data] 1 /data\n');
  assert.equal(await ok(inst, ['inspect', '-f', '{{range .Mounts}}{{.Source}}:{{.Destination}}:{{.RW}}{{end}}', 'web']), `${data}:/data:false\n`);

  // range over a map (sorted keys), if/else on a comparison, with, printf.
  const lines = (await ok(inst, ['ps', '-a', '--format', '{{.Names}} {{if eq .State "running"}}up{{else}}{{.State}}{{end}} {{range $k, $v := .Labels}}{{$k}}={{$v}},{{else}}none{{end}} {{with .Labels.app}}{{printf "%q" .}}{{end}}']))
    .trim()
    .split('\n')
    .sort();
  assert.deepEqual(lines, ['idle created none ', 'web up app=web,tier=front, "web"']);

  // table: a header row from the field names (ps names ID "CONTAINER ID"), aligned columns.
  const table = (await ok(inst, ['ps', '-a', '--format', 'table {{.ID}}\\t{{.Names}}\\t{{upper .State}}'])).split('\n');
  assert.equal(table[0], 'CONTAINER ID   NAMES   STATE');
  assert.equal(table.length, 4, table.join('\n'));
  for (const row of table.slice(1, 3)) assert.match(row, /^[0-9a-f]{12} {3}(web {5}|idle {4})(RUNNING|CREATED)$/);
  assert.equal(table[3], '');
  assert.equal(await ok(inst, ['ps', '-a', '--filter', 'name=nomatch', '--format', 'table {{.ID}}\\t{{.Names}}']), 'CONTAINER ID   NAMES\n', 'the header without rows');
  // docker's functions pass the header through: json .Labels heads its column LABELS.
  assert.equal(await ok(inst, ['ps', '--format', 'table {{.Names}}:{{json .Labels}}']), 'NAMES:LABELS\nweb:{"app":"web","tier":"front"}\n');

  // inspect: the network's address through a range over the Networks map, JSON of the env and config, index of a label.
  const ip = (await ok(inst, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'web'])).trim();
  assert.ok(ip.startsWith(inst.subnet.split('.').slice(0, 3).join('.') + '.'), `address ${ip} in ${inst.subnet}`);
  assert.equal(await ok(inst, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'web']), `${ip}\n`);
  assert.equal(await ok(inst, ['inspect', '-f', '{{range $name, $n := .NetworkSettings.Networks}}{{$n.IPAddress}}{{end}}|{{range .NetworkSettings.Networks}}x{{else}}no networks{{end}}', 'web', 'idle']), `${ip}|x\n|no networks\n`);
  assert.ok(JSON.parse(await ok(inst, ['inspect', '-f', '{{json .Config.Env}}', 'web'])).includes('FOO=bar'));
  const config = await ok(inst, ['inspect', '-f', '{{json .Config}}', 'web']);
  assert.match(config, /"Labels":\{"app":"web","tier":"front"\}/, 'a map encodes with sorted keys, as Go does');
  assert.equal(JSON.parse(config).Image, img);
  assert.equal(await ok(inst, ['inspect', '-f', '{{index .Config.Labels "app"}}|{{index .Config.Labels "nope"}}|{{len .Config.Labels}}|{{.Config.Labels}}', 'web']), 'web||2|map[app:web tier:front]\n');
  assert.equal(await ok(inst, ['inspect', '-f', '{{.State.Status}} {{.State.Running}} {{if and .State.Running (gt .State.Pid 0)}}has pid{{end}}', 'web', 'idle']), 'running true has pid\ncreated false \n');
  assert.equal(await ok(inst, ['inspect', '-f', '{{.Name}}', 'web', 'idle']), 'web\nidle\n');

  // images, network ls, version and info go through the same templates.
  const images = (await ok(inst, ['images', '--format', 'table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}'])).split('\n');
  assert.match(images[0], /^REPOSITORY +TAG +IMAGE ID$/);
  assert.match(images[1], new RegExp(`^localhost/${img} +latest +[0-9a-f]{12}$`));
  assert.match(await ok(inst, ['image', 'inspect', '-f', '{{range .RootFS.Layers}}{{slice . 0 7}}{{end}} {{.Os}}', img]), /^sha256: linux\n$/);
  assert.match((await ok(inst, ['network', 'ls', '--format', 'table {{.Name}}\\t{{.Driver}}'])).split('\n')[0], /^NAME +DRIVER$/);
  assert.match(await ok(inst, ['version', '--format', '{{.Version}} {{len .Version | printf "%d"}}']), /^\d+\.\d+\.\d+\S* \d+\n$/);
  assert.match(await ok(inst, ['info', '--format', '{{if .Host.Arch}}{{.Host.Arch}}{{end}}']), /^\w+\n$/);

  // Mistakes: one line, exit 125, nothing on stdout (not even the rows before the mistake).
  for (const args of [
    ['ps', '-a', '--format', '{{.Nope}}'],
    ['ps', '-a', '--format', 'table {{.ID'],
    ['ps', '-a', '--format', '{{printf}}'],
    ['ps', '-a', '--format', '{{if eq .State "running"}}{{.Names}}{{else}}{{.Labels.app.x.y | len}}{{end}}'],
    ['inspect', '-f', '{{.State.Nope}}', 'web'],
    ['inspect', '-f', '{{range .Config.Env}}{{.}}', 'web'],
    ['inspect', '-f', '{{index .Config.Env 99}}', 'web'],
    ['inspect', '-f', '{{nosuchfunc .Id}}', 'web'],
    ['images', '--format', '{{.Repository | join ","}}'],
  ]) {
    const r = await inst.run(args);
    assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', args.join(' '));
    assert.match(r.stderr, /^berth: template( parsing error: template)?: :\d+(:\d+)?: [^\n]+\n$/, args.join(' '));
  }
});

test('templates of literals print what podman (Go text/template) prints', async (t) => {
  const inst = await newInstance(t);
  const dir = mkdtempSync('/tmp/berth-test-podman-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // podman's own storage under dir: nothing of the host's podman is touched.
  const podman = (format: string) =>
    execFileSync('podman', ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), 'version', '--format', format], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const templates = [
    '{{printf "%5.1f|%-4s|%q|%x|%X|%o|%b|%c|%U" 3.14159 "ab" "x\\ty" 255 "hi" 8 5 65 9731}}',
    '{{printf "%d|%5d|%-5d|%05d|%+d|%.3d" 42 42 42 -42 42 7}}',
    '{{printf "%g %g %g %e %.3g %.3g %.2f %8.3f %v" 100000.0 1000000.0 0.000012 1234.5678 1.0 1000.0 2.345 2.5 0.1}}',
    '{{printf "%s %d %v" 1 "x" nil}} {{printf "%d"}} {{printf "x" 1 "y"}} {{printf "%5.2s|%.1q" "abc" "abc"}}',
    '{{printf "%v|%s|%q|%d" (split "a,b" ",") (split "a,b" ",") (split "a,b" ",") 3}}',
    '{{and 1 0 "x"}} {{and 1 2}} {{or 0 "" "z"}} {{or 0 ""}} {{not 0}} {{not "a"}}',
    '{{len "héllo"}} {{index "abc" 1}} {{slice "abcdef" 1 3}} {{slice "abcdef" 2}} {{len (split "a,b,c" ",")}}',
    '{{print 1 2 "a" 3 "b" "c"}}|{{println "x" 1 true}}|{{print nil}}',
    '{{eq 1 1 2}} {{eq "a" "b" "c"}} {{ne 1 2}} {{lt "a" "B"}} {{le 2 2}} {{gt 2.5 1.5}} {{ge "b" "a"}} {{eq nil nil}}',
    "{{'a'}} {{0x1F}} {{0o17}} {{0b101}} {{1_000}} {{-1.5}} {{1.5}} {{2.0}} {{0.1}} {{true}} {{`raw\\d`}} {{\"\\u00e9\\x41\\101\"}}",
    '{{range $i, $v := split "a,b,c" ","}}{{$i}}={{$v}} {{end}}|{{range split "" ","}}[{{.}}]{{else}}none{{end}}|{{range (split "x" ",")}}{{break}}{{end}}',
    '{{$x := "a"}}{{if true}}{{$x = "b"}}{{$y := "c"}}{{end}}{{$x}}{{with $z := "w"}}{{$z}}{{.}}{{end}}',
    '{{if 0}}a{{else if ""}}b{{else if "x"}}c{{else}}d{{end}} {{with ""}}x{{else}}empty{{end}}',
    'a  {{- "b" -}}  c {{/* comment */}} d {{- /* trimmed */ -}} e\n\t{{- "f"}}',
    '{{json "<a&b>"}} {{json (split "a,b" ",")}} {{json 1.5}} {{json nil}} {{json true}}',
    '{{title "hello big world"}}|{{pad "x" 1 2}}|{{pad "" 1 2}}|{{truncate "abcdef" 3}}|{{truncate "ab" 3}}|{{upper "aé"}}|{{lower "AB"}}|{{join (split "a:b" ":") "-"}}',
    '{{html "<a&\'b\'>"}} {{urlquery "a b&c/d"}}',
    '{{define "t"}}[{{.}}]{{end}}{{template "t" "x"}}{{template "t" 2}}{{block "b" "y"}}<{{.}}>{{end}}',
    '{{"x" | printf "%s-%s" "p"}} {{3 | printf "%d"}} {{(split "a:b" ":") | len}}',
    '{{printf "%6.2f|%-10.3e|%G|%x|%q|%#x|%#o|%#v|%08.3f|%+.2e" 3.14159 1234.5 0.0000001 -255 65 255 8 "s" -3.14159 12345.678}}',
    '{{printf "%x|%X|%5t|%-6v|%s|%d|%v" "hello" "hi" true false true 1.5 -2.25}}',
    '{{printf "%.0f %.1f %.2f %.0f %.0f %.1f" 2.5 0.25 1.005 3.5 -0.5 0.35}}',
    '{{printf "%%|%c|%U|%3c|%-4d|" 128512 128512 65 7}}',
    '{{len ""}} {{index (split "a,b" ",") 1}} {{if and (eq 1 1) (ne "a" "b") (lt 1 2)}}ok{{end}} {{"a" | printf "%s%s" "b" | printf "[%s]"}}',
    '{{println}}|{{print}}|{{- 3 -}} | {{- "x"}}',
  ];
  const differ: string[] = [];
  for (const tpl of templates) {
    const [ours, theirs] = [await ok(inst, ['version', '--format', tpl]), podman(tpl)];
    if (ours !== theirs) differ.push(`${tpl}\n  berth  ${JSON.stringify(ours)}\n  podman ${JSON.stringify(theirs)}`);
  }
  assert.deepEqual(differ, []);
});
