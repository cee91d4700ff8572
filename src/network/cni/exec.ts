// Runs one CNI plugin binary: the CNI_* environment, config on stdin, result or error on
// stdout. The spec's error object ({code, msg, details}) and timeouts become BerthErrors.
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, type ErrorCode } from '../../errors/index.js';
import { DEFAULT_SEARCH_PATH, processStartTime, spawnProcess, type SpawnedProcess } from '../../sys/index.js';
import type { Readable } from 'node:stream';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';

/** The spec's well-known error codes (1–99 are reserved for the spec). */
const CNI_ERRORS: Record<number, string> = {
  1: 'incompatible CNI version',
  2: 'unsupported field in network configuration',
  3: 'container unknown or does not exist',
  4: 'invalid necessary environment variables',
  5: 'I/O failure',
  6: 'failed to decode content',
  7: 'invalid network config',
  11: 'try again later',
  50: 'plugin not available',
  51: 'plugin not available, existing containers may be affected',
};

/** A plugin's reported failure, with the spec's fields kept for callers that care. */
export class CniPluginError extends BerthError {
  readonly cniCode: number;
  readonly plugin: string;
  readonly command: CniCommand;
  constructor(code: ErrorCode, message: string, plugin: string, command: CniCommand, cniCode: number) {
    super(code, message);
    this.plugin = plugin;
    this.command = command;
    this.cniCode = cniCode;
  }
}

function errorCodeFor(cniCode: number): ErrorCode {
  switch (cniCode) {
    case 1: case 2: case 4: case 6: case 7: return 'InvalidArgument';
    case 3: return 'NotFound';
    case 11: case 50: case 51: return 'Unavailable';
    default: return 'Internal';
  }
}

/** Finds the plugin binary for `type` in the search path (first match wins). */
async function findPlugin(type: string, pluginDirs: string[]): Promise<string> {
  for (const dir of pluginDirs) {
    const path = join(dir, type);
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // Next directory.
    }
  }
  throw new BerthError('NotFound', `CNI plugin "${type}" not found in ${pluginDirs.join(':')}`);
}

export interface ExecRequest {
  /** Plugin type (binary name); looked up in pluginDirs. */
  type: string;
  command: CniCommand;
  stdin: unknown;
  pluginDirs: string[];
  containerId?: string;
  netns?: string;
  ifName?: string;
  /** CNI_ARGS pairs, joined as K=V;K=V. */
  args?: [string, string][];
  /** More environment for the plugin (e.g. XDG_RUNTIME_DIR, where dnsname keeps its dnsmasq files). */
  env?: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Prefix for error messages, e.g. `network "x"`. */
  context: string;
  /**
   * Called once the plugin process exists, before it gets its stdin (so before it can act):
   * the place to record that it runs.
   */
  onSpawn?: (proc: PluginProcess) => Promise<void>;
}

