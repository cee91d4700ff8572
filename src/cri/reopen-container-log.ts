// RuntimeService/ReopenContainerLog: conmon reopens the log file (after the kubelet rotated
// it); only a running container has a conmon writing it.
import { failedPrecondition } from '../errors/index.js';
import type { CallContext } from './context.js';
import { required } from './pod-view.js';

export async function reopenContainerLog(ctx: CallContext, req: { container_id: string }): Promise<Record<string, never>> {
  const containers = await ctx.engine.containers();
  const c = await containers.get(required(req.container_id, 'container_id'));
  if (c.state !== 'running') throw failedPrecondition(`container ${c.id} is not running`);
  containers.runtime.reopenLog(c.id);
  return {};
}
