// The real berthd (bin/berthd, the bundle) as a child process for one test: on a socket in
// the instance's temp dir, with the instance's root, run root and config dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { BERTH, type Instance } from '../helpers/index.js';
import { criClient, type CriClient } from './client.js';

export const BERTHD = join(BERTH, '..', 'berthd');

type After = { after: (fn: () => unknown) => void };

export interface Berthd {
  socket: string;
  child: ChildProcess;
  cri: CriClient;
  /** stderr so far: berthd's JSON log lines. */
  logs(): string;
  /** Sends sig and resolves with the exit code (128+n for a signal death). */
  stop(sig?: NodeJS.Signals): Promise<number>;
  exited: Promise<number>;
}

export interface BerthdOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  socket?: string;
  /** Do not wait for it to serve (for a start that must fail). */
  noWait?: boolean;
}

export async function startBerthd(t: After, inst: Instance, o: BerthdOptions = {}): Promise<Berthd> {
  const socket = o.socket ?? join(inst.base, 'berth.sock');
  const child = spawn(
    BERTHD,
    ['--root', inst.root, '--runroot', inst.runRoot, '--config-dir', inst.configDir, '--socket', socket, '--log-level', 'debug', ...(o.args ?? [])],
    { env: { ...inst.env, ...o.env }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0))));
  const cri = criClient(socket);
  const d: Berthd = {
    socket,
    child,
    cri,
    logs: () => stderr,
    exited,
    async stop(sig = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      return exited;
    },
  };
  t.after(async () => {
    cri.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  if (o.noWait) return d;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`berthd exited with ${child.exitCode}: ${stderr}`);
    if (existsSync(socket)) {
      try {
        await cri.runtime('Version', {}, { timeoutMs: 2000 });
        return d;
      } catch {
        // not serving yet
      }
    }
    if (Date.now() > deadline) throw new Error(`berthd did not start serving: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
