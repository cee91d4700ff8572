// Running containers and execs under conmon (API version 1).
//
// Where the installed conmon (2.1.x) puts things:
//   <bundle>/attach, <bundle>/ctl, <bundle>/winsz   attach socket, control and resize fifos
//                                                   (-b is the exec dir for an exec)
//   <socketDir>/<cuuid> → <bundle>                  symlink keeping the socket path short;
//                                                   removed when conmon exits
//   <exitDir>/<cid>, <persistDir>/exit              exit code (cid is the container id, also
//                                                   for an exec: give each exec its own exitDir)
//   <persistDir>/oom                                created on an OOM kill
//   <persistDir>/ctl → <bundle>/ctl                 our link, so resize(persistDir) works
import { closeSync, writeFileSync } from 'node:fs';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { BerthError, invalidArgument } from '../errors/index.js';
import { log } from '../log/index.js';
import { readSmallFile, removePaths } from '../sys/index.js';
import { attachFd, attachSocketPath, connectAttachSocket, type AttachResult, type AttachStreams } from './attach.js';
import { resize, type TerminalSize } from './ctl.js';
import { SyncPipeReader, runtimeErrorText, type SyncMessage } from './syncpipe.js';
import { resolveExecutable, spawnConmon, type SpawnedConmon } from './spawn.js';

export interface ConmonCreateOptions {
  /** conmon binary name or path. */
  conmon: string;
  /** Absolute path of runc/crun. */
  runtime: string;
  /** Global runtime arguments, e.g. ['--root', '/run/berth/runc']. */
  runtimeArgs: string[];
  /** Container id (the runtime's id too). */
  id: string;
  name: string;
  /** Directory holding config.json; conmon also puts attach, ctl and winsz here. */
  bundle: string;
  /** Per-container dir for conmon's own files: exit, oom, and ctl (a link to <bundle>/ctl);
   *  conmon runs with it as cwd. */
  persistDir: string;
  /** Base dir for attach socket symlinks; keep it short (≤ 35 bytes for 64-hex ids). */
  socketDir: string;
  /** conmon writes <exitDir>/<id> with the exit code. */
  exitDir: string;
  /** CRI-format log file; none: no log (the 'none' log driver). */
  logPath?: string;
  /** Bytes; undefined or -1 = unlimited. */
  logSizeMax?: number;
  /** Allocate a PTY (config.json's process.terminal must agree). */
  terminal: boolean;
  /** Keep the container's stdin open for attach. */
  stdin: boolean;
  /** Keep the container's stdin open when an attached client goes away. */
  leaveStdinOpen?: boolean;
  /** Program + args conmon runs after the container exited and its exit file was written. */
  exitCommand?: string[];
  /** Seconds conmon waits after the exit before running exitCommand. */
  exitDelay?: number;
  /** Container pid file (written by the runtime). */
  pidFile: string;
  /** conmon's own pid file. */
  conmonPidFile: string;
}

/** A failure reported by the OCI runtime through conmon. */
export class RuntimeError extends BerthError {
  /** The runtime's complaint, e.g. `exec: "nosuch": executable file not found in $PATH`. */
  readonly runtimeMessage: string;
  /** 127: command not found, 126: not executable, undefined: anything else (like docker/podman). */
  readonly exitCodeHint?: 126 | 127;
  constructor(runtimeMessage: string) {
    const hint = commandFailureHint(runtimeMessage);
    super(hint === 127 ? 'NotFound' : hint === 126 ? 'PermissionDenied' : 'FailedPrecondition', runtimeMessage);
    this.runtimeMessage = runtimeMessage;
    this.exitCodeHint = hint;
  }
}

function commandFailureHint(msg: string): 126 | 127 | undefined {
  if (/executable file not found|no such file or directory/i.test(msg)) return 127;
  if (/permission denied|is a directory|exec format error/i.test(msg)) return 126;
  return undefined;
}

