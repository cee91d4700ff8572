// The host's missing system calls, behind one small module: thin wrappers over the native
// addon in ./native (built into build/berth_sys.node); errors are Node-style
// (err.code = 'ENOENT' …, err.syscall, err.path). Nothing here blocks on a thread of
// libuv's pool: sockets are polled on the event loop, chdir+mount runs on its own thread,
// and small file work (removePaths, readSmallFile) takes one short step on the pool.
import { readFileSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { load, type PollHandle } from './addon.js';
export { loadAddon } from './addon.js';
import { commandFailed, runProcess } from './spawn.js';

export { makeDirsSync, writeFileAtomic, writeFileAtomicSync, tempPathFor, type AtomicWriteOptions } from './files.js';
export { findExecutable, DEFAULT_SEARCH_PATH } from './path.js';
export { treeUsage, type TreeUsage } from './usage.js';
export { parkPoint } from './park.js';
export { spawnProcess, runProcess, commandFailed, SpawnedProcess, type SpawnOptions, type StdioSpec, type ProcessExit, type RunOptions, type RunResult } from './spawn.js';
export { bufferChurn } from './buffer-churn.js';
export { parseMountInfo, unescapeMountInfo, readMountInfo, isMountPoint, onSharedMount, mountPropagation, type MountInfo } from './mountinfo.js';

export const MS_BIND = 0x1000;
export const MS_PRIVATE = 1 << 18;
export const MNT_DETACH = 0x2;
const SHUT_WR = 1;

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

/** Gives free heap pages back to the system (glibc's malloc_trim). */
export function mallocTrim(): boolean {
  return load().mallocTrim();
}

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  load().mount(source, target, fstype, flags, data);
}

/**
 * mount(2) with relative paths in source and data (overlay's lowerdir=…) resolved against
 * dir, which keeps long option strings short. The process's cwd never changes: the chdir
 * happens on a thread of the addon's own that has unshared its fs attributes.
 */
export function mountAt(dir: string, source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): Promise<void> {
  return load().mountAt(dir, source, target, fstype, flags, data);
}

/**
 * Removes each path like `rm -rf` (a symlink itself, never its target; a missing path is
 * fine), all in one step on libuv's threadpool: for the few files of a container's monitor
 * and run dirs, where fs.promises.rm would make a round trip per system call.
 */
export async function removePaths(paths: string[]): Promise<void> {
  if (paths.length > 0) await load().removePaths(paths);
}

/** Up to max bytes of a small file, read in one threadpool step; undefined when it does not exist. */
export async function readSmallFile(path: string, max = 4096): Promise<Buffer | undefined> {
  return (await load().readSmallFile(path, max)) ?? undefined;
}

/** Unmounts target; a path that is not mounted (EINVAL) or gone (ENOENT) is not an error. */
export function unmount(target: string, flags = 0): void {
  try {
    load().umount2(target, flags);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw e;
  }
}

export function mknod(path: string, mode: number, major: number, minor: number): void {
  load().mknod(path, mode, major, minor);
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  load().lsetxattr(path, name, value);
}

export function lgetxattr(path: string, name: string): Buffer | null {
  return load().lgetxattr(path, name);
}

export function llistxattr(path: string): string[] {
  return load().llistxattr(path);
}

/**
 * Connects to a SOCK_SEQPACKET unix socket (conmon's attach socket); resolves with its fd.
 * The connect runs on libuv's pool (it waits while the listener's backlog is full); a path
 * too long for a socket address is reached through its directory's fd.
 */
export async function seqpacketConnect(path: string): Promise<number> {
  return load().seqpacketConnect(path);
}

export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;
const EAGAIN = -11;

/**
 * A connected SOCK_SEQPACKET socket, made non-blocking and polled on the event loop (libuv's
 * uv_poll): no thread waits on it, however many are open. onReady gets the events that
 * are ready (POLL_READABLE | POLL_WRITABLE) among those asked for with watch(), or an error.
 */
export class PacketSocket {
  private readonly handle: PollHandle;
  private closing?: Promise<void>;

  /** Takes ownership of fd: close() closes it. */
  constructor(fd: number, onReady: (events: number, error?: NodeJS.ErrnoException) => void) {
    this.handle = load().pollOpen(fd, (events, status) => {
      if (status >= 0) return onReady(events);
      const code = getSystemErrorName(status);
      onReady(0, Object.assign(new Error(`poll: ${code}`), { code, errno: status, syscall: 'poll' }));
    });
  }

  /** Which readiness to report (0: none); level-triggered, so stop watching what you cannot take. */
  watch(events: number): void {
    if (!this.closing) load().pollWatch(this.handle, events);
  }

  /** Reads one packet into buf: its length, 0 at end of stream, -1 when none is waiting. */
  recv(buf: Buffer): number {
    const n = load().recvPacket(this.handle, buf);
    return n === EAGAIN ? -1 : n;
  }

  /** Sends buf as one packet: the bytes sent, or -1 when the socket's buffer is full. */
  send(buf: Buffer): number {
    const n = load().sendPacket(this.handle, buf);
    return n === EAGAIN ? -1 : n;
  }

  /** Ends our direction (the peer reads end of stream); reading goes on. */
  shutdownWrite(): void {
    if (!this.closing) load().pollShutdown(this.handle, SHUT_WR);
  }

  /** Stops polling, then closes the fd; idempotent. */
  close(): Promise<void> {
    return (this.closing ??= new Promise<void>((resolve) => load().pollClose(this.handle, resolve)));
  }
}

