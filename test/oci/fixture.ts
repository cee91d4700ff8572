// Test fixture: a busybox rootfs, bundles, and runc run/create with cleanup.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RuntimeSpec } from '../../src/oci/index.js';

export const BUSYBOX = '/bin/busybox';

/** A rootfs with busybox applets in /bin, users root/alice/bob and a few groups. */
export function makeRootfs(dir: string): string {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'home/alice', 'data']) {
    mkdirSync(join(rootfs, d), { recursive: true });
  }
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  execFileSync('chmod', ['0755', join(rootfs, 'bin/busybox')]);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => /^[\w.-]+$/.test(a));
  for (const applet of applets) {
    if (applet === 'busybox') continue;
    symlinkSync('busybox', join(rootfs, 'bin', applet));
  }
  writeFileSync(join(rootfs, 'etc/passwd'), [
    'root:x:0:0:root:/root:/bin/sh',
    'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
    'bob:x:1001:1001:Bob:/home/bob:/bin/sh',
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
    '',
  ].join('\n'));
  writeFileSync(join(rootfs, 'etc/group'), [
    'root:x:0:',
    'wheel:x:10:alice,bob',
    'staff:x:50:alice',
    'alice:x:1000:',
    'bob:x:1001:',
    'nogroup:x:65534:',
    '',
  ].join('\n'));
  return rootfs;
}

export interface Sandbox {
  dir: string;
  rootfs: string;
  stateRoot: string;
  /** Unique cgroup parent for this test run, removed by cleanup(). */
  cgroupParent: string;
  cleanup(): void;
}

export function makeSandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'berth-oci-'));
  const rootfs = makeRootfs(dir);
  const stateRoot = join(dir, 'state');
  mkdirSync(stateRoot);
  const cgroupParent = `/berth-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  return {
    dir, rootfs, stateRoot, cgroupParent,
    cleanup() {
      for (const id of listContainers(stateRoot)) {
        try { execFileSync('runc', ['--root', stateRoot, 'delete', '-f', id], { stdio: 'ignore' }); } catch { /* gone */ }
      }
      removeCgroups(cgroupParent);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A sandbox for one test file, torn down after the file's tests; the teardown fails the
 * suite if a container cgroup outlived its container (runc removes each one).
 */
export function suiteSandbox(): Sandbox {
  const sb = makeSandbox();
  after(() => {
    const leftovers = cgroupDirs(sb.cgroupParent).filter((d) => !d.endsWith(sb.cgroupParent));
    sb.cleanup();
    assert.deepEqual(leftovers, [], 'no container cgroups left behind');
    assert.deepEqual(cgroupDirs(sb.cgroupParent), [], 'cgroup parent removed');
  });
  return sb;
}

function listContainers(stateRoot: string): string[] {
  try { return readdirSync(stateRoot); } catch { return []; }
}

/** Host cgroup directories (v1 hierarchies) below `parent`, deepest first. */
export function cgroupDirs(parent: string): string[] {
  const out: string[] = [];
  const base = '/sys/fs/cgroup';
  for (const hierarchy of readdirSync(base)) {
    const top = join(base, hierarchy, parent);
    if (!existsSync(top)) continue;
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      out.push(d);
    };
    walk(top);
  }
  return out;
}

function removeCgroups(parent: string): void {
  for (const d of cgroupDirs(parent)) {
    try { rmdirSync(d); } catch { /* still busy: the leak check in the test reports it */ }
  }
}

/** Writes config.json into a fresh bundle dir and returns the bundle path. */
export function writeBundle(sb: Sandbox, id: string, spec: RuntimeSpec): string {
  const bundle = join(sb.dir, `bundle-${id}`);
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  return bundle;
}

export interface RunResult { code: number; stdout: string; stderr: string }

/** `runc run` in the foreground (no terminal): the container's exit code and output. */
export function runcRun(sb: Sandbox, id: string, spec: RuntimeSpec): Promise<RunResult> {
  const bundle = writeBundle(sb, id, spec);
  return new Promise((resolve) => {
    execFile('runc', ['--root', sb.stateRoot, 'run', '-b', bundle, id], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `runc create` detached, stdio to /dev/null; the container waits for `start`. */
export function runcCreate(sb: Sandbox, id: string, spec: RuntimeSpec): void {
  const bundle = writeBundle(sb, id, spec);
  // The container inherits runc's stdio: a pipe would stay open while it runs, so use a file.
  const errFile = join(bundle, 'create.err');
  const fd = openSync(errFile, 'w');
  try {
    execFileSync('runc', ['--root', sb.stateRoot, 'create', '-b', bundle, id], { stdio: ['ignore', 'ignore', fd], timeout: 30_000 });
  } catch (e) {
    throw new Error(`runc create ${id} failed: ${readFileSync(errFile, 'utf8')}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}
