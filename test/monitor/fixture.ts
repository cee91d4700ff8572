// Test sandbox: a busybox rootfs, runc bundles from `runc spec`, a private runc root, and
// cleanup of every container, conmon and directory made here.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { ConmonCreateOptions } from '../../src/monitor/index.js';

const run = promisify(execFile);
export const RUNC = '/usr/bin/runc';
const APPLETS = ['sh', 'cat', 'echo', 'sleep', 'stty', 'printf', 'tty', 'true', 'test', 'ls'];

export interface Ctr {
  id: string;
  bundle: string;
  opts: ConmonCreateOptions & { logPath: string };
}

export interface ProcessOverrides {
  args: string[];
  terminal?: boolean;
}

export class Sandbox {
  readonly dir: string;
  readonly runcRoot: string;
  readonly socketDir: string;
  private readonly rootfs: string;
  private readonly ids: string[] = [];
  private readonly conmonPidFiles: string[] = [];

  constructor() {
    // Short: the attach socket path (<socketDir>/<64 hex>/attach) must fit in sun_path.
    this.dir = mkdtempSync('/tmp/bm-');
    this.runcRoot = join(this.dir, 'runc');
    this.socketDir = join(this.dir, 's');
    this.rootfs = join(this.dir, 'rootfs');
    for (const d of ['bin', 'tmp', 'proc', 'dev', 'sys']) mkdirSync(join(this.rootfs, d), { recursive: true });
    copyFileSync('/bin/busybox', join(this.rootfs, 'bin', 'busybox'));
    for (const a of APPLETS) symlinkSync('busybox', join(this.rootfs, 'bin', a));
  }

  runc(...args: string[]): Promise<{ stdout: string; stderr: string }> {
    return run(RUNC, ['--root', this.runcRoot, ...args]);
  }

  /** Makes a bundle (config.json from `runc spec`, rootfs shared read-only) and options. */
  async bundle(p: ProcessOverrides, extra: Partial<ConmonCreateOptions> = {}): Promise<Ctr> {
    const id = randomBytes(32).toString('hex');
    const cdir = join(this.dir, 'c', id.slice(0, 12));
    const bundle = join(cdir, 'bundle');
    mkdirSync(bundle, { recursive: true });
    await run(RUNC, ['spec', '--bundle', bundle]);
    const cfgPath = join(bundle, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
    cfg.root = { path: this.rootfs, readonly: true };
    cfg.process.args = p.args;
    cfg.process.terminal = p.terminal ?? false;
    cfg.process.env = ['PATH=/bin', 'TERM=xterm'];
    cfg.hostname = 'monitor-test';
    // A writable /tmp inside the container.
    cfg.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] });
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const persistDir = join(cdir, 'persist');
    const opts: ConmonCreateOptions & { logPath: string } = {
      conmon: 'conmon',
      runtime: RUNC,
      runtimeArgs: ['--root', this.runcRoot],
      id,
      name: `test-${id.slice(0, 8)}`,
      bundle,
      persistDir,
      socketDir: this.socketDir,
      exitDir: join(this.dir, 'exits'),
      logPath: join(cdir, 'ctr.log'),
      terminal: p.terminal ?? false,
      stdin: false,
      pidFile: join(persistDir, 'pid'),
      conmonPidFile: join(persistDir, 'conmon.pid'),
      ...extra,
    };
    this.track(id, opts.conmonPidFile);
    return { id, bundle, opts };
  }

  track(id: string, conmonPidFile?: string): void {
    this.ids.push(id);
    if (conmonPidFile) this.conmonPidFiles.push(conmonPidFile);
  }

  trackConmon(pidFile: string): void {
    this.conmonPidFiles.push(pidFile);
  }

  async cleanup(): Promise<void> {
    for (const id of this.ids) await this.runc('delete', '-f', id).catch(() => {});
    for (const f of this.conmonPidFiles) {
      if (!existsSync(f)) continue;
      const pid = Number(readFileSync(f, 'utf8'));
      if (pid > 0 && isConmon(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function isConmon(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'conmon';
  } catch {
    return false;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); it is not alive for our purposes.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Collects everything written to it. */
export function collector(): NodeJS.WritableStream & { text(): string; waitFor(re: RegExp, ms?: number): Promise<void> } {
  const chunks: Buffer[] = [];
  const waiters: (() => void)[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
      chunks.push(Buffer.from(chunk));
      for (const f of waiters.splice(0)) f();
      cb();
    },
  });
  const text = () => Buffer.concat(chunks).toString();
  return Object.assign(w, {
    text,
    async waitFor(re: RegExp, ms = 10000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!re.test(text())) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${re} in ${JSON.stringify(text())}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  });
}

/** Resolves within ms or rejects, so a hang fails the test instead of stalling it. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]);
}
