// RuntimeService/PodSandboxStatus: state, IPs, namespace modes, labels and annotations;
// with verbose, the pod's record and paths as JSON under "info".
import { nanos, nowNanos, type CallContext } from './context.js';
import { podMetadata, podNamespaceModes, podState, required, userAnnotations } from './pod-view.js';

export async function podSandboxStatus(ctx: CallContext, req: { pod_sandbox_id: string; verbose: boolean }): Promise<object> {
  const pods = await ctx.engine.pods();
  const pod = await pods.get(required(req.pod_sandbox_id, 'pod_sandbox_id'));
  const ips = (pod.network?.attachments ?? []).flatMap((a) => a.ips).map((cidr) => cidr.split('/')[0]!);
  const info: Record<string, string> = {};
  if (req.verbose) {
    const { owner: _, ...record } = pod;
    info.info = JSON.stringify({ ...record, paths: pods.paths(pod) });
  }
  return {
    status: {
      id: pod.id,
      metadata: podMetadata(pod),
      state: podState(pod),
      created_at: nanos(pod.createdAt),
      network: { ip: ips[0] ?? '', additional_ips: ips.slice(1).map((ip) => ({ ip })) },
      linux: { namespaces: { options: { ...podNamespaceModes(pod), target_id: '' } } },
      labels: pod.spec.labels ?? {},
      annotations: userAnnotations(pod.spec.annotations),
      runtime_handler: '',
    },
    info,
    containers_statuses: [],
    timestamp: nowNanos(),
  };
}
