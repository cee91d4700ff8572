// ContainerRuntime: the one boundary between berth and the processes that run containers
// (the OCI runtime and conmon). It owns the binaries, the runtime's global arguments and
// the runtime-side dirs (exit files, attach sockets, monitor files; the OCI runtime driver
// brings its state root), and
// offers what the container manager and the CRI call: create, start, kill, delete, exec,
// execSync, attach, reopenLog, updateResources, state.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { OciRuntime, Process, Resources, RuntimeState } from '../oci/index.js';
import { log } from '../log/index.js';
import {
  attach, attachSocketPath, createContainer, execInContainer, exitTime, followResizes, PreparedExec, readExitCode, readExitCodeAsync, reopenLog, resize, waitExitCode, wasOomKilled,
  type AttachSession, type AttachStreams, type ExecResult,
} from '../monitor/index.js';
import { nodeCrypto, removePaths } from '../sys/index.js';
import { commandExitError } from './exit-codes.js';

/** How long an attach waits for the socket of a container conmon has just created. */
const ATTACH_SOCKET_WAIT_MS = 2000;
/** A prepared exec monitor not used for this long is ended (probes come far more often). */
const PREPARED_EXEC_IDLE_MS = 5 * 60_000;

export interface RuntimeDirs {
  /** conmon's exit files, <exitDir>/<id>. */
  exitDir: string;
  /** Attach socket links; keep it short (a socket path has ~108 bytes). */
  socketDir: string;
  /** Per-container monitor files: <monitorRoot>/<id>. */
  monitorRoot: string;
}

export interface RuntimeCreateOptions {
  name: string;
  /** Holds config.json. */
  bundle: string;
  /** None: conmon keeps no log. */
  logPath?: string;
  logSizeMax?: number;
  terminal: boolean;
  stdin: boolean;
  /** false: stdin stays open for the next client after an attached one leaves. */
  stdinOnce?: boolean;
  /** Program + args conmon runs after the exit was recorded. */
  exitCommand?: string[];
  /** Seconds conmon waits before the exit command. */
  exitDelay?: number;
  signal?: AbortSignal;
}

export interface RuntimeExecOptions {
  process: Process;
  terminal?: boolean;
  stdin?: boolean;
  detach?: boolean;
  /** Seconds; the process is killed after that. */
  timeout?: number;
  attach?: AttachStreams;
  signal?: AbortSignal;
}

interface Prepared {
  exec: Promise<PreparedExec | undefined>;
  /** Its dir and attach link. */
  paths: string[];
  timer: NodeJS.Timeout;
}

export class ContainerRuntime {
  readonly oci: OciRuntime;
  /** Per container, the next exec's monitor, started ahead (see serving). */
  private readonly prepared = new Map<string, Prepared>();
  /** Exec dirs being removed after their answer went out. */
  private readonly removals = new Set<Promise<void>>();

  /**
   * serving: a long-running process (a daemon), which keeps one exec monitor ready per
   * container that had an attached exec without stdin or terminal (probes, ExecSync), and
   * removes an exec's files after it answered.
   */
  constructor(private readonly o: { oci: OciRuntime; conmon: string; dirs: RuntimeDirs; serving?: boolean }) {
    this.oci = o.oci;
  }

  get dirs(): RuntimeDirs {
    return this.o.dirs;
  }

  /** Throws Unavailable when the OCI runtime is missing (checked before anything is made). */
  check(): void {
    this.oci.binary();
  }

  monitorDir(id: string): string {
    return join(this.o.dirs.monitorRoot, id);
  }

  /** Whether the runtime holds state for the container (its release has not finished). */
  stateDir(id: string): string {
    return join(this.oci.stateRoot, id);
  }

  /** `runtime create` under a fresh conmon: resolves with the container's and conmon's pids. */
  async create(id: string, c: RuntimeCreateOptions): Promise<{ pid: number; conmonPid: number }> {
    c.signal?.throwIfAborted();
    const monitorDir = this.monitorDir(id);
    await Promise.all([
      mkdir(monitorDir, { recursive: true, mode: 0o700 }),
      mkdir(this.o.dirs.exitDir, { recursive: true, mode: 0o700 }),
      // A previous incarnation's exit file (where the dir is new there is none to race with).
      removePaths([join(this.o.dirs.exitDir, id)]),
    ]);
    try {
      return await createContainer({
        conmon: this.o.conmon,
        runtime: this.oci.binary(),
        runtimeArgs: this.oci.globalArgs(),
        id,
        name: c.name,
        bundle: c.bundle,
        persistDir: monitorDir,
        socketDir: this.o.dirs.socketDir,
        exitDir: this.o.dirs.exitDir,
        logPath: c.logPath,
        logSizeMax: c.logSizeMax,
        terminal: c.terminal,
        stdin: c.stdin,
        leaveStdinOpen: c.stdin && c.stdinOnce === false,
        exitCommand: c.exitCommand,
        exitDelay: c.exitDelay,
        pidFile: join(monitorDir, 'pidfile'),
        conmonPidFile: join(monitorDir, 'conmon.pid'),
      });
    } catch (e) {
      throw commandExitError(e);
    }
  }

