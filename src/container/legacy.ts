// Rows written before ContainerSpec stored the CLI's flag-shaped request (network as a
// comma string, autoRemove, memory/cpus …). They are read as the spec they meant.
import type { PortMapping } from '../network/index.js';
import { containerHostname, type ContainerMount, type ContainerSpec } from './spec.js';

interface FlagShaped {
  image: string;
  name?: string;
  command?: string[];
  entrypoint?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  tty?: boolean;
  stdin?: boolean;
  mounts?: { source: string; destination: string; readOnly: boolean }[];
  tmpfs?: { destination: string; options: string[] }[];
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
  network?: string;
  publish?: PortMapping[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  addHosts?: string[];
  init?: boolean;
  autoRemove?: boolean;
  labels?: Record<string, string>;
  stopSignal?: string;
  stopTimeout?: number;
  logSizeMax?: number;
  args?: string[];
}

/** The flag-shaped request always carried capAdd (and never security). */
export function isFlagShaped(cfg: object): boolean {
  return !('security' in cfg) && ('capAdd' in cfg || 'autoRemove' in cfg || typeof (cfg as { network?: unknown }).network === 'string');
}

export function fromFlagShaped(c: FlagShaped, id: string): ContainerSpec {
  const mode = c.network === 'none' || c.network === 'host' ? c.network : 'networks';
  const mounts: ContainerMount[] = [
    ...(c.mounts ?? []).map((m) => ({ type: 'bind' as const, source: m.source, destination: m.destination, readOnly: m.readOnly })),
    ...(c.tmpfs ?? []).map((t) => ({ type: 'tmpfs' as const, destination: t.destination, options: t.options })),
  ];
  const spec: ContainerSpec = {
    image: c.image,
    name: c.name,
    command: c.command,
    entrypoint: c.entrypoint,
    env: c.env,
    workdir: c.workdir,
    hostname: c.hostname,
    tty: c.tty,
    stdin: c.stdin,
    labels: c.labels,
    mounts,
    rlimits: c.ulimits,
    security: {
      user: c.user,
      capAdd: c.capAdd,
      capDrop: c.capDrop,
      privileged: c.privileged,
      noNewPrivileges: c.noNewPrivileges,
      seccomp: c.seccomp === false ? 'unconfined' : 'default',
      readOnlyRootfs: c.readOnly,
    },
    resources: {
      memory: c.memory,
      ...(c.cpus !== undefined ? { cpuQuota: Math.round(c.cpus * 100_000), cpuPeriod: 100_000 } : {}),
      pids: c.pidsLimit,
    },
    network: {
      mode,
      networks: mode === 'networks' && c.network ? c.network.split(',').filter(Boolean) : undefined,
      // -P was resolved into publish at creation.
      ports: c.publish,
      dns: c.dns,
      dnsSearch: c.dnsSearch,
      dnsOptions: c.dnsOptions,
      addHosts: c.addHosts,
    },
    init: c.init,
    removeOnExit: c.autoRemove,
    stopSignal: c.stopSignal,
    stopTimeout: c.stopTimeout,
    logSizeMax: c.logSizeMax,
    args: c.args,
  };
  return { ...spec, hostname: containerHostname(spec, id) };
}