/** conmon writes <persistDir>/exit and <persistDir>/oom itself; the exit dir must not sit there. */
function checkDirs(persistDir: string, exitDir: string): void {
  if (resolve(exitDir) === resolve(persistDir, 'exit') || resolve(exitDir) === resolve(persistDir, 'oom')) {
    throw invalidArgument(`exit dir ${exitDir} collides with conmon's own files in ${persistDir}`);
  }
}

/** The options every conmon invocation (container or exec) takes: assembled only here. */
function conmonArgs(o: {
  cid: string;
  uuid: string;
  name: string;
  runtime: string;
  runtimeArgs: string[];
  bundle: string;
  pidFile: string;
  conmonPidFile: string;
  persistDir: string;
  exitDir: string;
  socketDir: string;
  logPath?: string;
  logSizeMax?: number;
  terminal: boolean;
  stdin: boolean;
}): string[] {
  return [
    '--api-version', '1',
    '-c', o.cid,
    '-u', o.uuid,
    '-n', o.name,
    '-r', o.runtime,
    ...o.runtimeArgs.flatMap((a) => ['--runtime-arg', a]),
    '-b', o.bundle,
    '-p', o.pidFile,
    '-P', o.conmonPidFile,
    '--persist-dir', o.persistDir,
    '--exit-dir', o.exitDir,
    '--socket-dir-path', o.socketDir,
    '-l', o.logPath ? `k8s-file:${o.logPath}` : 'none',
    ...(o.logSizeMax !== undefined && o.logSizeMax > 0 ? ['--log-size-max', String(o.logSizeMax)] : []),
    ...(o.terminal ? ['-t'] : []),
    ...(o.stdin ? ['-i'] : []),
  ];
}

function exitCommandFlags(cmd: string[] | undefined): string[] {
  if (!cmd || cmd.length === 0) return [];
  return ['--exit-command', resolveExecutable(cmd[0]), ...cmd.slice(1).flatMap((a) => ['--exit-command-arg', a])];
}

/** The first message, or an error that says why there is none. */
async function firstMessage(c: SpawnedConmon, reader: SyncPipeReader, what: string): Promise<SyncMessage> {
  const [msg, code] = await Promise.all([reader.next(), c.exited]);
  if (msg) return msg;
  const detail = c.stderr() || `conmon exited with status ${code}`;
  throw new BerthError('Internal', `${what}: ${detail}`);
}

function failure(msg: SyncMessage, what: string): BerthError {
  if (msg.message) return new RuntimeError(runtimeErrorText(msg.message));
  return new BerthError('Internal', `${what}: conmon reported status ${msg.data} without a message`);
}

/** conmon makes its ctl fifo in the bundle; a link in persistDir lets resize(persistDir) find it. */
async function linkCtl(persistDir: string, bundle: string): Promise<void> {
  if (resolve(persistDir) === resolve(bundle)) return;
  const link = join(persistDir, 'ctl');
  await removePaths([link]);
  await symlink(join(resolve(bundle), 'ctl'), link);
}

async function readPid(path: string): Promise<number> {
  try {
    const pid = Number.parseInt(((await readSmallFile(path, 64)) ?? '').toString().trim(), 10);
    if (pid > 0) return pid;
  } catch {
    // reported below
  }
  throw new BerthError('Internal', `conmon did not write its pid file ${path}`);
}

/**
 * Spawns conmon detached (it survives the calling process), waits for the sync pipe and
 * returns the container's pid (state "created": the caller runs `runtime start`) and
 * conmon's pid. A runtime failure rejects with a RuntimeError carrying the runtime's message.
 */
