// RuntimeService/Attach: the URL of the streaming server where the client connects to a
// running container's stdio (kubectl attach). Detaching leaves the container running.
import type { CallContext } from './context.js';
import { checkStdio, runningContainer, type StdioRequest } from './exec.js';
import { required } from './pod-view.js';

export async function attach(ctx: CallContext, req: StdioRequest & { container_id: string }): Promise<{ url: string }> {
  const id = required(req.container_id, 'container_id');
  checkStdio(req, 'Attach');
  const containerId = await runningContainer(ctx, id);
  return { url: ctx.streams.attach({ containerId, tty: !!req.tty, stdin: !!req.stdin, stdout: !!req.stdout, stderr: !!req.stderr }) };
}
