// RuntimeService/RemovePodSandbox: the pod, its containers and all it holds. Removing an
// unknown pod succeeds (containerd's answer: it may already be gone).
import { isBerthError } from '../errors/index.js';
import type { CallContext } from './context.js';
import { required } from './pod-view.js';

export async function removePodSandbox(ctx: CallContext, req: { pod_sandbox_id: string }): Promise<Record<string, never>> {
  const id = required(req.pod_sandbox_id, 'pod_sandbox_id');
  try {
    await (await ctx.engine.pods()).remove(id);
  } catch (e) {
    if (!isBerthError(e, 'NotFound')) throw e;
  }
  return {};
}