export async function createContainer(o: ConmonCreateOptions): Promise<{ pid: number; conmonPid: number }> {
  checkDirs(o.persistDir, o.exitDir);
  await Promise.all([o.persistDir, o.socketDir, o.exitDir, ...(o.logPath ? [dirname(o.logPath)] : [])].map((d) => mkdir(d, { recursive: true })));
  const args = [
    ...conmonArgs({ ...o, cid: o.id, uuid: o.id }),
    ...(o.leaveStdinOpen ? ['--leave-stdin-open'] : []),
    ...exitCommandFlags(o.exitCommand),
    ...(o.exitCommand && o.exitDelay ? ['--exit-delay', String(o.exitDelay)] : []),
  ];
  await linkCtl(o.persistDir, o.bundle);
  const c = await spawnConmon(o.conmon, args, { cwd: o.persistDir });
  try {
    const reader = new SyncPipeReader(c.sync);
    const msg = await firstMessage(c, reader, `create container ${o.id}`);
    if (msg.data <= 0) {
      // conmon exits without removing its socket-dir symlink on this path.
      await rm(join(o.socketDir, o.id), { force: true });
      throw failure(msg, `create container ${o.id}`);
    }
    return { pid: msg.data, conmonPid: await readPid(o.conmonPidFile) };
  } finally {
    c.release();
  }
}

/** What an exec's conmon is started with. */
export interface ExecMonitorOptions {
  conmon: string;
  runtime: string;
  runtimeArgs: string[];
  /** The container to run in. */
  id: string;
  /** Unique per exec; names the attach symlink in socketDir. */
  execId: string;
  /** Per-exec dir: process.json, pid, conmon.pid, attach, ctl, winsz, exit and oom (conmon's). */
  persistDir: string;
  /** Base dir for attach socket symlinks (may be shared with containers). */
  socketDir: string;
  /** Per-exec dir (not <persistDir>/exit): conmon names the exit file after the container id. */
  exitDir: string;
  terminal: boolean;
  stdin: boolean;
  /** CRI-format log of the exec's output; none when undefined. */
  logPath?: string;
}

export interface ExecOptions extends ExecMonitorOptions {
  /** OCI runtime-spec "process" object; its terminal field is set from `terminal`. */
  processSpec: object;
  /** Resolve once the process started (output only goes to logPath, if any). */
  detach: boolean;
  /** Seconds; the process is killed after that and the exec rejects DeadlineExceeded. */
  timeout?: number;
  /** Streams for an attached exec (ignored when detach). */
  attach?: AttachStreams;
  /** Aborting kills the exec'd process (its exit then ends the exec as usual). */
  signal?: AbortSignal;
}

/** A process to run under an exec monitor that is ready for it. */
export interface ExecRun {
  processSpec: object;
  attach: AttachStreams;
  timeout?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  pid: number;
  conmonPid: number;
  /** Set when the exec ran to its end attached (undefined after detach). */
  exitCode?: number;
}

/** How long output may keep arriving after the exit code before the session is cut. */
const DRAIN_AFTER_EXIT_MS = 5000;
/**
 * An attached exec's timeout is kept here (the process killed when it passes); conmon gets
 * it this much later, for a caller that dies before.
 */
const TIMEOUT_BACKSTOP_S = 5;

const specPathIn = (persistDir: string) => join(persistDir, 'process.json');
const conmonPidIn = (persistDir: string) => join(persistDir, 'conmon.pid');
/** A small file on the run root: written at once, without two trips through the pool. */
const writeSpec = (persistDir: string, spec: object, terminal: boolean) => writeFileSync(specPathIn(persistDir), JSON.stringify({ ...spec, terminal }));

/** SIGKILL to the exec'd process when signal aborts; returns the stop. */
function killOnAbort(pid: number, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => {};
  const kill = () => killProcess(pid);
  if (signal.aborted) kill();
  else signal.addEventListener('abort', kill, { once: true });
  return () => signal.removeEventListener('abort', kill);
}

