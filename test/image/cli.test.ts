// The image commands through the real CLI bundle (bin/berth).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxTarball, newInstance } from '../helpers/index.js';

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

test('import, images, tag, inspect, save, load and rmi from the command line', async (t) => {
  const inst = await newInstance(t);
  const ok = async (args: string[], input?: Buffer) => {
    const r = await inst.run(args, { input });
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  const idLine = await ok(['import', '-c', 'CMD ["/bin/sh"]', '--change', 'ENV A=1', '-m', 'hello', busyboxTarball(), 'bb']);
  assert.match(idLine, /^sha256:[a-f0-9]{64}\n$/);
  const id = idLine.trim().slice(7);
  const fromStdin = (await ok(['import', '-', 'quay.io/x/y:2'], readFileSync(busyboxTarball()))).trim().slice(7);

  const table = (await ok(['images'])).split('\n');
  assert.match(table[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
  assert.ok(table.some((l) => new RegExp(`^localhost/bb\\s+latest\\s+${id.slice(0, 12)}\\s+.+ago\\s+[\\d.]+MB$`).test(l)), table.join('\n'));
  assert.deepEqual((await ok(['images', '-q'])).trim().split('\n').sort(), [id.slice(0, 12), fromStdin.slice(0, 12)].sort());
  assert.equal(await ok(['images', '-q', '--no-trunc', '-f', 'reference=bb']), `sha256:${id}\n`);
  assert.equal(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}', 'quay.io/x/*']), 'quay.io/x/y:2\n');
  const json = JSON.parse(await ok(['images', '--format', 'json']));
  assert.equal(json.length, 2);
  // images --sort, podman's keys: created newest first, the rest by their text.
  const sorted = async (key: string) => (await ok(['images', '--sort', key, '--format', '{{.Repository}}:{{.Tag}}'])).trim().split('\n');
  assert.deepEqual(await sorted('created'), ['quay.io/x/y:2', 'localhost/bb:latest']);
  assert.deepEqual(await sorted('repository'), ['localhost/bb:latest', 'quay.io/x/y:2']);
  assert.deepEqual(await sorted('tag'), ['quay.io/x/y:2', 'localhost/bb:latest']);
  assert.deepEqual(await sorted('id'), [[id, 'localhost/bb:latest'], [fromStdin, 'quay.io/x/y:2']].sort().map((x) => x[1]));
  const badSort = await inst.run(['images', '--sort', 'name']);
  assert.deepEqual([badSort.code, badSort.stderr], [125, 'berth: invalid --sort "name": created, id, repository, size or tag\n']);

  await ok(['tag', 'bb', 'bb:v2', 'other']);
  const [inspected] = JSON.parse(await ok(['image', 'inspect', 'bb:v2']));
  assert.equal(inspected.Id, `sha256:${id}`);
  assert.deepEqual(inspected.RepoTags, ['localhost/bb:latest', 'localhost/bb:v2', 'localhost/other:latest']);
  assert.deepEqual(inspected.Config, { Cmd: ['/bin/sh'], Env: ['A=1'] });
  assert.equal(inspected.Comment, 'hello');
  assert.equal(await ok(['image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', id.slice(0, 5)]), `linux/${process.arch === 'x64' ? 'amd64' : process.arch}\n`);

  // save to a file and to stdout; skopeo sees the same config.
  const file = join(inst.base, 'bb.tar');
  await ok(['save', '-o', file, 'bb']);
  const config = execFileSync('skopeo', ['inspect', '--config', '--raw', `docker-archive:${file}`]);
  assert.equal(sha(config), `sha256:${id}`);
  const ociFile = join(inst.base, 'bb-oci.tar');
  await ok(['image', 'save', '--format', 'oci-archive', '-o', ociFile, 'bb', 'other']);

  assert.equal(await ok(['rmi', 'bb:v2', 'other']), 'Untagged: localhost/bb:v2\nUntagged: localhost/other:latest\n');
  assert.equal(await ok(['rmi', 'bb']), `Untagged: localhost/bb:latest\nDeleted: sha256:${id}\n`);
  assert.equal(await ok(['load', '-q', '-i', file]), 'Loaded image: localhost/bb:latest\n');
  await ok(['image', 'rm', id]);
  assert.equal(await ok(['load'], readFileSync(ociFile)), 'Loaded image: localhost/bb:latest\nLoaded image: localhost/other:latest\n');

  const missing = await inst.run(['rmi', 'nope', 'bb']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'berth: no such image: nope\n');
  assert.equal(missing.stdout, 'Untagged: localhost/bb:latest\n');
  const bad = await inst.run(['tag', 'other', 'Bad']);
  assert.equal(bad.code, 125);
  assert.equal(bad.stderr, 'berth: invalid reference format: "Bad"\n');
  const badFormat = await inst.run(['save', '--format', 'zip', '-o', file, 'other']);
  assert.match(badFormat.stderr, /unsupported format "zip"/);
});

test("untag, rmi --all and rmi's exit statuses, images --filter before/since, as podman", async (t) => {
  const inst = await newInstance(t);
  const ok = async (args: string[]) => {
    const r = await inst.run(args);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const fails = async (args: string[]) => {
    const r = await inst.run(args);
    return [r.code, r.stderr];
  };
  const ids: Record<string, string> = {};
  for (const name of ['first', 'second', 'third']) ids[name] = (await ok(['import', busyboxTarball(), name])).trim().slice(7);
  const names = async (...filters: string[]) => (await ok(['images', '--format', '{{.Repository}}', ...filters.flatMap((f) => ['--filter', f])])).trim().split('\n').filter(Boolean);

  // before/since: the images created before or after the one named (podman's, docker's).
  assert.deepEqual(await names('before=third'), ['localhost/second', 'localhost/first']);
  assert.deepEqual(await names('since=first'), ['localhost/third', 'localhost/second']);
  assert.deepEqual(await names('since=first', 'before=third'), ['localhost/second']);
  assert.deepEqual(await fails(['images', '--filter', 'before=nosuch']), [125, 'berth: could not find local image for filter "before": nosuch: image not known\n']);
  assert.deepEqual(await fails(['images', '--filter', 'bogus=1']), [125, 'berth: invalid filter "bogus": supported are reference, dangling, label, id, digest, before, since\n']);

  // untag NAME removes that name; untag with no name removes them all; the image stays.
  await ok(['tag', 'first', 'extra', 'quay.io/x/first:v1']);
  assert.equal(await ok(['untag', 'first', 'extra']), '');
  assert.deepEqual(JSON.parse(await ok(['image', 'inspect', ids.first]))[0].RepoTags, ['localhost/first:latest', 'quay.io/x/first:v1']);
  assert.deepEqual(await fails(['untag', 'first', 'nosuch']), [125, 'berth: localhost/nosuch:latest: tag not known\n']);
  assert.deepEqual(await fails(['untag', 'nosuch']), [125, 'berth: no such image: nosuch\n']);
  await ok(['image', 'untag', 'first']);
  assert.deepEqual(JSON.parse(await ok(['image', 'inspect', ids.first]))[0].RepoTags, []);
  assert.deepEqual(await names('dangling=true'), ['<none>']);

  // rmi: 1 when an image is missing, 2 when one is in use, 125 otherwise; the others go on.
  await ok(['create', '--name', 'user', 'second', 'true']);
  assert.deepEqual(await fails(['rmi', 'nosuch']), [1, 'berth: no such image: nosuch\n']);
  const inUse = await inst.run(['rmi', 'nosuch', 'second']);
  assert.equal(inUse.code, 2, inUse.stderr);
  assert.match(inUse.stderr, /^berth: no such image: nosuch\nberth: image is in use by container [a-f0-9]{12}\n$/);
  await ok(['tag', 'third', 'third2']);
  assert.equal((await fails(['rmi', ids.third]))[0], 125, 'by ID, an image with two names needs -f');
  assert.deepEqual(await fails(['rmi', '-a', 'third']), [125, 'berth: when using the --all switch, you may not pass any images names or IDs\n']);
  assert.deepEqual(await fails(['rmi']), [125, 'berth: image name or ID must be specified\n']);

  // rmi -a removes every image no container uses, all names at once, and says 2 for the one in use.
  const all = await inst.run(['rmi', '-a']);
  assert.equal(all.code, 2, all.stderr);
  assert.match(all.stderr, /^berth: image is in use by container [a-f0-9]{12}\n$/);
  const out = all.stdout.split('\n').filter(Boolean).sort();
  assert.deepEqual(out, [`Deleted: sha256:${ids.first}`, `Deleted: sha256:${ids.third}`, 'Untagged: localhost/third2:latest', 'Untagged: localhost/third:latest'].sort());
  assert.deepEqual(await names(), ['localhost/second']);
  await ok(['rm', 'user']);
  assert.equal(await ok(['rmi', '--all']), `Untagged: localhost/second:latest\nDeleted: sha256:${ids.second}\n`);
  assert.equal(await ok(['images', '-q']), '');
});

test("image tree: an image's layers with the images they top; --whatrequires: the layers built on it", async (t) => {
  const inst = await newInstance(t);
  const ok = async (args: string[]) => {
    const r = await inst.run(args);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const base = (await ok(['import', busyboxTarball(), 'base'])).trim().slice(7, 19);
  await ok(['run', '--name', 'maker', '--network', 'none', 'base', 'sh', '-c', 'echo hello > /hello']);
  const child = (await ok(['commit', '-q', 'maker', 'child'])).trim().replace(/^sha256:/, '').slice(0, 12);
  await ok(['rm', 'maker']);
  const layer = String.raw`ID: [a-f0-9]{12} Size: +[\d.]+[kMG]?B`;
  assert.match(await ok(['image', 'tree', 'base']), new RegExp(`^Image ID: ${base}\nTags:     \\[localhost/base:latest\\]\nSize:     [\\d.]+MB\nImage Layers\n└── ${layer} Top Layer of: \\[localhost/base:latest\\]\n\n$`));
  const tree = await ok(['image', 'tree', 'child']);
  assert.match(tree, new RegExp(`^Image ID: ${child}\n[^]*Image Layers\n├── ${layer} Top Layer of: \\[localhost/base:latest\\]\n└── ${layer} Top Layer of: \\[localhost/child:latest\\]\n\n$`));
  const [, childTop] = /└── ID: ([a-f0-9]{12})/.exec(tree)!;
  const requires = await ok(['image', 'tree', '--whatrequires', 'base']);
  assert.match(requires, new RegExp(`^Image ID: ${base}\n[^]*Image Layers\n├── ${layer} Top Layer of: \\[localhost/base:latest\\]\n└── ID: ${childTop} Size: +\\d+B Top Layer of: \\[localhost/child:latest\\]\n\n$`));
  const missing = await inst.run(['image', 'tree', 'nosuch']);
  assert.deepEqual([missing.code, missing.stderr], [125, 'berth: no such image: nosuch\n']);
});
