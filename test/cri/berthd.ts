// The real berthd (bin/berthd, the bundle) as a child process for one test: on a socket in
// the instance's temp dir, with the instance's root, run root and config dir. With
// BERTH_CRI_PEER=containerd the suite targets containerd instead (containerd.ts): the same
// RPCs, to show that the tests encode CRI behaviour, not berth's.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { BERTH, type Instance } from '../helpers/index.js';
import { criClient, type CriClient } from './client.js';
import { startContainerd, type Containerd } from './containerd.js';

export const BERTHD = join(BERTH, '..', 'berthd');

if (process.env.BERTH_CRI_PEER && process.env.BERTH_CRI_PEER !== 'containerd') throw new Error(`BERTH_CRI_PEER=${process.env.BERTH_CRI_PEER}: only containerd is known`);
/** The suite runs against containerd, not berthd. */
export const PEER = process.env.BERTH_CRI_PEER === 'containerd';

/**
 * Guards asserts about berth itself (its store, CLI, logs, flags): true on berthd; on the
 * peer false, and why is the reason they cannot hold there.
 */
export function berthOnly(why: string): boolean {
  if (PEER && !why) throw new Error('berthOnly needs a reason');
  return !PEER;
}

/** What a test expects where berth and containerd differ: berth's value, or on the peer containerd's; why says why. */
export function peerDiffers<T>(berth: T, containerd: T, why: string): T {
  if (!why) throw new Error('peerDiffers needs a reason');
  return PEER ? containerd : berth;
}

/** Why a bad request answers UNKNOWN on containerd: the one reason most such differences share. */
export const UNTYPED =
  'a malformed request is INVALID_ARGUMENT in gRPC; containerd 1.6 returns plain Go errors for its checks, which grpc-go sends as UNKNOWN';

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
  /** Set when the target is the containerd peer. */
  peer?: Containerd;
}

export interface BerthdOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  socket?: string;
  /** Do not wait for it to serve (for a start that must fail). */
  noWait?: boolean;
}

/** berthd's log once a line matches re, at most timeoutMs on: its stderr comes apart from the answers, so a line may follow the answer it logs. */
export async function logged(d: Berthd, re: RegExp, timeoutMs = 5000): Promise<string> {
  for (const end = Date.now() + timeoutMs; !re.test(d.logs()) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  return d.logs();
}

export async function startBerthd(t: After, inst: Instance, o: BerthdOptions = {}): Promise<Berthd> {
  if (PEER) return startPeer(t, inst, o);
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
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    // Pods a test left behind: their networks go through the CRI while berthd still serves
    // (the instance's cleanup cannot tear a pod's CNI attachments down).
    if (child.exitCode === null && child.signalCode === null) {
      const left = await cri.runtime('ListPodSandbox', {}, { timeoutMs: 5000 }).catch(() => ({ items: [] }));
      for (const p of left.items as { id: string }[]) {
        await cri.runtime('StopPodSandbox', { pod_sandbox_id: p.id }, { timeoutMs: 30_000 }).catch(() => undefined);
        await cri.runtime('RemovePodSandbox', { pod_sandbox_id: p.id }, { timeoutMs: 30_000 }).catch(() => undefined);
      }
    }
    cri.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  })());
  t.after(stop);
  inst.stopFirst(stop);
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

/** containerd in berthd's place: berthd's flags do not apply; the registries a test marks insecure do. */
async function startPeer(t: After, inst: Instance, o: BerthdOptions): Promise<Berthd> {
  const conf = o.env?.CONTAINERS_REGISTRIES_CONF;
  const insecure = conf ? [...readFileSync(conf, 'utf8').matchAll(/^location = "([^"]+)"$/gm)].map((m) => m[1]!) : [];
  const c = await startContainerd(t, inst, { insecure, socket: o.socket });
  return { socket: c.socket, child: c.child, cri: c.cri, logs: c.logs, stop: () => c.stop(), exited: c.exited, peer: c };
}

/** The busybox test image for d's pods: imported by berth's CLI, or pulled by the peer from its registry. */
export async function busyboxImage(d: Berthd, inst: Instance): Promise<string> {
  if (!d.peer) return inst.importBusybox();
  await d.cri.image('PullImage', { image: { image: d.peer.images.busybox } }, { timeoutMs: 120_000 });
  return d.peer.images.busybox;
}
