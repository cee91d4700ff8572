// The composition root on its own: the path layout, services built once and only when
// used, registries.conf precedence, refreshing what was learnt from the host, close.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, enginePaths } from '../../src/engine/index.js';
import { TEST_DIR_PREFIX } from '../helpers/index.js';

function tempDirs(t: TestContext) {
  const base = mkdtempSync(join(tmpdir(), `${TEST_DIR_PREFIX}engine-`));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  return { base, root: join(base, 'root'), runRoot: join(base, 'run'), configDir: join(base, 'etc') };
}

const isCode = (code: string, message?: RegExp) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, code, String(e));
  if (message) assert.match((e as Error).message, message);
  return true;
};

test('path layout: every derived directory, from flags or from the environment', (t) => {
  const { root, runRoot, configDir } = tempDirs(t);
  const expected = {
    root,
    runRoot,
    configDir,
    content: join(root, 'content'),
    snapshots: join(root, 'snapshots'),
    containers: join(root, 'containers'),
    cniResults: join(root, 'cni', 'results'),
    cniNetworks: join(root, 'cni', 'networks'),
    dnsname: join(runRoot, 'dnsname'),
    netns: join(runRoot, 'netns'),
    exits: join(runRoot, 'exits'),
    sockets: join(runRoot, 's'),
    runtimeState: join(runRoot, 'runtime'),
    containerRuntime: join(runRoot, 'containers'),
    pods: join(root, 'pods'),
    podRuntime: join(runRoot, 'pods'),
    volumes: join(root, 'volumes'),
  };
  assert.deepEqual(enginePaths({ root, runRoot, configDir }), expected);
  assert.deepEqual(createEngine({ root, runRoot, configDir, env: {} }).paths, expected);
  const fromEnv = createEngine({ env: { BERTH_ROOT: root, BERTH_RUNROOT: runRoot, BERTH_CONFIG_DIR: configDir } });
  assert.deepEqual(fromEnv.paths, expected);
  // Flags win over the environment; defaults when neither is given.
  assert.equal(createEngine({ root: '/elsewhere', env: { BERTH_ROOT: root } }).paths.root, '/elsewhere');
  assert.deepEqual(
    [createEngine({ env: {} }).paths.root, createEngine({ env: {} }).paths.runRoot, createEngine({ env: {} }).paths.configDir],
    ['/var/lib/berth', '/run/berth', '/etc/berth'],
  );
});

test('version-like use (config, runtime) opens no database and creates no directory', async (t) => {
  const dirs = tempDirs(t);
  const engine = createEngine({ ...dirs, env: {} });
  const config = await engine.config();
  assert.equal(config.paths.root, dirs.root);
  const runtime = await engine.runtime();
  assert.match(runtime.binary(), /\/runc$/);
  assert.deepEqual(runtime.globalArgs(), ['--root', engine.paths.runtimeState]);
  assert.equal(existsSync(dirs.root), false, 'the root dir was created');
  assert.equal(existsSync(dirs.runRoot), false, 'the run dir was created');
  engine.close();
});

test('each service is built once (also when asked for concurrently) and shared', async (t) => {
  const dirs = tempDirs(t);
  const engine = createEngine({ ...dirs, env: {} });
  t.after(() => engine.close());
  const [a, b] = await Promise.all([engine.images(), engine.images()]);
  assert.equal(a, b);
  assert.equal(await engine.images(), a);
  assert.equal(await engine.store(), await engine.store());
  assert.equal(await engine.snapshots(), await engine.snapshots());
  assert.equal(await engine.content(), await engine.content());
  assert.equal(a.content, await engine.content(), 'the image store got the engine\'s content store');
  assert.equal(await engine.network(), await engine.network());
  assert.equal((await engine.network()).netnsDir, engine.paths.netns);
  const manager = await engine.containers();
  assert.equal(await engine.containers(), manager);
  // One OCI runtime for everything: the manager's is the engine's.
  assert.equal(manager.runtime.oci, await engine.runtime());
  assert.equal(manager.runtime.oci.stateRoot, engine.paths.runtimeState);
  const abc = { id: 'abc', config: { image: 'x' } };
  assert.equal(manager.paths(abc).dir, join(engine.paths.containers, 'abc'));
  assert.equal(manager.paths(abc).persistDir, join(engine.paths.containerRuntime, 'abc'));
  assert.equal(manager.runtime.dirs.exitDir, engine.paths.exits);
  assert.equal(manager.runtime.dirs.socketDir, engine.paths.sockets);
  assert.equal(a.count(), 0);
  assert.ok(existsSync(join(dirs.root, 'berth.db')));
});

