// Instances are apart: one with its own root or config dir keeps its CNI networks (and so
// its default network's address allocations) in its own dirs, never in the host's
// /etc/cni/net.d that the default instance uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';

test('the CNI conf dir follows the instance unless configured', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'berth-test-config-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const empty = join(base, 'empty-config');
  const none = {} as NodeJS.ProcessEnv;
  assert.equal((await loadConfig({ configDir: empty, root: '/var/lib/berth' }, none)).network.confDir, join(empty, 'cni', 'net.d'), 'own config dir');
  assert.equal((await loadConfig({ root: join(base, 'root'), configDir: '/nonexistent-berth-config' }, none)).network.confDir, join('/nonexistent-berth-config', 'cni', 'net.d'));
  const configured = join(base, 'configured');
  (await import('node:fs')).mkdirSync(configured);
  writeFileSync(join(configured, 'berth.toml'), '[network]\ncni_conf_dir = "/srv/cni"\n');
  assert.equal((await loadConfig({ configDir: configured }, none)).network.confDir, '/srv/cni', 'a configured dir wins');
  assert.equal((await loadConfig({ configDir: configured, cniConfDir: '/flag/cni' }, none)).network.confDir, '/flag/cni', 'the flag wins');
});
