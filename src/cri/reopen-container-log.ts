// RuntimeService/ReopenContainerLog: conmon reopens the log file (after the kubelet rotated
// it); only a running container has a conmon writing it. Answers once the new file exists,
// as the kubelet's rotation expects (cri-o waits for it too).
import type { CallContext } from './context.js';
import { required } from './pod-view.js';

export async function reopenContainerLog(ctx: CallContext, req: { container_id: string }): Promise<Record<string, never>> {
  const containers = await ctx.engine.containers();
  await containers.reopenLog(required(req.container_id, 'container_id'), { signal: ctx.signal });
  return {};
}
