// The shapes podman prints, side by side: `volume inspect`, `volume ls --format json` and a
// container's inspect Mounts, for the same volume, labels and -v options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance, unmountUnder } from '../helpers/index.js';

test('volume inspect, volume ls and inspect Mounts have podman\'s fields', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox('podman-volumes');
  const dir = mkdtempSync('/tmp/berth-test-podman-');
  t.after(() => {
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  const podman = (...args: string[]) =>
    execFileSync('podman', ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--volumepath', join(dir, 'volumes'), '--storage-driver', 'vfs', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const berth = async (...args: string[]) => {
    const r = await inst.run(args);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  for (const run of [podman, berth]) await run('volume', 'create', '--label', 'app=web', 'shape');
  const [p] = JSON.parse(podman('volume', 'inspect', 'shape'));
  const [b] = JSON.parse(await berth('volume', 'inspect', 'shape'));
  // NeedsChown is podman's own (it chowns a new volume to the container's user).
  assert.deepEqual(Object.keys(b), Object.keys(p).filter((k) => k !== 'NeedsChown'));
  for (const k of ['Name', 'Driver', 'Labels', 'Scope', 'Options', 'MountCount', 'NeedsCopyUp']) assert.deepEqual(b[k], p[k], k);
  const keys = (s: string) => Object.keys(JSON.parse(s)[0]).filter((k) => k !== 'NeedsChown');
  assert.deepEqual(keys(await berth('volume', 'ls', '--format', 'json')), keys(podman('volume', 'ls', '--format', 'json')));
  assert.equal(await berth('volume', 'ls', '--format', '{{.Driver}} {{.Name}}'), podman('volume', 'ls', '--format', '{{.Driver}} {{.Name}}'));

  // A container's Mounts, for a named volume and a bind with options.
  const saved = join(dir, 'img.tar');
  await berth('save', '-o', saved, img);
  podman('load', '-i', saved);
  const src = join(dir, 'src');
  mkdirSync(src);
  const args = ['-v', 'shape:/data:ro', '-v', `${src}:/b:Z,rslave`];
  const pid = podman('create', ...args, `localhost/${img}:latest`, 'true').trim();
  const bid = (await berth('create', '--network', 'none', ...args.map((a) => a.replace('rslave', 'rprivate')), img, 'true')).trim();
  const pm = JSON.parse(podman('inspect', pid))[0].Mounts as Record<string, unknown>[];
  const bm = JSON.parse(await berth('inspect', bid))[0].Mounts as Record<string, unknown>[];
  assert.equal(bm.length, 2);
  for (const [i, m] of bm.entries()) {
    const q = pm.find((x) => x.Destination === m.Destination)!;
    assert.deepEqual(Object.keys(m).sort(), Object.keys(q).sort(), `keys of ${m.Destination}`);
    for (const k of ['Type', 'Name', 'Driver', 'Mode', 'RW']) assert.deepEqual(m[k], q[k], `${k} of mount ${i}`);
  }
  podman('rm', '-a', '-f');
  podman('volume', 'rm', '-a', '-f');
  podman('rmi', '-a', '-f');
  await berth('rm', '-f', bid);
  await berth('volume', 'rm', 'shape');
});
