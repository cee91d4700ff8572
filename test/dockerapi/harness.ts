// A `berth system service` on an instance's own socket, and the docker CLI pointed at it
// (or at any Docker API socket: berthd's).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, type Instance } from '../helpers/index.js';

type After = { after(fn: () => Promise<void> | void): void };

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function hasCommand(file: string, arg = '--version'): boolean {
  return spawnSync(file, [arg]).status === 0;
}

/** Debian's interpreter, the one python3-docker (docker-py) is installed for (a python3
 * earlier on PATH may be another one, with another docker-py or none). */
export const DEBIAN_PYTHON = '/usr/bin/python3';

export function hasDockerPy(): boolean {
  return spawnSync(DEBIAN_PYTHON, ['-c', 'import docker']).status === 0;
}

export function hasDocker(): boolean {
  return hasCommand('docker');
}

/** The docker CLI and other clients pointed at one Docker API socket. */
export interface DockerClient {
  /** The environment that points the docker CLI (and docker-py) at the service. */
  clientEnv: NodeJS.ProcessEnv;
  docker(args: string[], o?: { input?: string | Buffer; timeoutMs?: number }): Promise<Result>;
  /** docker args; asserts a zero exit; returns stdout. */
  ok(args: string[], o?: { input?: string | Buffer }): Promise<string>;
  /** A shell command line with the client environment (pipes between docker commands). */
  sh(cmd: string, o?: { timeoutMs?: number }): Promise<Result>;
  /** Any client (docker-compose, python3) with the client environment. */
  client(file: string, args: string[], o?: { cwd?: string; timeoutMs?: number }): Promise<Result>;
}

export interface Service extends DockerClient {
  socket: string;
  child: ChildProcess;
  log(): string;
}

function spawnCollect(file: string, args: string[], env: NodeJS.ProcessEnv, input: string | Buffer, timeoutMs: number, what: () => string, cwd?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')} timed out; ${what()}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/**
 * Starts the service with env (the instance's, maybe with a registries.conf); SIGTERM by an
 * after hook, so register the instance's cleanup after this.
 */
export async function startService(t: After, inst: Instance, env: NodeJS.ProcessEnv = inst.env): Promise<Service> {
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
  return { socket, child, log: () => log, ...dockerClient(inst, socket, () => `service log: ${log}`) };
}

/** Clients of the Docker API on socket, with a docker config dir of the instance's; what() says more when one times out. */
export function dockerClient(inst: Instance, socket: string, what: () => string): DockerClient {
  const dockerConfig = join(inst.base, 'docker-config');
  mkdirSync(dockerConfig, { recursive: true });
  const clientEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: dockerConfig };
  const docker: DockerClient['docker'] = (args, o = {}) => spawnCollect('docker', args, clientEnv, o.input ?? '', o.timeoutMs ?? 60_000, what);
  return {
    clientEnv,
    docker,
    async ok(args, o) {
      const r = await docker(args, o);
      assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    },
    sh: (cmd, o = {}) => spawnCollect('bash', ['-o', 'pipefail', '-c', cmd], clientEnv, '', o.timeoutMs ?? 60_000, what),
    client: (file, args, o = {}) => spawnCollect(file, args, clientEnv, '', o.timeoutMs ?? 90_000, what, o.cwd),
  };
}

/** One request on the socket; with lines, it ends after that many lines of a streamed body. */
export function request(socket: string, method: string, path: string, lines?: number): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
        if (lines !== undefined && body.split('\n').length > lines) {
          res.destroy();
          resolve({ status: res.statusCode!, headers: res.headers, body });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET of http://127.0.0.1:port/path: the body. */
export function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

export const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
