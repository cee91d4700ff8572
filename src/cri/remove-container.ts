// RuntimeService/RemoveContainer: killed first when running. Removing an unknown or
// removed container succeeds (the kubelet retries removals).
import { isBerthError } from '../errors/index.js';
import type { CallContext } from './context.js';
import { required } from './pod-view.js';

export async function removeContainer(ctx: CallContext, req: { container_id: string }): Promise<Record<string, never>> {
  const id = required(req.container_id, 'container_id');
  try {
    await (await ctx.engine.containers()).remove(id, { force: true });
  } catch (e) {
    if (!isBerthError(e, 'NotFound')) throw e;
  }
  return {};
}
