// `berth system service` on a test instance's own socket, and a runner for the real
// clients (docker CLI, docker-compose) that talk to it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, type Instance } from '../helpers/index.js';

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Service {
  socket: string;
  child: ChildProcess;
  log(): string;
  /** Runs a client with DOCKER_HOST at the service (and its own DOCKER_CONFIG). */
  client(file: string, args: string[], o?: { cwd?: string; timeoutMs?: number }): Promise<Result>;
}

export function hasCommand(file: string, arg = '--version'): boolean {
  return spawnSync(file, [arg]).status === 0;
}

/** Starts the service; stopped (SIGTERM) by an after hook, so register the instance's cleanup after this. */
export async function startService(t: { after(fn: () => Promise<void> | void): void }, inst: Instance, env: NodeJS.ProcessEnv = inst.env): Promise<Service> {
  const socket = join(inst.base, 'docker.sock');
  const child = spawn(BERTH, ['system', 'service', '--time', '0', `unix://${socket}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
  for (let i = 0; !existsSync(socket); i++) {
    if (i > 200 || child.exitCode !== null) throw new Error(`the service did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const dockerConfig = join(inst.base, 'docker-config');
  mkdirSync(dockerConfig, { recursive: true });
  const client = (file: string, args: string[], o: { cwd?: string; timeoutMs?: number } = {}): Promise<Result> =>
    new Promise((resolve, reject) => {
      const c = spawn(file, args, { cwd: o.cwd, env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: dockerConfig }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => {
        c.kill('SIGKILL');
        reject(new Error(`${file} ${args.join(' ')} timed out; service log: ${log}`));
      }, o.timeoutMs ?? 90_000);
      c.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  return { socket, child, log: () => log, client };
}