test('registries.conf: $CONTAINERS_REGISTRIES_CONF, then berth.toml [registries] config, then the system file', async (t) => {
  const dirs = tempDirs(t);
  mkdirSync(dirs.configDir, { recursive: true });
  const fromToml = join(dirs.base, 'from-toml.conf');
  const fromEnv = join(dirs.base, 'from-env.conf');
  writeFileSync(fromToml, 'unqualified-search-registries = ["127.0.0.1:1"]\n');
  writeFileSync(fromEnv, 'unqualified-search-registries = ["127.0.0.1:2"]\n');

  const confOf = async (env: NodeJS.ProcessEnv) => {
    const registry = await createEngine({ ...dirs, env }).registry({ tlsVerify: false });
    registry.close();
    return registry.conf;
  };
  const system = await confOf({});
  assert.ok(system.files.every((f) => f.startsWith('/etc/containers/')), system.files.join(','));

  writeFileSync(join(dirs.configDir, 'berth.toml'), `[registries]\nconfig = "${fromToml}"\n`);
  assert.deepEqual((await confOf({})).files, [fromToml]);
  assert.deepEqual((await confOf({})).unqualifiedSearch, ['127.0.0.1:1']);
  const env = await confOf({ CONTAINERS_REGISTRIES_CONF: fromEnv });
  assert.deepEqual(env.files, [fromEnv]);
  assert.deepEqual(env.unqualifiedSearch, ['127.0.0.1:2']);
  // An empty variable counts as unset (as podman treats it).
  assert.deepEqual((await confOf({ CONTAINERS_REGISTRIES_CONF: '' })).files, [fromToml]);
});

test('conmon\'s exit command comes from the option, given the loaded config', async (t) => {
  const dirs = tempDirs(t);
  const seen: string[] = [];
  const engine = createEngine({
    ...dirs,
    runtime: 'crun',
    env: {},
    cleanupCommand: (config) => {
      seen.push(config.runtime.path, config.paths.root);
      return ['/bin/true'];
    },
  });
  t.after(() => engine.close());
  await engine.config();
  assert.deepEqual(seen, [], 'asked before a container manager was needed');
  await engine.containers();
  await engine.containers();
  assert.deepEqual(seen, ['crun', dirs.root]);
});

test('reload: the runtime binary is looked up again', async (t) => {
  const dirs = tempDirs(t);
  const bin = join(dirs.base, 'my-runtime');
  writeFileSync(bin, '#!/bin/sh\necho "my-runtime version 1"\n');
  chmodSync(bin, 0o755);
  const engine = createEngine({ ...dirs, runtime: bin, env: {} });
  t.after(() => engine.close());
  const runtime = await engine.runtime();
  assert.equal(runtime.binary(), bin);
  assert.equal(await runtime.version(), 'my-runtime version 1');
  rmSync(bin);
  assert.equal(runtime.binary(), bin, 'resolved once');
  await engine.reload();
  assert.throws(() => runtime.binary(), isCode('Unavailable', /my-runtime" not found/));
  assert.equal(await engine.runtime(), runtime, 'services stay');
});

test('a failed build is tried again; a closed engine refuses', async (t) => {
  const dirs = tempDirs(t);
  mkdirSync(dirs.configDir, { recursive: true });
  writeFileSync(join(dirs.configDir, 'berth.toml'), '[runtime\n');
  const engine = createEngine({ ...dirs, env: {} });
  await assert.rejects(engine.config(), isCode('InvalidArgument', /berth\.toml/));
  await assert.rejects(engine.runtime(), isCode('InvalidArgument'));
  writeFileSync(join(dirs.configDir, 'berth.toml'), '[runtime]\npath = "crun"\n');
  assert.equal((await engine.config()).runtime.path, 'crun');
  await engine.store();
  engine.close();
  engine.close();
  await assert.rejects(engine.store(), isCode('FailedPrecondition', /closed/));
  await assert.rejects(engine.images(), isCode('FailedPrecondition', /closed/));
  await assert.rejects(engine.config(), isCode('FailedPrecondition', /closed/));
});