  async start(id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      await this.oci.start(id, opts);
    } catch (e) {
      throw commandExitError(e);
    }
  }

  kill(id: string, signal: string | number, opts: { all?: boolean } = {}): Promise<void> {
    return this.oci.kill(id, signal, opts);
  }

  pause(id: string): Promise<void> {
    return this.oci.pause(id);
  }

  resume(id: string): Promise<void> {
    return this.oci.resume(id);
  }

  delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    this.drop(id);
    return this.oci.delete(id, opts);
  }

  state(id: string): Promise<RuntimeState | null> {
    return this.oci.state(id);
  }

  /** Runs a process in the running container under its own conmon (exec dir removed after an attached run). */
  async exec(id: string, x: RuntimeExecOptions): Promise<ExecResult> {
    x.signal?.throwIfAborted();
    const plain = this.o.serving && x.attach !== undefined && !x.detach && !x.terminal && !x.stdin;
    if (plain) {
      const ready = await this.takePrepared(id);
      if (ready) {
        const running = ready.exec.run({ processSpec: x.process, attach: x.attach!, timeout: x.timeout, signal: x.signal });
        return this.finishExec(id, running, ready.paths, x, true);
      }
    }
    const { monitor, paths } = this.newExec(id);
    const running = execInContainer({
      ...monitor,
      processSpec: x.process,
      terminal: !!x.terminal,
      stdin: !!x.stdin,
      detach: !!x.detach,
      timeout: x.timeout,
      attach: x.attach,
      signal: x.signal,
    });
    return this.finishExec(id, running, paths, x, !!plain);
  }

  /** A new exec's conmon options (its own dir, also its exit dir) and the paths it leaves. */
  private newExec(id: string) {
    const execId = nodeCrypto().randomBytes(16).toString('hex');
    const execDir = join(this.monitorDir(id), 'exec', execId);
    const monitor = {
      conmon: this.o.conmon,
      runtime: this.oci.binary(),
      runtimeArgs: this.oci.globalArgs(),
      id,
      execId,
      persistDir: execDir,
      socketDir: this.o.dirs.socketDir,
      exitDir: execDir,
    };
    return { monitor, paths: [execDir, join(this.o.dirs.socketDir, execId)] };
  }

  /**
   * The exec's result; its dir and conmon's attach symlink (which conmon leaves) go once it
   * ended or failed (one detached with the detach keys still runs and needs them). After a
   * plain exec the container's next monitor starts: after, not beside, so that it does not
   * compete with this one's runtime (probes come seconds apart).
   */
  private async finishExec(id: string, running: Promise<ExecResult>, paths: string[], x: RuntimeExecOptions, plain: boolean): Promise<ExecResult> {
    let result: ExecResult | undefined;
    try {
      result = await running;
      if (plain) this.prepare(id);
      return result;
    } catch (e) {
      throw commandExitError(e);
    } finally {
      // Kept only for a session detached from (its process runs on).
      if (!x.detach && (result === undefined || result.exitCode !== undefined)) {
        const removal = removePaths(paths);
        if (this.o.serving) this.track(removal);
        else await removal;
      }
    }
  }

  private track(p: Promise<void>): void {
    const tracked = p
      .catch((e: unknown) => log.warn('exec files not removed', { error: (e as Error).message }))
      .finally(() => this.removals.delete(tracked));
    this.removals.add(tracked);
  }

  /** The container's prepared exec monitor, if one waits (taken: the next exec prepares another). */
  private async takePrepared(id: string): Promise<{ exec: PreparedExec; paths: string[] } | undefined> {
    const p = this.untrack(id);
    if (!p) return undefined;
    const ready = await p.exec;
    if (ready && (await ready.alive())) return { exec: ready, paths: p.paths };
    this.end(p);
    return undefined;
  }

  /** Starts the container's next exec monitor in the background (one per container). */
  private prepare(id: string): void {
    if (this.prepared.has(id)) return;
    const { monitor, paths } = this.newExec(id);
    const entry = { paths } as Prepared;
    entry.exec = PreparedExec.start(monitor).catch((e: unknown) => {
      log.debug('exec monitor not prepared', { id, error: (e as Error).message });
      if (this.prepared.get(id) === entry) this.drop(id);
      return undefined;
    });
    entry.timer = setTimeout(() => {
      if (this.prepared.get(id) === entry) this.drop(id);
    }, PREPARED_EXEC_IDLE_MS).unref();
    this.prepared.set(id, entry);
  }

  /** Ends the container's prepared exec monitor, if any, and removes its files. */
  private drop(id: string): void {
    const p = this.untrack(id);
    if (p) this.end(p);
  }

  private untrack(id: string): Prepared | undefined {
    const p = this.prepared.get(id);
    if (!p) return undefined;
    this.prepared.delete(id);
    clearTimeout(p.timer);
    return p;
  }

  private end(p: Prepared): void {
    this.track(p.exec.then((ready) => ready?.discard()).then(() => removePaths(p.paths)));
  }

  /** Ends every prepared exec monitor and waits for the exec files being removed. */
  async close(): Promise<void> {
    for (const id of [...this.prepared.keys()]) this.drop(id);
    while (this.removals.size > 0) await Promise.all(this.removals);
  }

  /** Runs a process to its end and returns its output (CRI ExecSync). */
  async execSync(id: string, process: Process, opts: { timeout?: number; signal?: AbortSignal } = {}): Promise<{ exitCode: number; stdout: Buffer; stderr: Buffer }> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const stdout = new PassThrough().on('data', (d: Buffer) => out.push(d));
    const stderr = new PassThrough().on('data', (d: Buffer) => err.push(d));
    const r = await this.exec(id, { process, timeout: opts.timeout, signal: opts.signal, attach: { stdout, stderr } });
    return { exitCode: r.exitCode ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
  }

  /** Only for a created or running container: its monitor runs, so its socket is there or about to be. */
  async attach(id: string, streams: AttachStreams): Promise<AttachSession> {
    const session = await attach(attachSocketPath(this.o.dirs.socketDir, id), streams, { waitMs: ATTACH_SOCKET_WAIT_MS });
    const stopResizing = followResizes(streams, this.monitorDir(id));
    session.done.then(stopResizing, stopResizing);
    return session;
  }

  resize(id: string, size: { rows: number; cols: number }): void {
    resize(this.monitorDir(id), size);
  }

  /** Has conmon reopen the container's log file (after a rotation by the CRI's kubelet). */
  reopenLog(id: string): void {
    reopenLog(this.monitorDir(id));
  }

  /** New cgroup limits for a running container (runtime-spec linux.resources). */
  async updateResources(id: string, resources: Partial<Resources>): Promise<void> {
    const file = join(this.monitorDir(id), 'resources.json');
    await writeFile(file, JSON.stringify(resources));
    try {
      await this.oci.update(id, file);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** The exit code conmon recorded, if any (async: listings read many). */
  exitCode(id: string): Promise<number | undefined> {
    return readExitCodeAsync(this.o.dirs.exitDir, id);
  }

  /** When conmon saw the process exit (its exit file's time), if it recorded one. */
  exitTime(id: string): Promise<number | undefined> {
    return exitTime(this.o.dirs.exitDir, id);
  }

  exitCodeNow(id: string): number | undefined {
    return readExitCode(this.o.dirs.exitDir, id);
  }

  /** Resolves when conmon writes the exit file, or `recorded` knows the code. */
  waitExit(id: string, signal?: AbortSignal, recorded?: () => number | undefined): Promise<number> {
    return waitExitCode(this.o.dirs.exitDir, id, signal, recorded);
  }

  oomKilled(id: string): boolean {
    return wasOomKilled(this.monitorDir(id));
  }

  /** Removes the monitor's files of a container that is gone. */
  async forget(id: string): Promise<void> {
    this.drop(id);
    // conmon's attach links of execs cut short (their berth process killed) point into the dir.
    const execs = await readdir(join(this.monitorDir(id), 'exec')).catch(() => []);
    await removePaths([this.monitorDir(id), join(this.o.dirs.socketDir, id), join(this.o.dirs.exitDir, id), ...execs.map((e) => join(this.o.dirs.socketDir, e))]);
  }

  version(): Promise<string> {
    return this.oci.version();
  }
}
