// RuntimeService/StopContainer: the stop signal, SIGKILL after timeout seconds (0: at
// once). A stopped container stays as it is; an unknown one is NotFound (containerd's answer).
import type { CallContext } from './context.js';
import { required } from './pod-view.js';

export async function stopContainer(ctx: CallContext, req: { container_id: string; timeout: string | number }): Promise<Record<string, never>> {
  const timeout = Math.max(0, Number(req.timeout ?? 0));
  await (await ctx.engine.containers()).stop(required(req.container_id, 'container_id'), { timeout, signal: ctx.signal });
  return {};
}