function killProcess(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** conmon's own timeout (-T) reported as the exit. */
const conmonTimedOut = (exit: SyncMessage) => exit.data < 0 && !!exit.message && /timed out/i.test(exit.message);

/** spec: the process, for a monitor that runs it at once (an attached one waits for it: runReady). */
async function spawnExecMonitor(o: ExecMonitorOptions, x: { attached: boolean; timeout?: number; spec?: object }): Promise<SpawnedConmon> {
  checkDirs(o.persistDir, o.exitDir);
  const dirs = new Set([o.persistDir, o.socketDir, o.exitDir, ...(o.logPath ? [dirname(o.logPath)] : [])]);
  await Promise.all([...dirs].map((d) => mkdir(d, { recursive: true })));
  if (x.spec) writeSpec(o.persistDir, x.spec, o.terminal);
  const args = [
    ...conmonArgs({
      ...o, cid: o.id, uuid: o.execId, name: o.execId, bundle: o.persistDir, pidFile: join(o.persistDir, 'pid'), conmonPidFile: conmonPidIn(o.persistDir),
      stdin: o.stdin && x.attached,
    }),
    '-e', '--exec-process-spec', specPathIn(o.persistDir),
    ...(x.timeout && x.timeout > 0 ? ['-T', String(Math.ceil(x.timeout))] : []),
    ...(x.attached ? ['--exec-attach'] : []),
  ];
  return spawnConmon(o.conmon, args, { cwd: o.persistDir, withAttachPipe: x.attached });
}

/** An attached exec's conmon, forked, connected on its attach socket, waiting for the word to run the runtime. */
interface ReadyMonitor {
  c: SpawnedConmon;
  reader: SyncPipeReader;
  fd: number;
  conmonPid: Promise<number>;
  what: string;
}

/**
 * conmon waits for a first byte before forking, reports on the attach pipe once its socket
 * listens, then waits for a second byte before it runs the runtime (which reads the process
 * spec only then) — so we are connected before the process can write anything.
 */
async function readyMonitor(c: SpawnedConmon, o: ExecMonitorOptions): Promise<ReadyMonitor> {
  const what = `exec in container ${o.id}`;
  const reader = new SyncPipeReader(c.sync);
  c.start!.write('0');
  const ready = await firstMessage(c, new SyncPipeReader(c.attach!), what);
  if (ready.data < 0) throw failure(ready, what);
  const fd = await connectAttachSocket(attachSocketPath(o.socketDir, o.execId));
  const conmonPid = readPid(conmonPidIn(o.persistDir));
  conmonPid.catch(() => {});
  return { c, reader, fd, conmonPid, what };
}

/** Runs r's process under a ready monitor with its streams attached, to its exit (or a detach). */
async function runReady(m: ReadyMonitor, o: { persistDir: string; terminal: boolean }, r: ExecRun): Promise<ExecResult> {
  let session: Promise<AttachResult> | undefined;
  let stopKilling = () => {};
  let stopResizing = () => {};
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const cutSession = new AbortController();
  try {
    writeSpec(o.persistDir, r.processSpec, o.terminal);
    const outer = r.attach.signal;
    session = attachFd(m.fd, { ...r.attach, signal: outer ? AbortSignal.any([outer, cutSession.signal]) : cutSession.signal });
    session.catch(() => {});
    stopResizing = followResizes(r.attach, o.persistDir);
    m.c.start!.write('1');
    const started = await firstMessage(m.c, m.reader, m.what);
    if (started.data <= 0) throw failure(started, m.what);
    const pid = started.data;
    stopKilling = killOnAbort(pid, r.signal);
    if (r.timeout && r.timeout > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        killProcess(pid);
      }, r.timeout * 1000);
    }
    const ended = m.reader.next();
    const how = await Promise.race([session, ended.then(() => 'exit' as const)]);
    if (how === 'detached') return { pid, conmonPid: await m.conmonPid };
    const exit = await ended;
    if (!exit) throw new BerthError('Internal', `${m.what}: conmon exited without reporting the exit code`);
    const drain = setTimeout(() => cutSession.abort(), DRAIN_AFTER_EXIT_MS);
    await session.finally(() => clearTimeout(drain));
    if (timedOut || conmonTimedOut(exit)) {
      throw new BerthError('DeadlineExceeded', `exec timed out after ${r.timeout}s`);
    }
    if (exit.data < 0) throw failure(exit, m.what);
    return { pid, conmonPid: await m.conmonPid, exitCode: exit.data };
  } catch (e) {
    if (!session) closeSync(m.fd);
    cutSession.abort();
    await session?.catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
    stopKilling();
    stopResizing();
    m.c.release();
  }
}

