// A PodSandboxConfig as a kubelet sends one, for the tests.
import { PEER } from './berthd.js';

/** name's pod in the namespace testns, with labels, annotations, DNS and the usual namespace modes; extra overrides. */
export function sandboxConfig(name: string, extra: object = {}): any {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'testns', attempt: 1 },
    hostname: `${name}-host`,
    labels: { app: name, tier: 'test' },
    annotations: { 'example.com/note': `pod ${name}` },
    dns_config: { servers: ['10.96.0.10'], searches: ['testns.svc.cluster.local'], options: ['ndots:5'] },
    linux: {
      // The kubelet always names the pod's cgroup; containerd 1.6 needs one for PodSandboxStats
      // (UNKNOWN "cgroupPath is empty" without), berth makes a pod cgroup of its own. Below the
      // peer's k8s.io cgroups, which it removes.
      ...(PEER ? { cgroup_parent: `/k8s.io/pod-uid-${name}` } : {}),
      security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
    },
    ...extra,
  };
}
