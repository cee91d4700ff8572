// RuntimeService/StopPodSandbox: its containers stopped, its network down. Stopping a
// stopped or unknown pod succeeds (containerd's answer; the kubelet retries stops).
import { isBerthError } from '../errors/index.js';
import type { CallContext } from './context.js';
import { required } from './pod-view.js';

export async function stopPodSandbox(ctx: CallContext, req: { pod_sandbox_id: string }): Promise<Record<string, never>> {
  const id = required(req.pod_sandbox_id, 'pod_sandbox_id');
  try {
    await (await ctx.engine.pods()).stop(id);
  } catch (e) {
    if (!isBerthError(e, 'NotFound')) throw e;
  }
  return {};
}
