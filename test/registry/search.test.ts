// search as podman searches a registry that is not Docker Hub: its catalog, filtered by the
// term, or the tags of one repository; the same answers from podman in the same run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { newInstance } from '../helpers/index.js';
import { makeLayout, registriesConf, skopeoPush, startRegistry, tempDir } from './fixture.js';

const execFileAsync = promisify(execFile);

test("search: a registry's catalog and a repository's tags, as podman lists them", async (t) => {
  const reg = await startRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  for (const dest of ['library/bb:1', 'library/bb:2', 'library/bb:10', 'other/busy:latest', 'tools/ctl:v1']) await skopeoPush(layout, 'single', `${reg.host}/${dest}`);
  const inst = await newInstance(t);
  const conf = registriesConf(t, `unqualified-search-registries = ["${reg.host}"]\n[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`);
  const env = { CONTAINERS_REGISTRIES_CONF: conf };
  const berth = async (...args: string[]) => {
    const r = await inst.run(['search', ...args], { env, timeoutMs: 60_000 });
    return r;
  };
  const ok = async (...args: string[]) => {
    const r = await berth(...args);
    assert.equal(r.code, 0, `search ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const podmanDir = tempDir(t, 'podman');
  const podman = async (...args: string[]) =>
    (await execFileAsync('podman', ['--root', `${podmanDir}/storage`, '--runroot', `${podmanDir}/run`, 'search', ...args], { env: { ...process.env, ...env } })).stdout;

  const names = `${reg.host}/library/bb\n${reg.host}/other/busy\n${reg.host}/tools/ctl\n`;
  assert.equal(await ok('--format', '{{.Name}}', `${reg.host}/`), names);
  assert.match(await ok(`${reg.host}/`), new RegExp(`^NAME +DESCRIPTION\n${reg.host.replace(/\./g, '\\.')}/library/bb\n`));
  assert.equal(await ok('--format', '{{.Name}}', `${reg.host}/b`), `${reg.host}/library/bb\n${reg.host}/other/busy\n`, 'names that contain the term');
  assert.equal(await ok('--format', '{{.Name}}', 'ctl'), `${reg.host}/tools/ctl\n`, 'a term without a registry: the search registries');
  assert.equal(await ok('--limit', '1', '--format', '{{.Name}}', `${reg.host}/`), `${reg.host}/library/bb\n`);
  assert.equal(await ok(`${reg.host}/nomatch`), '', 'no match: nothing, not even the heading (podman)');
  assert.equal(await ok('--filter', 'is-official=true', `${reg.host}/`), '', 'a catalog has no official images');
  assert.equal(await ok('--format', '{{.Name}}', '--filter', 'stars=0', `${reg.host}/`), names);
  const tags = await ok('--list-tags', `${reg.host}/library/bb`);
  assert.equal(tags.split('\n')[0]!.replace(/ +/g, ' '), 'NAME TAG');
  assert.deepEqual(tags.trim().split('\n').slice(1).map((l) => l.split(/ +/)[1]).sort(), ['1', '10', '2']);
  assert.equal((await ok('--list-tags', '--limit', '2', '--format', '{{.Tag}}', `${reg.host}/library/bb`)).split('\n').length, 3);

  // podman's answers to the same questions.
  for (const args of [['--format', '{{.Name}}|{{.Index}}|{{.Description}}|{{.Stars}}', `${reg.host}/`], ['--format', 'json', `${reg.host}/busy`], ['--list-tags', '--format', 'json', `${reg.host}/library/bb`], [`${reg.host}/nomatch`]]) {
    assert.equal(await ok(...args), await podman(...args), args.join(' '));
  }

  // Errors: one line, exit 125.
  for (const [args, message] of [
    [['--list-tags', `${reg.host}/library/nosuch`], /^berth: registry 127\.0\.0\.1:\d+: listing the tags of library\/nosuch: NAME_UNKNOWN/],
    [['--list-tags', `${reg.host}/library/bb:1`], /^berth: --list-tags takes a repository without a tag or digest/],
    [['--filter', 'stars=many', 'bb'], /^berth: invalid filter "stars=many": stars takes a number/],
    [['--filter', 'bogus=1', 'bb'], /^berth: invalid filter "bogus=1": supported are stars, is-official, is-automated/],
    [['--limit', '0', 'bb'], /^berth: invalid --limit 0/],
    [['127.0.0.1:1/x'], /^berth: registry 127\.0\.0\.1:1: connection refused/],
  ] as const) {
    const r = await berth(...args);
    assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
  }
});
