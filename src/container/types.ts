// The container model: what the store knows about each container.
import type { NetworkStatus } from '../network/index.js';
import type { ContainerSpec } from './spec.js';

export type ContainerState = 'creating' | 'created' | 'running' | 'stopped' | 'removing';

export interface Container {
  id: string;
  name: string;
  podId: string | null;
  imageId: string | null;
  imageName: string | null;
  /** The create request, with what creation resolved (args, hostname) filled in. */
  config: ContainerSpec;
  state: ContainerState;
  /** The container's process; while 'creating', the pid of the process creating it. */
  pid: number | null;
  /** The monitor of the current incarnation; only its reports count. */
  conmonPid: number | null;
  /** The monitor as a processToken (a reused pid is not taken for it); null in older rows. */
  conmonToken: string | null;
  exitCode: number | null;
  oomKilled: boolean;
  error: string | null;
  /** What networking gave the container while it runs (null for none/host/joined, or stopped). */
  network: NetworkStatus | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** False from an exit until the run's resources (runtime state, mounts, network) are given back. */
  released: boolean;
  /**
   * The process ("<pid>-<start time>") doing work on the row that others finish once it is
   * gone: the creator while 'creating', the releaser of an exit, the remover; null when none
   * is under way (or in rows older than owners).
   */
  cleanupOwner: string | null;
  /** Running with its processes frozen (pause); cleared by unpause, an exit or a new incarnation. */
  paused: boolean;
  /** Restarts its restart policy made. */
  restartCount: number;
  /** Stopped or killed by a user since its last start: its restart policy leaves it stopped. */
  stoppedByUser: boolean;
}
