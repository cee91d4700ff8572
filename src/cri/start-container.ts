// RuntimeService/StartContainer.
import type { CallContext } from './context.js';
import { required } from './pod-view.js';

export async function startContainer(ctx: CallContext, req: { container_id: string }): Promise<Record<string, never>> {
  await (await ctx.engine.containers()).start(required(req.container_id, 'container_id'), { signal: ctx.signal });
  return {};
}
