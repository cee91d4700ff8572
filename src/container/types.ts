// The container model: what a user asked for (ContainerConfig, stored as JSON) and what
// the store knows about each container (Container).
import type { NetworkStatus, PortMapping } from '../network/index.js';

export type ContainerState = 'creating' | 'created' | 'running' | 'stopped' | 'removing';

export interface BindMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

export interface TmpfsMount {
  destination: string;
  /** mount options, e.g. ['size=64m', 'mode=1777'] */
  options: string[];
}

/** The create request, as the CLI (and later the CRI) hands it to the manager. */
export interface ContainerConfig {
  image: string;
  name?: string;
  command?: string[];
  entrypoint?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  tty?: boolean;
  /** Keep stdin open (-i). */
  stdin?: boolean;
  mounts?: BindMount[];
  tmpfs?: TmpfsMount[];
  readOnly?: boolean;
  memory?: number;
  cpus?: number;
  pidsLimit?: number;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  noNewPrivileges?: boolean;
  seccomp?: boolean;
  ulimits?: { type: string; soft: number; hard: number }[];
  /** 'none', 'host', or network names joined by commas; unset = the default network. */
  network?: string;
  /** Published ports (-p, -P); host port 0 = picked when the container starts. */
  publish?: PortMapping[];
  /** -P: publish every port the image exposes (resolved into publish at create). */
  publishAll?: boolean;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** --add-host NAME:IP entries for /etc/hosts. */
  addHosts?: string[];
  /** Run an init process as PID 1 that reaps zombies and forwards signals. */
  init?: boolean;
  /** Remove the container when it exits (--rm). */
  autoRemove?: boolean;
  labels?: Record<string, string>;
  stopSignal?: string;
  /** Seconds `stop` waits before SIGKILL. */
  stopTimeout?: number;
  logSizeMax?: number;
  /** Filled in by create: the process' arguments (entrypoint + command, image defaults applied). */
  args?: string[];
}

export interface Container {
  id: string;
  name: string;
  podId: string | null;
  imageId: string | null;
  imageName: string | null;
  config: ContainerConfig;
  state: ContainerState;
  pid: number | null;
  conmonPid: number | null;
  exitCode: number | null;
  oomKilled: boolean;
  error: string | null;
  /** What networking gave the container while it runs (null for none/host, or stopped). */
  network: NetworkStatus | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** docker's names for states in `ps`/`inspect`. */
export function statusWord(state: ContainerState): string {
  switch (state) {
    case 'stopped':
      return 'exited';
    case 'creating':
      return 'created';
    default:
      return state;
  }
}

/** The networks a container joins, or undefined for 'none' and 'host'. */
export function networkNames(cfg: ContainerConfig): string[] | undefined {
  if (cfg.network === 'none' || cfg.network === 'host') return undefined;
  return cfg.network ? cfg.network.split(',').filter(Boolean) : [];
}
