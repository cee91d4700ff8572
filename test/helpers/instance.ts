// An isolated berth for one test: its own root, run root and config dir under
// /tmp/berth-test-*, driven through the real CLI (bin/berth).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants } from 'node:os';
import type { TestContext } from 'node:test';
import { busyboxTarball } from './busybox.js';
import { killAndWait, processesUsing, unmountUnder } from './host.js';
import { TEST_DIR_PREFIX } from './leaks.js';
import { instanceNetwork } from './netspace.js';

/** The repository root: the first directory above this module holding package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('test helpers: repository root not found');
    dir = up;
  }
  return dir;
}

/** Absolute path of the CLI bundle (built by `make build`). */
export const BERTH = join(repoRoot(), 'bin', 'berth');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface Instance {
  /** The temp dir holding everything below. */
  base: string;
  /** The default network's bridge and subnet, this instance's own. */
  bridge: string;
  subnet: string;
  root: string;
  runRoot: string;
  configDir: string;
  /** process.env plus BERTH_ROOT, BERTH_RUNROOT and BERTH_CONFIG_DIR of this instance. */
  env: NodeJS.ProcessEnv;
  /** Runs bin/berth with args. Never rejects on a non-zero exit; rejects on a timeout. */
  run(args: string[], o?: RunOptions): Promise<RunResult>;
  /** `berth import` of busyboxTarball(); returns the image name. */
  importBusybox(name?: string): Promise<string>;
  /** Removes every container, process, mount and file of this instance. Idempotent. */
  cleanup(): Promise<void>;
  /**
   * Has cleanup() await stop() first (the last registered first): a daemon on this instance
   * removes what it made (pods' netns, CNI rules) through its own API while it still serves,
   * before the clean-up kills whatever uses the instance's dir, whichever after-hook runs first.
   */
  stopFirst(stop: () => Promise<unknown>): void;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const signals = constants.signals;

/** Spawns a command, feeds it input, collects its output; kills it after timeoutMs. */
export function runCommand(file: string, args: string[], env: NodeJS.ProcessEnv, o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => {
      // The command may exit without reading its input.
    });
    child.stdin.end(o.input ?? '');
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      const stderr = Buffer.concat(err).toString();
      reject(new Error(`${file} ${args.join(' ')}: timed out after ${timeoutMs} ms${stderr ? `; stderr: ${stderr.trim()}` : ''}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const signo = signal ? signals[signal] : 0;
      resolve({ code: code ?? 128 + signo, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

export async function newInstance(t?: Pick<TestContext, 'after'>): Promise<Instance> {
  const base = mkdtempSync(`/tmp/${TEST_DIR_PREFIX}`);
  const root = join(base, 'root');
  const runRoot = join(base, 'run');
  const configDir = join(base, 'config');
  for (const d of [root, runRoot, configDir]) mkdirSync(d, { recursive: true });
  // Its own CNI conf dir, default bridge and subnet, so instances run side by side.
  const net = uniqueNetwork();
  writeFileSync(
    join(configDir, 'berth.toml'),
    `[network]\ncni_conf_dir = "${join(base, 'cni')}"\ndefault_bridge = "${net.bridge}"\ndefault_subnet = "${net.subnet}"\n`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env, BERTH_ROOT: root, BERTH_RUNROOT: runRoot, BERTH_CONFIG_DIR: configDir };
  let cleaned = false;
  const stoppers: (() => Promise<unknown>)[] = [];

  const inst: Instance = {
    base,
    bridge: net.bridge,
    subnet: net.subnet,
    root,
    runRoot,
    configDir,
    env,
    run: (args, o) => runCommand(BERTH, args, env, o),
    async importBusybox(name = 'busybox-test') {
      const r = await inst.run(['import', busyboxTarball(), name]);
      if (r.code !== 0) throw new Error(`berth import failed (${r.code}): ${r.stderr.trim()}`);
      return name;
    },
    async cleanup() {
      for (const stop of [...stoppers].reverse()) await stop();
      if (cleaned) return;
      cleaned = true;
      await destroy(inst);
    },
    stopFirst: (stop) => void stoppers.push(stop),
  };
  t?.after(() => inst.cleanup());
  return inst;
}

/** Containers in any runtime state root directly below runRoot (a dir of <id>/state.json). */
function runtimeContainers(runRoot: string): { stateRoot: string; id: string }[] {
  const found: { stateRoot: string; id: string }[] = [];
  const subdirs = (d: string) => {
    try {
      return readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
  };
  for (const name of subdirs(runRoot)) {
    const stateRoot = join(runRoot, name);
    for (const id of subdirs(stateRoot)) if (existsSync(join(stateRoot, id, 'state.json'))) found.push({ stateRoot, id });
  }
  return found;
}

/**
 * Tears an instance down even when berth itself is broken: first the polite way
 * (`berth rm -af`), then runc and conmon by hand, then mounts and files.
 */
async function destroy(inst: Instance): Promise<void> {
  if (existsSync(BERTH) && existsSync(inst.root)) {
    const r = await inst.run(['rm', '-af'], { timeoutMs: 30_000 }).catch((e: Error) => ({ code: -1, stderr: e.message }));
    // What `rm -af` leaves of the network goes nowhere after this (the suite's leak check
    // reports it): say which test file and instance it was, to find the cause.
    const prefix = inst.subnet.replace(/0\/24$/, '');
    let left: string[] = [];
    try {
      left = execFileSync('iptables', ['-S', 'CNI-FORWARD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter((l) => l.includes(` ${prefix}`));
    } catch {
      // no firewall chain (yet)
    }
    if (r.code !== 0 || left.length > 0)
      process.stderr.write(`instance ${inst.base} (${inst.subnet}) of ${process.argv[1]}: rm -af exit ${r.code} ${r.stderr.trim()}; firewall rules left: ${left.join(' | ') || 'none'}\n`);
  }
  // conmon first, so it does not report exits while runc deletes the containers.
  await killAndWait(processesUsing(inst.base).filter((p) => p.cmdline[0]?.endsWith('conmon')).map((p) => p.pid));
  for (const { stateRoot, id } of runtimeContainers(inst.runRoot)) {
    try {
      execFileSync('runc', ['--root', stateRoot, 'delete', '-f', id], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // Already gone.
    }
  }
  await killAndWait(processesUsing(inst.base).map((p) => p.pid));
  unmountUnder(inst.base);
  rmSync(inst.base, { recursive: true, force: true, maxRetries: 3 });
  // The bridge plugin makes the bridge on first use and never removes it.
  try {
    execFileSync('ip', ['link', 'del', inst.bridge], { stdio: 'ignore' });
  } catch {
    // never made
  }
  // The dnsname plugin's ACCEPT of DNS on a network's bridge (this instance's and the ones
  // tests name after it: the instance's plus a letter), left when a test stopped before
  // `network rm`.
  const rules = execFileSync('iptables', ['-S', 'INPUT'], { encoding: 'utf8' }).split('\n');
  const ours = new RegExp(`^-A INPUT -i ${inst.bridge}[a-z]? .*--dport 53 `);
  for (const rule of rules.filter((r) => ours.test(r))) {
    try {
      execFileSync('iptables', ['-D', ...rule.split(' ').slice(1)], { stdio: 'ignore' });
    } catch {
      // removed meanwhile
    }
  }
}

let networks = 0;
/** A bridge name and a /24 no other instance of this or a parallel run uses (see netspace.ts). */
function uniqueNetwork(): { bridge: string; subnet: string } {
  return instanceNetwork(networks++);
}

/** berth args on inst; asserts a zero exit; returns stdout. */
export async function berthOk(inst: Instance, args: string[]): Promise<string> {
  const r = await inst.run(args);
  assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** berth args on inst; asserts exit 125 and a stderr matching message. */
export async function berthFails(inst: Instance, args: string[], message: RegExp): Promise<void> {
  const r = await inst.run(args);
  assert.equal(r.code, 125, `berth ${args.join(' ')} should fail: ${r.stdout}`);
  assert.match(r.stderr, message);
}
