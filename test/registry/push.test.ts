// berth push against a real docker-registry, seen through a recording proxy: blobs the
// image's source repository holds are mounted (no upload), a refused mount falls back to
// an upload in the session the registry opened, large blobs go up in PATCH chunks; every
// result read back by skopeo. Also: pull progress bars on a terminal (script gives a
// PTY), and berth.toml's [registries] config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BERTH, newInstance, type Instance } from '../helpers/index.js';
import { insecureConf, makeLayout, registriesConf, skopeoManifest, skopeoPush, startFaultProxy, startRegistry, tempDir, type Fault } from './fixture.js';

const execFileAsync = promisify(execFile);
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

interface Seen {
  method: string;
  url: string;
  contentRange?: string;
  contentLength?: number;
}

/** A registry behind a proxy that records every request; berth talks to the proxy. */
async function recordedRegistry(t: Parameters<typeof startRegistry>[0], fault?: Fault) {
  const reg = await startRegistry(t);
  const seen: Seen[] = [];
  let proxyHost = '';
  const proxy = await startFaultProxy(t, reg.host, async (req, upstream, res) => {
    // The registry's Locations must name the proxy too, or uploads would bypass it.
    req.headers['x-forwarded-host'] = proxyHost;
    const length = req.headers['content-length'];
    seen.push({ method: req.method!, url: req.url!, contentRange: req.headers['content-range'], contentLength: length === undefined ? undefined : Number(length) });
    return fault ? fault(req, upstream, res) : false;
  });
  proxyHost = proxy.host;
  return { reg, host: proxy.host, seen };
}

/** The manifest's blobs: config first, then layers. */
async function blobsOf(ref: string): Promise<{ digest: string; size: number }[]> {
  const m = JSON.parse((await skopeoManifest(ref)).raw.toString());
  return [m.config, ...m.layers];
}

const uploadsTo = (seen: Seen[], repo: string) => seen.filter((s) => s.url.startsWith(`/v2/${repo}/blobs/uploads/`) && (s.method === 'PUT' || s.method === 'PATCH'));

test('push: cross-repository mount from the source repository, fallback to upload when refused', async (t) => {
  const { reg, host, seen } = await recordedRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'single', `${reg.host}/src/bb:1`);
  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, host) };
  const berth = (args: string[]) => inst.run(args, { env, timeoutMs: 120_000 });
  assert.equal((await berth(['pull', '-q', `${host}/src/bb:1`])).code, 0);

  // The image's name says where its blobs are: each one is mounted, none uploaded.
  seen.length = 0;
  const pushed = await berth(['push', `${host}/src/bb:1`, `${host}/dst/bb:1`]);
  assert.equal(pushed.code, 0, pushed.stderr);
  const blobs = await blobsOf(`${reg.host}/src/bb:1`);
  assert.equal(blobs.length, 3);
  for (const b of blobs) {
    assert.ok(seen.some((s) => s.method === 'POST' && s.url === `/v2/dst/bb/blobs/uploads/?mount=${encodeURIComponent(b.digest)}&from=src%2Fbb`), `mount of ${b.digest}`);
    assert.match(pushed.stderr, new RegExp(`Copying blob ${b.digest.slice(7, 19)} skipped: mounted from src/bb\\n`));
  }
  assert.deepEqual(uploadsTo(seen, 'dst/bb'), [], 'nothing uploaded');
  assert.equal((await skopeoManifest(`${reg.host}/dst/bb:1`)).digest, (await skopeoManifest(`${reg.host}/src/bb:1`)).digest);
  // skopeo copy reads every blob back and checks its digest.
  await execFileAsync('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/dst/bb:1`, `dir:${tempDir(t, 'readback')}`]);

  // A name in a repository that lacks the blobs: the registry answers the mount with 202
  // and an upload session, and berth uploads there (no second POST).
  await inst.importBusybox('imported');
  assert.equal((await berth(['tag', 'imported', `${host}/nowhere/x:1`])).code, 0);
  seen.length = 0;
  const fallback = await berth(['push', `${host}/nowhere/x:1`, `${host}/dst2/imp:1`]);
  assert.equal(fallback.code, 0, fallback.stderr);
  const posts = seen.filter((s) => s.method === 'POST' && s.url.startsWith('/v2/dst2/imp/blobs/uploads/'));
  assert.equal(posts.length, 2, posts.map((p) => p.url).join('\n'));
  assert.ok(posts.every((p) => p.url.includes('?mount=sha256%3A') && p.url.endsWith('&from=nowhere%2Fx')));
  const puts = uploadsTo(seen, 'dst2/imp');
  assert.equal(puts.length, 2);
  assert.ok(puts.every((p) => p.method === 'PUT' && /[?&]digest=sha256%3A[a-f0-9]{64}/.test(p.url) && p.contentLength! > 0));
  assert.match(fallback.stderr, /Copying blob [a-f0-9]{12} done\n/);
  const [local] = JSON.parse((await berth(['image', 'inspect', 'imported'])).stdout);
  assert.equal((await skopeoManifest(`${reg.host}/dst2/imp:1`)).digest, local.Digest);
});

