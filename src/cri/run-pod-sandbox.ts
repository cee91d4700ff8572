// RuntimeService/RunPodSandbox: PodSandboxConfig → PodSpec, then PodManager.run. The pod's
// name follows the kubelet's convention (k8s_POD_<name>_<namespace>_<uid>_<attempt>), so a
// second attempt of the same pod is a new name and a repeated one is AlreadyExists.
import { invalidArgument } from '../errors/index.js';
import type { PodSpec } from '../pod/index.js';
import type { CallContext } from './context.js';
import { CRI_METADATA, required } from './pod-view.js';
import type { NamespaceMode, PodSandboxConfig, RunPodSandboxRequest } from './types.js';

export async function runPodSandbox(ctx: CallContext, req: RunPodSandboxRequest): Promise<{ pod_sandbox_id: string }> {
  const spec = podSpecOf(req.config);
  // [cri] cni_default_network; unset, the pod joins the conf dir's first network (PodSpec).
  const chosen = ctx.config.network.podNetwork;
  if (spec.network === 'pod' && chosen) spec.networks = [chosen];
  const pod = await (await ctx.engine.pods()).run(spec, { signal: ctx.signal });
  return { pod_sandbox_id: pod.id };
}

export function podSpecOf(config: PodSandboxConfig | null): PodSpec {
  const m = config?.metadata;
  if (!config || !m) throw invalidArgument('RunPodSandbox: the sandbox config has no metadata');
  required(m.name, 'PodSandboxMetadata.name');
  required(m.namespace, 'PodSandboxMetadata.namespace');
  required(m.uid, 'PodSandboxMetadata.uid');
  const ns = config.linux?.security_context?.namespace_options;
  const dns = config.dns_config;
  return {
    name: `k8s_POD_${m.name}_${m.namespace}_${m.uid}_${m.attempt ?? 0}`,
    hostname: config.hostname || undefined,
    network: mode(ns?.network, 'network') === 'NODE' ? 'host' : 'pod',
    ipc: mode(ns?.ipc, 'ipc') === 'NODE' ? 'host' : 'pod',
    pid: pidMode(mode(ns?.pid, 'pid')),
    ports: (config.port_mappings ?? [])
      // A mapping without a host port only documents the port (the kubelet sends those too).
      .filter((p) => p.host_port > 0)
      .map((p) => ({ hostIP: p.host_ip ?? '', hostPort: p.host_port, containerPort: p.container_port, protocol: p.protocol.toLowerCase() as 'tcp' | 'udp' | 'sctp' })),
    dns: dns && (dns.servers.length || dns.searches.length || dns.options.length) ? { servers: dns.servers, searches: dns.searches, options: dns.options } : undefined,
    cgroupParent: config.linux?.cgroup_parent || undefined,
    logDirectory: config.log_directory || undefined,
    sysctls: config.linux?.sysctls ?? {},
    labels: config.labels ?? {},
    annotations: { ...(config.annotations ?? {}), [CRI_METADATA]: JSON.stringify({ name: m.name, uid: m.uid, namespace: m.namespace, attempt: m.attempt ?? 0 }) },
  };
}

function mode(m: NamespaceMode | undefined, what: string): NamespaceMode {
  if (m === 'TARGET') throw invalidArgument(`NamespaceOption.${what}: TARGET is for containers, not pods`);
  return m ?? 'POD';
}

function pidMode(m: NamespaceMode): PodSpec['pid'] {
  return m === 'NODE' ? 'host' : m === 'POD' ? 'pod' : 'container';
}