/**
 * Runs a process in a running container through conmon (--exec). Detached: resolves once
 * started. Otherwise streams stdio (when o.attach) and resolves with the exit code when the
 * process exits; a background child still holding stdio open does not keep it waiting.
 */
export async function execInContainer(o: ExecOptions): Promise<ExecResult> {
  if (!o.detach && o.attach) {
    const c = await spawnExecMonitor(o, { attached: true, timeout: o.timeout && o.timeout + TIMEOUT_BACKSTOP_S });
    let m: ReadyMonitor;
    try {
      m = await readyMonitor(c, o);
    } catch (e) {
      c.release();
      throw e;
    }
    return runReady(m, o, { processSpec: o.processSpec, attach: o.attach, timeout: o.timeout, signal: o.signal });
  }
  const c = await spawnExecMonitor(o, { attached: false, timeout: o.timeout, spec: o.processSpec });
  const what = `exec in container ${o.id}`;
  let stopKilling = () => {};
  try {
    const reader = new SyncPipeReader(c.sync);
    const started = await firstMessage(c, reader, what);
    if (started.data <= 0) throw failure(started, what);
    const pid = started.data;
    if (!o.detach) stopKilling = killOnAbort(pid, o.signal);
    const conmonPid = await readPid(conmonPidIn(o.persistDir));
    if (o.detach) return { pid, conmonPid };
    const exit = await reader.next();
    if (!exit) throw new BerthError('Internal', `${what}: conmon exited without reporting the exit code`);
    if (conmonTimedOut(exit)) {
      throw new BerthError('DeadlineExceeded', `exec timed out after ${o.timeout}s`);
    }
    if (exit.data < 0) throw failure(exit, what);
    return { pid, conmonPid, exitCode: exit.data };
  } finally {
    stopKilling();
    c.release();
  }
}

/**
 * An exec's conmon started before its request, for the shape most execs have (attached,
 * no stdin, no terminal: the CRI's ExecSync and probes): forked, connected on its attach
 * socket and waiting, so that conmon's own start is off the exec's path. Used once.
 */
export class PreparedExec {
  private used = false;

  private constructor(
    private readonly options: ExecMonitorOptions,
    private readonly m: ReadyMonitor,
  ) {}

  static async start(o: Omit<ExecMonitorOptions, 'terminal' | 'stdin' | 'logPath'>): Promise<PreparedExec> {
    const options = { ...o, terminal: false, stdin: false };
    // Not recursive: a container whose monitor dir went (removed meanwhile) gets none.
    await mkdir(o.persistDir);
    const c = await spawnExecMonitor(options, { attached: true });
    try {
      return new PreparedExec(options, await readyMonitor(c, options));
    } catch (e) {
      c.release();
      throw e;
    }
  }

  /** Whether its conmon still waits (it was not killed meanwhile). */
  async alive(): Promise<boolean> {
    try {
      process.kill(await this.m.conmonPid, 0);
      return true;
    } catch {
      return false;
    }
  }

  run(r: ExecRun): Promise<ExecResult> {
    if (this.used) throw new BerthError('Internal', 'a prepared exec runs once');
    this.used = true;
    return runReady(this.m, this.options, r);
  }

  /** Ends it unused: its conmon is killed (the caller removes its dir and socket link). */
  async discard(): Promise<void> {
    if (this.used) return;
    this.used = true;
    closeSync(this.m.fd);
    try {
      process.kill(await this.m.conmonPid, 'SIGKILL');
    } catch {
      // gone already
    }
    this.m.c.release();
  }
}

/**
 * Passes the client's terminal sizes to conmon (the ctl fifo in dir) while a session lasts;
 * returns the stop. A size conmon cannot take (it is gone) is dropped: the session ends soon.
 */
export function followResizes(streams: AttachStreams, dir: string): () => void {
  const source = streams.resize;
  if (!source) return () => {};
  const onResize = (size: TerminalSize) => {
    try {
      resize(dir, size);
    } catch (e) {
      log.debug('resize not passed on', { dir, error: (e as Error).message });
    }
  };
  source.on('resize', onResize);
  return () => source.off('resize', onResize);
}
