// Namespaces: the CRI's containers (k8s.io) and the CLI's (default) share one store and
// one image store, but each sees only its own containers; nothing one does takes what the
// other holds (a network sweep, rm -a, rmi).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance, type Instance } from '../helpers/index.js';

async function ok(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

test('namespaces keep the CRI containers apart from the CLI containers', async (t) => {
  const inst = await newInstance(t);
  const img = await inst.importBusybox();
  const k8s = (args: string[]) => ['--namespace', 'k8s.io', ...args];
  const cri = (await ok(inst, k8s(['run', '-d', '--name', 'cri-one', img, 'sleep', '1000']))).trim();
  const cli = (await ok(inst, ['run', '-d', '--name', 'cli-one', img, 'sleep', '1000'])).trim();
  assert.equal((await ok(inst, ['ps', '-aq', '--no-trunc'])).trim(), cli);
  assert.equal((await ok(inst, k8s(['ps', '-aq', '--no-trunc']))).trim(), cri);
  const other = await inst.run(['inspect', 'cri-one']);
  assert.deepEqual([other.code, other.stderr], [125, 'berth: no such object: cri-one\n']);
  // The env selects it too.
  assert.equal((await inst.run(['ps', '-q'], { env: { BERTH_NAMESPACE: 'k8s.io' } })).stdout.trim(), cri.slice(0, 12));

  // The default namespace's networked runs sweep orphans, not the other namespace's attachments.
  await ok(inst, ['run', '--rm', img, 'true']);
  assert.ok(existsSync(join(inst.runRoot, 'netns', cri)), "the CRI container's netns survived");
  // rm -a is the namespace's; rmi sees every namespace's users.
  await ok(inst, ['rm', '-af']);
  assert.equal((await ok(inst, k8s(['ps', '-q']))).trim(), cri.slice(0, 12));
  const rmi = await inst.run(['rmi', img]);
  assert.notEqual(rmi.code, 0);
  assert.match(rmi.stderr, new RegExp(`image is in use by container ${cri.slice(0, 12)}`));
  await ok(inst, k8s(['rm', '-f', 'cri-one']));
  assert.equal(existsSync(join(inst.runRoot, 'netns', cri)), false);

  const bad = await inst.run(['--namespace', 'Bad/NS', 'ps']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /^berth: invalid namespace "Bad\/NS"/);
});