/**
 * A process's start time (field 22 of /proc/PID/stat, clock ticks after boot): with the pid
 * it names one process for good, where a pid alone may be reused. Undefined when the
 * process is gone or a zombie (it holds nothing any more).
 */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces and parentheses): state is field 3.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (f[0] === 'Z' || f[0] === 'X') return undefined;
  return Number(f[19]);
}

let ownToken: string | undefined;

/**
 * A process named for good, as "<pid>-<start time>": what berth records as the owner of
 * work in progress (rows, claim files, names of work files), so that a reused pid never
 * looks like the owner.
 */
export function processToken(pid = process.pid): string {
  if (pid === process.pid) return (ownToken ??= `${pid}-${processStartTime(pid) ?? 0}`);
  return `${pid}-${processStartTime(pid) ?? 0}`;
}

const TOKEN_RE = /^([1-9]\d*)(?:-(\d+))?$/;

/** Whether s is a processToken, or a bare "<pid>" as records older than tokens hold. */
export function isProcessToken(s: string): boolean {
  return TOKEN_RE.test(s);
}

/**
 * Whether the process a processToken() names still runs; a zombie does not. A bare pid
 * (an older record) trusts the pid alone.
 */
export function tokenAlive(token: string): boolean {
  const m = TOKEN_RE.exec(token);
  if (!m) return false;
  const start = processStartTime(Number(m[1]));
  return start !== undefined && (m[2] === undefined || start === Number(m[2]));
}

/** Bytes a process has read and written so far (/proc/PID/io), to tell one at work from one stuck; undefined when unknown. */
export function processIoBytes(pid: number): number | undefined {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? NaN);
    const n = field('rchar') + field('wchar');
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes a new IPC and a new UTS namespace (the latter named hostname) and pins each by
 * bind-mounting it on its path (an existing empty file); null skips one. The calling
 * process's own namespaces do not change.
 */
export function createPinnedPodNamespaces(paths: { ipc?: string; uts?: string }, hostname?: string): Promise<void> {
  return load().podNsCreate(paths.ipc ?? null, paths.uts ?? null, hostname ?? null);
}

/**
 * Makes a new network namespace with lo up and pins it by bind-mounting it on path (an
 * existing empty file). The calling process's own namespaces do not change.
 */
export function createPinnedNetns(path: string): Promise<void> {
  return load().netnsCreate(path);
}

export interface DialOptions {
  /** The address to connect to: 127.0.0.1 (default), ::1 or another literal IP. */
  host?: string;
  /** How long the connect may take (default 10 s). */
  timeoutMs?: number;
}

/**
 * A TCP connection to host:port inside the network namespace at netnsPath (a pod's), made
 * without a helper process: the addon creates the socket in that namespace on a thread of
 * its own (a socket keeps the namespace it was created in) and Node takes it over. Without
 * netnsPath (a pod on the host's network) it dials the host. Errors keep their code
 * (ECONNREFUSED, ETIMEDOUT, ENOENT for a missing namespace …) and say which port and where.
 */
export async function dialInNetns(netnsPath: string | undefined, port: number, o: DialOptions = {}): Promise<import('node:net').Socket> {
  const host = o.host ?? '127.0.0.1';
  const timeoutMs = o.timeoutMs ?? 10_000;
  const net = nodeNet();
  const where = `${host.includes(':') ? `[${host}]` : host}:${port} ${netnsPath ? `in network namespace ${netnsPath}` : 'on the host'}`;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw Object.assign(new Error(`invalid port ${port}`), { code: 'EINVAL' });
  let fd: number;
  if (netnsPath) {
    try {
      fd = await load().dialInNetns(netnsPath, host, port, timeoutMs);
    } catch (e) {
      throw dialError(e as NodeJS.ErrnoException, port, where);
    }
    // allowHalfOpen: a peer's FIN ends one direction only; the forwarder decides the rest.
    return new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
  }
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true });
    const timer = setTimeout(() => s.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })), timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(dialError(e, port, where));
    });
  });
}

function dialError(e: NodeJS.ErrnoException, port: number, where: string): NodeJS.ErrnoException {
  const why =
    e.code === 'ECONNREFUSED' ? `nothing listens on port ${port}` :
    e.code === 'ETIMEDOUT' ? `port ${port} did not answer in time` :
    e.code === 'ENOENT' ? 'the network namespace is gone' :
    `cannot connect to port ${port}`;
  return Object.assign(new Error(`${why} (connect ${where}: ${e.code ?? e.message})`), { code: e.code, errno: e.errno, syscall: e.syscall ?? 'connect', port });
}

/**
 * Runs file with args to its end: its output, or a rejection shaped like execFile's
 * (code: the exit status, killed, signal, stdout, stderr) when it fails.
 */
export async function execFileAsync(file: string, args: string[], opts: { timeout?: number; maxBuffer?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  const r = await runProcess(file, args, opts);
  if (r.code !== 0) throw commandFailed(file, args, r);
  return { stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

// Node modules that cost measurable start-up time, loaded on first use: most commands
// never open a socket or hash anything.
let netModule: typeof import('node:net') | undefined;
export function nodeNet(): typeof import('node:net') {
  return (netModule ??= process.getBuiltinModule('node:net'));
}
let dgramModule: typeof import('node:dgram') | undefined;
export function nodeDgram(): typeof import('node:dgram') {
  return (dgramModule ??= process.getBuiltinModule('node:dgram'));
}
/** 4, 6, or 0 for a string that is no IP address (node:net's isIP, loaded on first use). */
export function isIP(s: string): number {
  return nodeNet().isIP(s);
}
let cryptoModule: typeof import('node:crypto') | undefined;
export function nodeCrypto(): typeof import('node:crypto') {
  return (cryptoModule ??= process.getBuiltinModule('node:crypto'));
}