test('push: chunked upload above the chunk size, monolithic below, read back by skopeo', async (t) => {
  const { reg, host, seen } = await recordedRegistry(t);
  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, host) };
  await inst.importBusybox('imported');
  const [local] = JSON.parse((await inst.run(['image', 'inspect', 'imported'])).stdout);

  const chunk = 100_000;
  const pushed = await inst.run(['push', '--chunk-size', String(chunk), 'imported', `${host}/chunked/imp:1`], { env, timeoutMs: 120_000 });
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal((await skopeoManifest(`${reg.host}/chunked/imp:1`)).digest, local.Digest);
  const [config, layer] = await blobsOf(`${reg.host}/chunked/imp:1`);
  assert.ok(layer.size > 3 * chunk, `layer of ${layer.size} bytes`);

  // The layer: PATCHes with contiguous Content-Ranges of chunk bytes, each to the Location
  // the previous answer gave, then an empty PUT ?digest=.
  const uploads = uploadsTo(seen, 'chunked/imp');
  const patches = uploads.filter((s) => s.method === 'PATCH');
  assert.equal(patches.length, Math.ceil(layer.size / chunk));
  let offset = 0;
  for (const p of patches) {
    const end = Math.min(offset + chunk, layer.size) - 1;
    assert.equal(p.contentRange, `${offset}-${end}`);
    assert.equal(p.contentLength, end - offset + 1);
    offset = end + 1;
  }
  // The registry's Location carries a signed state that changes per chunk.
  assert.equal(new Set(patches.map((p) => p.url)).size, patches.length, 'each PATCH went to a new Location');
  const puts = uploads.filter((s) => s.method === 'PUT');
  assert.equal(puts.length, 2);
  const finalPut = puts.find((p) => p.url.includes(encodeURIComponent(layer.digest)))!;
  assert.equal(finalPut.contentLength, 0);
  // The config is smaller than a chunk: one PUT with its bytes.
  const configPut = puts.find((p) => p.url.includes(encodeURIComponent(config.digest)))!;
  assert.equal(configPut.contentLength, config.size);

  const dir = tempDir(t, 'readback');
  await execFileAsync('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/chunked/imp:1`, `dir:${dir}`]);
  assert.equal(sha(readFileSync(join(dir, layer.digest.slice(7)))), layer.digest);
  assert.ok(readdirSync(dir).includes(config.digest.slice(7)));
});

test('push: a chunk whose answer is lost restarts the blob; a chunk answered 500 is sent again', async (t) => {
  let patches = 0;
  const { reg, host, seen } = await recordedRegistry(t, async (req, upstream, res) => {
    if (req.method !== 'PATCH') return false;
    patches++;
    if (patches === 2) {
      // The registry takes the chunk, the answer never arrives.
      (await upstream()).resume();
      await new Promise((r) => setTimeout(r, 50));
      res.destroy();
      return true;
    }
    if (patches === 4) {
      // Refused before the registry sees it.
      req.resume();
      res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"try again"}]}');
      return true;
    }
    return false;
  });
  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, host) };
  await inst.importBusybox('imported');
  const [local] = JSON.parse((await inst.run(['image', 'inspect', 'imported'])).stdout);
  const pushed = await inst.run(['push', '--chunk-size', '200000', 'imported', `${host}/resumed/imp:1`], { env, timeoutMs: 120_000 });
  assert.equal(pushed.code, 0, pushed.stderr);
  // Chunk 2's answer lost: docker-registry cannot report an upload whose state moved on
  // (its Locations carry a signed offset), so the blob starts again in a new session.
  // Chunk 2 of that refused with 500: the status says it is missing, it is sent again.
  const statusChecks = seen.filter((s) => s.method === 'GET' && s.url.startsWith('/v2/resumed/imp/blobs/uploads/'));
  assert.equal(statusChecks.length, 2);
  const posts = seen.filter((s) => s.method === 'POST' && s.url.startsWith('/v2/resumed/imp/blobs/uploads/'));
  assert.equal(posts.length, 3, 'config, layer, layer again');
  const ranges = seen.filter((s) => s.method === 'PATCH').map((s) => s.contentRange);
  assert.deepEqual(ranges.slice(0, 6), ['0-199999', '200000-399999', '0-199999', '200000-399999', '200000-399999', '400000-599999']);
  assert.equal((await skopeoManifest(`${reg.host}/resumed/imp:1`)).digest, local.Digest);
  await execFileAsync('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/resumed/imp:1`, `dir:${tempDir(t, 'readback')}`]);
});

