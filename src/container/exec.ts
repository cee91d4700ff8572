// Exec: a process in a running container, built from the container's own process spec
// (user, env, capabilities of config.json) with the request's changes.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostCapabilities, mergeEnv, resolveUser, type Process, type RuntimeSpec } from '../oci/index.js';
import type { AttachStreams, ExecResult } from '../monitor/index.js';
import { containerPaths, type Parts } from './parts.js';
import type { Container } from './types.js';

export interface ExecRequest {
  command: string[];
  env?: string[];
  user?: string;
  workdir?: string;
  tty?: boolean;
  stdin?: boolean;
  detach?: boolean;
  privileged?: boolean;
  /** Seconds; the process is killed after that. */
  timeout?: number;
  /** The TTY's size from the start (the runtime sets it before the process runs). */
  consoleSize?: { rows: number; cols: number };
}

/**
 * The process spec of each incarnation, read once: config.json changes only when the
 * container is instantiated again, which gives it a new monitor (the key).
 */
export class ProcessSpecs {
  private readonly cache = new Map<string, Promise<Process>>();

  get(parts: Parts, c: Container): Promise<Process> {
    const key = `${c.id}:${c.conmonPid}`;
    let p = this.cache.get(key);
    if (!p) {
      for (const k of this.cache.keys()) if (k.startsWith(`${c.id}:`)) this.cache.delete(k);
      p = readFile(join(containerPaths(parts, c).dir, 'config.json'), 'utf8').then((t) => (JSON.parse(t) as RuntimeSpec).process);
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
    }
    return p;
  }
}

/** The exec'd process: the container's, with the request's command, env, user, cwd and TTY. */
async function execProcess(parts: Parts, c: Container, base: Process, req: ExecRequest): Promise<Process> {
  const env = mergeEnv({ env: base.env ?? [], from: 'container environment' }, { env: req.env ?? [], from: 'exec environment' });
  if (req.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
  const proc: Process & { consoleSize?: unknown } = { ...base, args: req.command, env, terminal: !!req.tty, cwd: req.workdir ?? base.cwd };
  delete proc.consoleSize;
  if (req.tty && req.consoleSize) proc.consoleSize = { height: req.consoleSize.rows, width: req.consoleSize.cols };
  if (req.user !== undefined) {
    const u = await resolveUser(containerPaths(parts, c).rootfs, req.user);
    proc.user = { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids };
  }
  if (req.privileged) {
    // docker exec --privileged: every capability the host has, whatever the container's.
    const caps = hostCapabilities();
    proc.capabilities = { ...proc.capabilities, bounding: caps, effective: caps, permitted: caps };
  }
  return proc;
}

export async function execIn(
  parts: Parts,
  specs: ProcessSpecs,
  c: Container,
  req: ExecRequest,
  streams?: AttachStreams,
  signal?: AbortSignal,
): Promise<ExecResult> {
  const proc = await execProcess(parts, c, await specs.get(parts, c), req);
  return parts.runtime.exec(c.id, {
    process: proc,
    terminal: req.tty,
    stdin: req.stdin,
    detach: req.detach,
    timeout: req.timeout,
    attach: streams,
    signal,
  });
}
