// Driver for an OCI runtime's command line (runc, crun). Every call is one runtime process
// started with an argument vector (no shell); its error message, which runc prints as a
// logrus line (`time=… level=error msg="…"`, or JSON with --log-format json), becomes the
// BerthError message.
import { findExecutable, runProcess } from '../sys/index.js';
import { basename } from 'node:path';
import { BerthError, unavailable } from '../errors/index.js';
import { parseSignal } from './signals.js';

export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface RuntimeState {
  status: ContainerStatus;
  pid: number;
}

const STATUSES: ContainerStatus[] = ['creating', 'created', 'running', 'paused', 'stopped'];
/** A runtime call that takes this long is stuck (e.g. on a frozen cgroup). */
const CALL_TIMEOUT_MS = 60_000;
/** More output than any runtime call prints: the call is killed past it. */
const OUTPUT_MAX = 16 * 1024 * 1024;

export class OciRuntime {
  private resolved?: string;

  constructor(private readonly cfg: { path: string; args: string[] }, readonly stateRoot: string) {}

  /** Absolute path of the runtime binary, resolved via PATH (once). */
  binary(): string {
    if (this.resolved) return this.resolved;
    const name = this.cfg.path;
    const file = findExecutable(name);
    if (file) return (this.resolved = file);
    throw unavailable(
      `OCI runtime "${name}" not found: install it (apt-get install ${basename(name)}) or set [runtime] path in berth.toml`,
    );
  }

  /** Looks the binary up again on next use (it may have been installed or moved meanwhile). */
  refresh(): void {
    this.resolved = undefined;
  }

  /** Arguments placed before any subcommand; conmon gets them as --runtime-arg. */
  globalArgs(): string[] {
    return ['--root', this.stateRoot, ...this.cfg.args];
  }

  /** The runtime's view of a container; null when the runtime does not know it. */
  async state(id: string): Promise<RuntimeState | null> {
    let out: string;
    try {
      out = await this.run(['state', id]);
    } catch (e) {
      if (e instanceof BerthError && e.code === 'NotFound') return null;
      throw e;
    }
    let parsed: { status?: string; pid?: number };
    try {
      parsed = JSON.parse(out);
    } catch {
      throw new BerthError('Internal', `${this.name()} state ${id}: unreadable output: ${out.slice(0, 200)}`);
    }
    const status = STATUSES.find((s) => s === parsed.status);
    if (!status) throw new BerthError('Internal', `${this.name()} state ${id}: unknown status "${parsed.status}"`);
    return { status, pid: typeof parsed.pid === 'number' ? parsed.pid : 0 };
  }

  /** The container's processes (host pids), as `<runtime> ps` lists them. */
  async pids(id: string): Promise<number[]> {
    const out = await this.run(['ps', '--format', 'json', id]);
    const pids = JSON.parse(out) as unknown;
    if (!Array.isArray(pids)) throw new BerthError('Internal', `${this.name()} ps ${id}: unreadable output: ${out.slice(0, 200)}`);
    return pids.filter((p): p is number => typeof p === 'number');
  }

  /** Runs the user process of a created container. */
  async start(id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.run(['start', id], opts.signal);
  }

  /** Freezes every process of the container (its cgroup freezer). */
  async pause(id: string): Promise<void> {
    await this.run(['pause', id]);
  }

  /** Thaws a paused container. */
  async resume(id: string): Promise<void> {
    await this.run(['resume', id]);
  }

  /** Changes a running container's cgroup limits (`update --resources FILE`, runtime-spec linux.resources JSON). */
  async update(id: string, resourcesFile: string): Promise<void> {
    await this.run(['update', '--resources', resourcesFile, id]);
  }

  /** Sends a signal (name like TERM/SIGTERM or number) to the container's init, or to all its processes. */
  async kill(id: string, signal: string | number, opts: { all?: boolean } = {}): Promise<void> {
    const signo = parseSignal(signal);
    await this.run(['kill', ...(opts.all ? ['--all'] : []), id, String(signo)]);
  }

  /** Deletes the container's runtime state; a container the runtime does not know is not an error. */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    try {
      await this.run(['delete', ...(opts.force ? ['--force'] : []), id]);
    } catch (e) {
      if (e instanceof BerthError && e.code === 'NotFound') return;
      throw e;
    }
  }

  /** First line of `<runtime> --version`, e.g. "runc version 1.1.5+ds1". */
  async version(): Promise<string> {
    const out = await this.exec(['--version']);
    return out.split('\n')[0]!.trim();
  }

  private name(): string {
    return basename(this.cfg.path);
  }

  private run(args: string[], signal?: AbortSignal): Promise<string> {
    return this.exec([...this.globalArgs(), ...args], signal);
  }

  private async exec(args: string[], signal?: AbortSignal): Promise<string> {
    const file = this.binary();
    let r;
    try {
      r = await runProcess(file, args, { timeout: CALL_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: OUTPUT_MAX, signal });
    } catch (e) {
      if (signal?.aborted) throw signal.reason ?? e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES') {
        this.resolved = undefined;
        throw unavailable(`OCI runtime "${this.cfg.path}" cannot be run: ${file}: ${code === 'ENOENT' ? 'not found' : 'permission denied'}`);
      }
      throw e;
    }
    if (r.code === 0 && !r.overflowed) return r.stdout.toString('utf8');
    if (r.aborted) throw signal?.reason ?? new BerthError('Cancelled', `${this.name()} ${args.join(' ')}: cancelled`);
    if (r.timedOut) throw new BerthError('DeadlineExceeded', `${this.name()} ${args.join(' ')}: timed out`);
    const stderr = r.stderr.toString('utf8');
    const how = r.overflowed ? `printed more than ${OUTPUT_MAX} bytes` : `exited with ${r.code ?? r.signal}`;
    throw runtimeError(this.name(), errorMessage(stderr) || how);
  }
}

/** Extracts the runtime's own error text from its stderr (logrus text or JSON lines). */
export function errorMessage(stderr: string): string {
  const messages: string[] = [];
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  for (const line of lines) {
    if (line.startsWith('{')) {
      try {
        const rec = JSON.parse(line) as { level?: string; msg?: string };
        if ((rec.level === 'error' || rec.level === 'fatal') && rec.msg) messages.push(rec.msg);
        continue;
      } catch {
        // not JSON after all
      }
    }
    if (!/\blevel=(error|fatal)\b/.test(line)) continue;
    const m = /\bmsg=("(?:[^"\\]|\\.)*"|\S+)/.exec(line);
    if (m) messages.push(unquote(m[1]!));
  }
  if (messages.length > 0) return messages[messages.length - 1]!;
  return lines[lines.length - 1] ?? '';
}

function unquote(s: string): string {
  if (!s.startsWith('"')) return s;
  try {
    return JSON.parse(s) as string;
  } catch {
    return s.slice(1, -1).replace(/\\"/g, '"');
  }
}

function runtimeError(runtime: string, msg: string): BerthError {
  const text = `${runtime}: ${msg}`;
  if (/does not exist/.test(msg)) return new BerthError('NotFound', text);
  if (/not running|already running|not stopped|has stopped|not in created state|is paused|is not paused|already exists/.test(msg)) {
    return new BerthError(/already exists/.test(msg) ? 'AlreadyExists' : 'FailedPrecondition', text);
  }
  return new BerthError('Internal', text);
}