/** Runs berth under script(1), so that its stderr is a terminal; returns what it printed. */
async function onTerminal(inst: Instance, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  try {
    const { stdout } = await execFileAsync('script', ['-qec', [BERTH, ...args].map(quote).join(' '), '/dev/null'], { env: { ...inst.env, ...env, COLUMNS: '120' }, timeout: 120_000 });
    return { code: 0, output: stdout };
  } catch (e) {
    const err = e as { code?: number; stdout?: string };
    return { code: err.code ?? -1, output: err.stdout ?? '' };
  }
}

test('pull progress: bars with bytes and speed on a terminal; -q and pipes stay plain', async (t) => {
  const reg = await startRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'single', `${reg.host}/p/bb:1`);
  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) };

  const r = await onTerminal(inst, ['pull', `${reg.host}/p/bb:1`], env);
  assert.equal(r.code, 0, r.output);
  const layers = (await blobsOf(`${reg.host}/p/bb:1`)).slice(1);
  for (const l of layers) {
    const short = l.digest.slice(7, 19);
    assert.match(r.output, new RegExp(`Copying blob ${short} \\[[=> ]{25}\\] [\\d.]+[kMG]?B/[\\d.]+[kMG]?B  [\\d.]+[kMG]?B/s`), r.output);
    assert.match(r.output, new RegExp(`Copying blob ${short} done  `));
  }
  assert.match(r.output, /\x1b\[\d+A\x1b\[J/, 'rows redrawn in place');
  assert.match(r.output, /Writing manifest to image destination\r?\n[a-f0-9]{64}\r?\n$/);

  // push on a terminal: a bar per uploading blob too.
  await inst.importBusybox('imported');
  const up = await onTerminal(inst, ['push', '--chunk-size', '100000', 'imported', `${reg.host}/p/imp:1`], env);
  assert.equal(up.code, 0, up.output);
  assert.match(up.output, /Copying blob [a-f0-9]{12} \[[=> ]{25}\] [\d.]+[kMG]?B\/[\d.]+[kMG]?B  [\d.]+[kMG]?B\/s/, up.output);
  assert.match(up.output, /Copying blob [a-f0-9]{12} done  [\d.]+[kMG]?B\r?\n/);

  // -q on a terminal: the ID only.
  const quiet = await onTerminal(inst, ['pull', '-q', `${reg.host}/p/bb:1`], env);
  assert.equal(quiet.code, 0, quiet.output);
  assert.match(quiet.output, /^[a-f0-9]{64}\r?\n$/);
  // Not a terminal: plain lines, no escapes (pull.test.ts checks their text).
  assert.equal((await inst.run(['rmi', '-f', `${reg.host}/p/bb:1`])).code, 0);
  const plain = await inst.run(['pull', `${reg.host}/p/bb:1`], { env, timeoutMs: 120_000 });
  assert.equal(plain.code, 0, plain.stderr);
  assert.doesNotMatch(plain.stderr, /\x1b|\[=/);
});

test("berth.toml [registries] config names the registries.conf; $CONTAINERS_REGISTRIES_CONF wins", async (t) => {
  const reg = await startRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'single', `${reg.host}/c/bb:1`);
  const inst = await newInstance(t);
  const { CONTAINERS_REGISTRIES_CONF: _unset, ...base } = inst.env;
  const pull = (env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(BERTH, ['pull', '-q', `${reg.host}/c/bb:1`], { env: { ...base, ...env }, timeout: 120_000 }, (e, _out, stderr) => resolve({ code: e ? ((e as { code?: number }).code ?? -1) : 0, stderr })),
    );

  // Without the insecure entry berth speaks HTTPS to a plain-HTTP registry: refused.
  const without = await pull({});
  assert.notEqual(without.code, 0);

  appendFileSync(join(inst.configDir, 'berth.toml'), `[registries]\nconfig = "${insecureConf(t, reg.host)}"\n`);
  const viaToml = await pull({});
  assert.equal(viaToml.code, 0, viaToml.stderr);

  const blocked = registriesConf(t, `[[registry]]\nlocation = "${reg.host}"\nblocked = true\n`);
  const viaEnv = await pull({ CONTAINERS_REGISTRIES_CONF: blocked });
  assert.notEqual(viaEnv.code, 0);
  assert.match(viaEnv.stderr, /blocked/);

  // A wrong type is an error.
  const bad = await newInstance(t);
  appendFileSync(join(bad.configDir, 'berth.toml'), `[registries]\nconfig = 5\n`);
  const wrong = await bad.run(['pull', '-q', `${reg.host}/c/bb:1`]);
  assert.equal(wrong.code, 125);
  assert.match(wrong.stderr, /registries\.config must be a string/);
});
