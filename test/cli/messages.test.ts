// Mistakes and faults read as one typed line (`berth: …`, exit 125), never as Node's
// internals: a registry that sends a `null` manifest, a bad WWW-Authenticate realm or a
// response cut short; a conf dir that is a file; a CNI plugin that fails; and --format
// templates that are wrong, which fail as docker's do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance, type Instance } from '../helpers/index.js';
import { insecureConf } from '../registry/fixture.js';

function oneLine(r: { code: number; stderr: string }, re: RegExp, what: string): void {
  assert.equal(r.code, 125, `${what}: ${r.stderr}`);
  assert.match(r.stderr, re, what);
  assert.equal(r.stderr.split('\n').length, 2, `${what}: one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /Cannot read|Invalid URL|^berth: aborted|TypeError|ENOTDIR|ENOSPC:/, what);
}

/** A registry on 127.0.0.1 that answers each repository with a fault. */
async function brokenRegistry(t: { after: (fn: () => unknown) => void }): Promise<string> {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/v2/') return void res.writeHead(200).end('{}');
    if (url.startsWith('/v2/null/manifests/')) return void res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }).end('null');
    if (url.startsWith('/v2/realm/')) return void res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="::not a url",service="x"' }).end();
    if (url.startsWith('/v2/cut/manifests/')) {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': '1000' });
      res.write('{"schemaVersion":2,');
      setTimeout(() => res.destroy(), 50);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('registry faults are one clear line', async (t) => {
  const host = await brokenRegistry(t);
  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, host) };
  const pull = (repo: string) => inst.run(['pull', '-q', `${host}/${repo}:1`], { env });
  oneLine(await pull('null'), /^berth: manifest .*null:1 is not a manifest or index \(the registry sent null\)\n$/, 'null manifest');
  oneLine(await pull('realm'), /^berth: registry .*: the token server's address in its WWW-Authenticate header is not a URL: "::not a url"\n$/, 'bad realm');
  oneLine(await pull('cut'), /^berth: registry .*: reading manifest 1: the connection closed before the response was complete/, 'cut response');
});

test('a conf dir that is a file names the setting', async (t) => {
  const inst = await newInstance(t);
  const file = join(inst.base, 'a-file');
  writeFileSync(file, '');
  oneLine(await inst.run(['--config-dir', file, 'ps']), /^berth: the config dir .*a-file \(--config-dir, \$BERTH_CONFIG_DIR\) is not a directory\n$/, '--config-dir');
  const conf = join(inst.base, 'conf2');
  mkdirSync(conf);
  writeFileSync(join(conf, 'berth.toml'), `[network]\ncni_conf_dir = "${file}"\n`);
  oneLine(await inst.run(['--config-dir', conf, 'network', 'ls']), /^berth: .*berth\.toml: network\.cni_conf_dir: .*a-file is not a directory\n$/, 'cni_conf_dir');
  // Checked where the network is used: a run with a network fails, commands without one do not.
  const img = await inst.importBusybox();
  oneLine(await inst.run(['--config-dir', conf, 'run', '--rm', img, 'true']), /^berth: .*berth\.toml: network\.cni_conf_dir: .*a-file is not a directory\n$/, 'run');
  const ps = await inst.run(['--config-dir', conf, 'ps', '-a']);
  assert.equal(ps.code, 0, ps.stderr);
  const none = await inst.run(['--config-dir', conf, 'run', '--rm', '--network', 'none', img, 'true']);
  assert.equal(none.code, 0, none.stderr);
});

test('a CNI plugin that fails (and fails its cleanup) is one line at the default log level', async (t) => {
  const inst = await newInstance(t);
  const image = await inst.importBusybox();
  const bridge = `${inst.bridge}b`.slice(-15);
  t.after(() => {
    try {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    } catch {
      // never made
    }
  });
  mkdirSync(join(inst.base, 'cni'), { recursive: true });
  writeFileSync(
    join(inst.base, 'cni', 'broken.conflist'),
    JSON.stringify({ cniVersion: '1.0.0', name: 'broken', plugins: [{ type: 'bridge', bridge, ipam: { type: 'host-local', ranges: [[{ subnet: 'notacidr' }]] } }] }),
  );
  const r = await inst.run(['run', '--rm', '--network', 'broken', image, 'true']);
  oneLine(r, /^berth: network "broken": plugin bridge ADD failed: invalid CIDR address: notacidr( \(undoing it failed too[^\n]*\))?\n$/, 'failed plugin');
  const debug = await inst.run(['--log-level', 'debug', 'run', '--rm', '--network', 'broken', image, 'true']);
  assert.match(debug.stderr, /^DEBU\[\d{4}\] (undoing a failed network attach failed|network teardown failed)/m, 'the detail is there at debug, as a human line');
  const json = await inst.run(['--log-level', 'debug', '--log-format', 'json', 'run', '--rm', '--network', 'broken', image, 'true']);
  assert.match(json.stderr, /"level":"debug".*(undoing a failed network attach failed|network teardown failed)/, 'JSON when asked');
});

async function created(inst: Instance): Promise<string> {
  const image = await inst.importBusybox();
  const c = await inst.run(['create', '--network', 'none', '--name', 'tpl', '--label', 'a=b', image, 'true']);
  assert.equal(c.code, 0, c.stderr);
  return image;
}

test('templates: mistakes fail like docker, missing map keys are <no value>', async (t) => {
  const inst = await newInstance(t);
  oneLine(await inst.run(['ps', '--format', '{{.ID']), /^berth: template parsing error: template: :1: unclosed action\n$/, 'unclosed, no rows');
  const image = await created(inst);
  oneLine(await inst.run(['ps', '-a', '--format', '{{.Nope}}']), /^berth: template: :1:2: executing "" at <\.Nope>: can't evaluate field Nope in type container\n$/, 'ps field');
  oneLine(await inst.run(['ps', '-a', '--format', '{{.ID']), /unclosed action/, 'ps unclosed');
  oneLine(await inst.run(['ps', '-a', '--format', '{{range .Names}}x{{end}}']), /^berth: template: :1:8: executing "" at <range>: range can't iterate over tpl\n$/, 'range over a string');
  oneLine(await inst.run(['ps', '-a', '--format', '{{if .Names}}x']), /^berth: template parsing error: template: :1: unexpected EOF\n$/, 'unclosed if');
  oneLine(await inst.run(['ps', '-a', '--format', '{{nope .ID}}']), /function "nope" not defined/, 'unknown function');
  oneLine(await inst.run(['inspect', '-f', '{{.Nope.Deeper}}', 'tpl']), /^berth: template: :1:2: executing "" at <\.Nope\.Deeper>: can't evaluate field Nope in type container\n$/, 'inspect field');
  oneLine(await inst.run(['inspect', '-f', '{{.State.Nope}}', 'tpl']), /can't evaluate field Nope in type State/, 'inspect nested field');
  oneLine(await inst.run(['images', '--format', '{{.Nope}}']), /can't evaluate field Nope in type image/, 'images field');
  oneLine(await inst.run(['image', 'inspect', '-f', '{{.Nope}}', image]), /can't evaluate field Nope in type image/, 'image inspect field');
  oneLine(await inst.run(['network', 'ls', '--format', '{{.Nope}}']), /can't evaluate field Nope in type network/, 'network ls field');
  oneLine(await inst.run(['system', 'df', '--format', '{{.Nope}}']), /can't evaluate field Nope in type disk usage/, 'df field');
  oneLine(await inst.run(['version', '-f', '{{.Nope}}']), /can't evaluate field Nope in type version/, 'version field');

  const ok = async (args: string[]) => {
    const r = await inst.run(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  assert.equal(await ok(['ps', '-a', '--format', '{{.Names}} {{.Labels.a}} {{.Labels.nope}}']), 'tpl b <no value>\n');
  assert.equal(await ok(['inspect', '-f', '{{.Config.Labels.a}} {{.Config.Labels.nope}} {{.State.Status}}', 'tpl']), 'b <no value> created\n');
  assert.equal(await ok(['inspect', '-f', '{{.NetworkSettings.Networks.nope}}|{{.NetworkSettings.Networks.nope.IPAddress}}', 'tpl']), '<no value>|<no value>\n');
  assert.equal(await ok(['ps', '-a', '--format', '{{.Names}}\\t{{- " " -}}{{len .Labels}} {{json .Labels}} {{upper .Names}}']), 'tpl 1 {"a":"b"} TPL\n');
  oneLine(await inst.run(['ps', '-a', '--format', '{{join .Labels ","}}']), /wrong type for value; expected \[\]string/, 'join of a map');
  assert.equal(await ok(['image', 'inspect', '-f', '{{.Config.Nope}}', image]), '<no value>\n', "the image's own config is a map");
  assert.equal(await ok(['network', 'ls', '--format', '{{.name}}']).then((s) => s.trim().length > 0), true);
});
