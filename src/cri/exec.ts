// RuntimeService/Exec: the URL of the streaming server where the client runs cmd in a
// running container (kubectl exec through the kubelet's proxy). Checked now, run there.
import { failedPrecondition, invalidArgument } from '../errors/index.js';
import type { CallContext } from './context.js';
import { required } from './pod-view.js';

export interface StdioRequest {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** The kubelet's rules for a streaming request's stdio. */
export function checkStdio(req: StdioRequest, what: string): void {
  if (req.tty && req.stderr) throw invalidArgument(`${what}: tty and stderr cannot both be true (a terminal has one output)`);
  if (!req.stdin && !req.stdout && !req.stderr) throw invalidArgument(`${what}: one of stdin, stdout or stderr must be set`);
}

/** The container, which must be running. */
export async function runningContainer(ctx: CallContext, id: string): Promise<string> {
  const c = await (await ctx.engine.containers()).get(id);
  if (c.state !== 'running') throw failedPrecondition(`container ${c.id} is not running (${c.state})`);
  return c.id;
}

export async function exec(ctx: CallContext, req: StdioRequest & { container_id: string; cmd: string[] }): Promise<{ url: string }> {
  const id = required(req.container_id, 'container_id');
  if (!req.cmd?.length) throw invalidArgument('Exec: no command given');
  checkStdio(req, 'Exec');
  const containerId = await runningContainer(ctx, id);
  return { url: ctx.streams.exec({ containerId, cmd: req.cmd, tty: !!req.tty, stdin: !!req.stdin, stdout: !!req.stdout, stderr: !!req.stderr }) };
}