/** A plugin process, named so that a reused pid is not mistaken for it. */
export interface PluginProcess {
  pid: number;
  /** Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
  startTime: string;
}

/** Whether this process (same pid, same start time) still runs; a zombie has finished. */
export function pluginRunning(p: PluginProcess): boolean {
  return processStartTime(p.pid) === Number(p.startTime);
}

/** Runs the plugin and returns its parsed stdout (undefined when it printed nothing). */
export async function execPlugin(req: ExecRequest): Promise<unknown> {
  const binary = await findPlugin(req.type, req.pluginDirs).catch((e: BerthError) => {
    throw new BerthError(e.code, `${req.context}: ${e.message}`);
  });
  const env: NodeJS.ProcessEnv = {
    // Plugins run iptables, ip and friends through PATH.
    PATH: process.env.PATH || DEFAULT_SEARCH_PATH,
    CNI_COMMAND: req.command,
    CNI_PATH: req.pluginDirs.join(':'),
    ...req.env,
  };
  if (req.containerId !== undefined) env.CNI_CONTAINERID = req.containerId;
  if (req.netns !== undefined) env.CNI_NETNS = req.netns;
  if (req.ifName !== undefined) env.CNI_IFNAME = req.ifName;
  if (req.args && req.args.length > 0) env.CNI_ARGS = req.args.map(([k, v]) => `${k}=${v}`).join(';');

  const what = `${req.context}: plugin ${req.type} ${req.command}`;
  const { code, stdout, stderr, timedOut, aborted } = await run(binary, env, JSON.stringify(req.stdin), req.timeoutMs, req.signal, req.onSpawn);
  if (timedOut) throw new CniPluginError('DeadlineExceeded', `${what} timed out after ${req.timeoutMs} ms`, req.type, req.command, 0);
  if (aborted) throw new CniPluginError('Cancelled', `${what} was cancelled`, req.type, req.command, 0);

  const text = stdout.trim();
  let parsed: unknown;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      if (code === 0) throw new CniPluginError('Internal', `${what}: output is not JSON: ${oneLine(text)}`, req.type, req.command, 0);
    }
  }
  if (code !== 0 || isErrorObject(parsed)) {
    if (isErrorObject(parsed)) {
      const cniCode = Number(parsed.code);
      const msg = [parsed.msg, parsed.details].filter((s) => typeof s === 'string' && s !== '').join(': ');
      const known = CNI_ERRORS[cniCode];
      const detail = msg || known || `error code ${cniCode}`;
      throw new CniPluginError(errorCodeFor(cniCode), `${what} failed: ${oneLine(detail)}`, req.type, req.command, cniCode);
    }
    const reason = oneLine(stderr.trim() || text) || `exit status ${code}`;
    throw new CniPluginError('Internal', `${what} failed: ${reason}`, req.type, req.command, 0);
  }
  return parsed;
}

function isErrorObject(v: unknown): v is { code: unknown; msg?: unknown; details?: unknown } {
  return typeof v === 'object' && v !== null && 'code' in v && typeof (v as { code: unknown }).code === 'number';
}

function oneLine(s: string): string {
  const line = s.replace(/\s*\n\s*/g, '; ');
  return line.length > 500 ? line.slice(0, 500) + '…' : line;
}

interface RunOutcome {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
}

async function run(binary: string, env: NodeJS.ProcessEnv, stdin: string, timeoutMs: number, signal?: AbortSignal,
  onSpawn?: ExecRequest['onSpawn']): Promise<RunOutcome> {
  let child: SpawnedProcess;
  try {
    // A session of its own: a kill of berth's process group (^C, a supervisor) does not
    // cut the plugin in half (iptables rules or an IPAM reservation half made); it finishes
    // and the attachment record tells the next teardown what to undo.
    child = await spawnProcess(binary, [], { env, stdio: ['to-child', 'from-child', 'from-child'], detached: true });
  } catch (e) {
    throw new BerthError('Internal', `cannot run ${binary}: ${(e as Error).message}`, { cause: e });
  }
  return new Promise((resolve, reject) => {
    let timedOut = false;
    let aborted = false;
    // The plugin leads its own process group: the kill takes what it started along.
    const kill = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const onAbort = () => {
      aborted = true;
      kill();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    const collect = (s: Readable) =>
      new Promise<string>((res) => {
        const chunks: Buffer[] = [];
        s.on('data', (d: Buffer) => chunks.push(d));
        s.on('error', () => {});
        s.on('close', () => res(Buffer.concat(chunks).toString('utf8')));
      });
    const stdinPipe = child.stdin!;
    stdinPipe.on('error', () => {}); // a plugin may exit without reading stdin
    Promise.all([child.exited, collect(child.stdout!), collect(child.stderr!)]).then(([exit, stdout, stderr]) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve({ code: exit.code ?? 128, stdout, stderr, timedOut, aborted });
    });
    const startTime = onSpawn ? processStartTime(child.pid) : undefined;
    if (!onSpawn || startTime === undefined) return void stdinPipe.end(stdin);
    // Until it has its stdin the plugin waits; if berth dies first it reads EOF and does nothing.
    onSpawn({ pid: child.pid, startTime: String(startTime) }).then(
      () => stdinPipe.end(stdin),
      (e) => {
        kill();
        reject(e);
      },
    );
  });
}
