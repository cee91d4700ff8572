// RuntimeService/PodSandboxStats: the pod's CPU, memory, network and process counts, and
// each running container's.
import type { CallContext } from './context.js';
import { required } from './pod-view.js';
import { toCriPodStats } from './stats-view.js';

export async function podSandboxStats(ctx: CallContext, req: { pod_sandbox_id: string }): Promise<object> {
  const pods = await ctx.engine.pods();
  const pod = await pods.get(required(req.pod_sandbox_id, 'pod_sandbox_id'));
  return { stats: toCriPodStats(ctx.engine, pod, await pods.stats(pod, { writableLayer: true })) };
}
