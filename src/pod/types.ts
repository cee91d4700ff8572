// The pod model: what the store knows about each pod sandbox.
import type { NetworkStatus } from '../network/index.js';
import type { PodSpec } from './spec.js';

/**
 * creating  being set up by `owner`; removed by the next look if that process died.
 * ready     its namespaces and network are up.
 * notready  stopped: the network is down (its namespaces stay until removal).
 * removing  being removed by `owner`; finished by the next look if that process died.
 */
export type PodState = 'creating' | 'ready' | 'notready' | 'removing';

export interface Pod {
  id: string;
  name: string;
  spec: PodSpec;
  state: PodState;
  /** The hostname its UTS namespace has (or the host's). */
  hostname: string;
  network: NetworkStatus | null;
  /** The process holding the pod's shared PID namespace (only pods with pid: 'pod' have one). */
  infra: { pid: number; conmonPid: number; token: string } | null;
  /** The process ("<pid>-<start time>") creating or removing it. */
  owner: string | null;
  createdAt: number;
}
