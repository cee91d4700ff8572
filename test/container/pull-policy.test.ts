// run/create --pull: missing pulls an unknown image from the registry, never refuses to,
// always pulls again. A real docker-registry on 127.0.0.1, filled by skopeo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newInstance } from '../helpers/index.js';
import { insecureConf, makeLayout, skopeoPush, startRegistry, tempDir } from '../registry/fixture.js';

test('run --pull missing|never|always', async (t) => {
  const reg = await startRegistry(t);
  const layout = makeLayout(tempDir(t, 'layout'));
  await skopeoPush(layout, 'single', `${reg.host}/test/bb:run`);
  const inst = await newInstance(t);
  const env = { CONTAINERS_REGISTRIES_CONF: insecureConf(t, reg.host) };
  const ref = `${reg.host}/test/bb:run`;
  const never = await inst.run(['run', '--rm', '--network', 'none', '--pull', 'never', ref, 'true'], { env });
  assert.equal(never.code, 125);
  assert.match(never.stderr, /^berth: .*no such image/i);
  const missing = await inst.run(['run', '--rm', '--network', 'none', ref, '/bin/busybox', 'echo', 'pulled'], { env, timeoutMs: 120_000 });
  assert.equal(missing.code, 0, missing.stderr);
  assert.equal(missing.stdout, 'pulled\n', 'progress goes to stderr, the container owns stdout');
  assert.match(missing.stderr, new RegExp(`^Unable to find image '${ref.replace(/\./g, '\\.')}' locally\nTrying to pull`));
  const present = await inst.run(['create', '--network', 'none', ref, 'true'], { env });
  assert.equal(present.code, 0, present.stderr);
  assert.equal(present.stderr, '', 'a local image is not pulled again');
  const always = await inst.run(['run', '--rm', '--network', 'none', '--pull', 'always', ref, 'true'], { env, timeoutMs: 120_000 });
  assert.equal(always.code, 0, always.stderr);
  assert.match(always.stderr, /^Trying to pull/);
  // -q: the pull says nothing; the container's output is all there is.
  const quiet = await inst.run(['run', '-q', '--rm', '--network', 'none', '--pull', 'always', ref, '/bin/busybox', 'echo', 'quiet'], { env, timeoutMs: 120_000 });
  assert.deepEqual([quiet.code, quiet.stdout, quiet.stderr], [0, 'quiet\n', '']);
  const quietCreate = await inst.run(['create', '--quiet', '--network', 'none', '--pull', 'always', ref, 'true'], { env, timeoutMs: 120_000 });
  assert.equal(quietCreate.code, 0, quietCreate.stderr);
  assert.equal(quietCreate.stderr, '');
  assert.match(quietCreate.stdout, /^[0-9a-f]{64}\n$/);
  const bad = await inst.run(['run', '--rm', '--pull', 'sometimes', ref, 'true'], { env });
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /^berth: invalid --pull "sometimes"/);
});
