// Archives as podman writes them (`podman save`: docker-archive, oci-archive, and several
// images at once with -m) load into berth with the same image ID and run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance, unmountUnder } from '../helpers/index.js';

test('berth loads what podman save writes', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox('podman-interop');
  await inst.run(['tag', img, 'second:v2']);
  const id = (await inst.run(['images', '-q', '--no-trunc', img])).stdout.trim();
  const diffIds = (await inst.run(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', img])).stdout.trim();
  assert.match(diffIds, /^\["sha256:[0-9a-f]{64}"\]$/);
  const dir = mkdtempSync('/tmp/berth-test-podman-');
  t.after(() => {
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  const podman = (...args: string[]) =>
    execFileSync('podman', ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--storage-driver', 'overlay', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const saved = join(dir, 'from-berth.tar');
  assert.equal((await inst.run(['save', '-o', saved, img, 'second:v2'])).code, 0);
  podman('load', '-i', saved);
  const archives: [string, string[]][] = [
    ['docker.tar', ['save', '-o', join(dir, 'docker.tar'), `localhost/${img}:latest`]],
    ['oci.tar', ['save', '--format', 'oci-archive', '-o', join(dir, 'oci.tar'), `localhost/${img}:latest`]],
    ['multi.tar', ['save', '-m', '-o', join(dir, 'multi.tar'), `localhost/${img}:latest`, 'localhost/second:v2']],
  ];
  for (const [file, args] of archives) {
    podman(...args);
    // Start empty: by ID would miss an image whose config podman re-encoded (see below).
    const ids = (await inst.run(['images', '-q', '--no-trunc'])).stdout.trim().split('\n').filter(Boolean);
    const rmi = await inst.run(['rmi', '-f', ...ids]);
    assert.equal(rmi.code, 0, `rmi -f: ${rmi.stderr}`);
    const r = await inst.run(['load', '-i', join(dir, file)]);
    assert.equal(r.code, 0, `${file}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`Loaded image: localhost/${img}:latest`));
    // The same layers; podman's oci-archive may carry a re-encoded config, so the config
    // digest (the image ID) is compared for the docker archives only.
    const layers = (await inst.run(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', img])).stdout.trim();
    assert.equal(layers, diffIds, file);
    if (file !== 'oci.tar') assert.equal((await inst.run(['images', '-q', '--no-trunc', img])).stdout.trim(), id, file);
    if (file === 'multi.tar') assert.match(r.stdout, /Loaded image: localhost\/second:v2/);
    const run = await inst.run(['run', '--rm', img, 'echo', file]);
    assert.equal(run.stdout, `${file}\n`);
  }
  podman('rmi', '-a', '-f');
});
