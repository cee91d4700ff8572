// RuntimeService/PortForward: the URL of the streaming server that forwards connections to
// ports in a ready pod's network namespace (kubectl port-forward).
import { failedPrecondition, invalidArgument } from '../errors/index.js';
import type { CallContext } from './context.js';
import { required } from './pod-view.js';

export async function portForward(ctx: CallContext, req: { pod_sandbox_id: string; port: number[] }): Promise<{ url: string }> {
  const id = required(req.pod_sandbox_id, 'pod_sandbox_id');
  const ports = (req.port ?? []).map(Number);
  for (const p of ports) if (!Number.isInteger(p) || p < 1 || p > 65535) throw invalidArgument(`PortForward: invalid port ${p}`);
  const pod = await (await ctx.engine.pods()).get(id);
  if (pod.state !== 'ready') throw failedPrecondition(`pod ${pod.id} is not ready (${pod.state})`);
  return { url: ctx.streams.portForward({ podId: pod.id, ports }) };
}
