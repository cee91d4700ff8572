// /containers/{id}/exec and /exec/{id}/…: docker's two-step exec (create a config, then
// start it on a hijacked connection) and inspect for the exit code afterwards. Exec
// configs live in this process, as in docker's daemon; finished ones are forgotten after
// EXEC_KEEP_MS.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { failedPrecondition, invalidArgument, notFound } from '../errors/index.js';
import { CommandExitError } from '../container/index.js';
import { framed, lookup, MULTIPLEXED_STREAM, RAW_STREAM } from './containers.js';
import type { Router } from './server.js';

interface ExecBody {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  DetachKeys?: string;
  Tty?: boolean;
  ConsoleSize?: [number, number] | null;
  Env?: string[] | null;
  Cmd?: string[] | string;
  Privileged?: boolean;
  User?: string;
  WorkingDir?: string;
}

interface ExecState {
  id: string;
  containerId: string;
  body: ExecBody;
  command: string[];
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
  resize: EventEmitter;
}

const EXEC_KEEP_MS = 5 * 60_000;
const execs = new Map<string, ExecState>();

function getExec(id: string): ExecState {
  const e = execs.get(id);
  if (!e) throw notFound(`No such exec instance: ${id}`);
  return e;
}

function inspectView(e: ExecState) {
  return {
    ID: e.id,
    Running: e.running,
    ExitCode: e.exitCode,
    ProcessConfig: { tty: !!e.body.Tty, entrypoint: e.command[0], arguments: e.command.slice(1), privileged: !!e.body.Privileged, user: e.body.User ?? '' },
    OpenStdin: !!e.body.AttachStdin,
    OpenStderr: !!e.body.AttachStderr,
    OpenStdout: !!e.body.AttachStdout,
    CanRemove: false,
    ContainerID: e.containerId,
    DetachKeys: e.body.DetachKeys ?? '',
    Pid: e.pid,
  };
}

export function execRoutes(router: Router): void {
  router
    .add('POST', '/containers/{id}/exec', async (req, reply) => {
      const { c } = await lookup(req.engine, req.params[0]);
      const body = (await req.json<ExecBody>()) ?? {};
      const command = typeof body.Cmd === 'string' ? [body.Cmd] : body.Cmd ?? [];
      if (command.length === 0) throw invalidArgument('No exec command specified');
      if (c.state !== 'running') throw failedPrecondition(`Container ${c.id} is not running`);
      const id = randomBytes(32).toString('hex');
      execs.set(id, { id, containerId: c.id, body, command, running: false, started: false, exitCode: null, pid: 0, resize: new EventEmitter() });
      reply.json(201, { Id: id });
    })
    .add('GET', '/exec/{id}/json', async (req, reply) => reply.json(200, inspectView(getExec(req.params[0]))))
    .add('POST', '/exec/{id}/resize', async (req, reply) => {
      const e = getExec(req.params[0]);
      const rows = Number(req.query.get('h'));
      const cols = Number(req.query.get('w'));
      if (!(rows > 0 && cols > 0)) throw invalidArgument('resize needs h and w');
      e.resize.emit('resize', { rows, cols });
      reply.empty(201);
    })
    .add('POST', '/exec/{id}/start', async (req, reply) => {
      const e = getExec(req.params[0]);
      if (e.started) throw failedPrecondition(`Exec ${e.id} has already been started`);
      const start = (await req.json<{ Detach?: boolean; Tty?: boolean; ConsoleSize?: [number, number] | null }>()) ?? {};
      const { mgr } = await lookup(req.engine, e.containerId);
      e.started = true;
      const tty = !!(start.Tty ?? e.body.Tty);
      const size = start.ConsoleSize ?? e.body.ConsoleSize;
      const request = {
        command: e.command,
        env: e.body.Env ?? undefined,
        user: e.body.User || undefined,
        workdir: e.body.WorkingDir || undefined,
        tty,
        stdin: !!e.body.AttachStdin,
        privileged: !!e.body.Privileged,
        detach: !!start.Detach,
        consoleSize: size && size[0] > 0 && size[1] > 0 ? { rows: size[0], cols: size[1] } : undefined,
      };
      const finish = (code: number | null) => {
        e.running = false;
        e.exitCode = code;
        setTimeout(() => execs.delete(e.id), EXEC_KEEP_MS).unref();
      };
      if (start.Detach) {
        e.running = true;
        const r = await mgr.exec(e.containerId, request);
        e.pid = r.pid;
        finish(r.exitCode ?? null);
        return reply.empty(200);
      }
      const sock = reply.hijack(tty ? RAW_STREAM : MULTIPLEXED_STREAM);
      const discard = new Writable({ write: (_c, _e, cb) => cb() });
      e.running = true;
      try {
        const r = await mgr.exec(
          e.containerId,
          request,
          {
            stdin: e.body.AttachStdin ? sock : undefined,
            stdout: e.body.AttachStdout ? (tty ? sock : framed(sock, 1)) : discard,
            stderr: e.body.AttachStderr ? (tty ? sock : framed(sock, 2)) : discard,
            detachKeys: e.body.DetachKeys,
            resize: e.resize,
            signal: req.signal,
          },
          { signal: req.signal },
        );
        e.pid = r.pid;
        finish(r.exitCode ?? null);
      } catch (err) {
        // The connection is hijacked: as docker, the error goes out on the output stream,
        // and the exec's exit code says why (127 no such command, 126 not runnable).
        finish(err instanceof CommandExitError ? err.exitCode : 126);
        if (!sock.destroyed && !req.signal.aborted) (tty ? sock : framed(sock, 1)).write(`OCI runtime exec failed: ${(err as Error).message}\r\n`);
      } finally {
        sock.end();
      }
    });
}

