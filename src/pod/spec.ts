// PodSpec: the neutral request for a pod sandbox (the CRI's PodSandboxConfig is translated
// into it). A pod holds the namespaces its containers join and the files they share.
import type { PortMapping } from '../network/index.js';

export interface PodSpec {
  name: string;
  /** Default: the pod id's first 12 characters (the host's name with host networking). */
  hostname?: string;
  /** 'pod' (default): a network namespace of the pod's own, attached to `networks`; 'host'. */
  network?: 'pod' | 'host';
  /** 'pod' (default): an IPC namespace of the pod's own; 'host'. */
  ipc?: 'pod' | 'host';
  /**
   * 'container' (default): each container has its own; 'pod': one for the pod, held by an
   * infra process (the host's catatonit); 'host'.
   */
  pid?: 'container' | 'pod' | 'host';
  /**
   * Networks to join (eth0, eth1 …); none listed: the first network in the CNI conf dir by
   * file name (what a cluster's network add-on installs, as cri-o and containerd choose),
   * else berth's default network.
   */
  networks?: string[];
  ports?: PortMapping[];
  dns?: { servers?: string[]; searches?: string[]; options?: string[] };
  /** cgroup the pod's containers go under. */
  cgroupParent?: string;
  /** Where the pod's containers write their logs (the caller's: a kubelet owns it). */
  logDirectory?: string;
  sysctls?: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
