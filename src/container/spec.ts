// ContainerSpec: the neutral create request the library takes. The CLI translates its
// flags into it and the CRI its CreateContainerRequest; nothing here is shaped by either.
// Stored as JSON in the container's row, with what creation resolved filled in (args,
// hostname).
import { hostname as hostHostname } from 'node:os';
import type { ResourceLimits } from '../oci/index.js';
import type { PortMapping } from '../network/index.js';
import type { HealthCheck } from './health.js';

export type Propagation = 'private' | 'rprivate' | 'slave' | 'rslave' | 'shared' | 'rshared';

/** Mount flags a bind or volume may ask for beyond ro/rw. */
export type MountFlag = 'nosuid' | 'suid' | 'nodev' | 'dev' | 'noexec' | 'exec';

export interface BindMount {
  type: 'bind';
  source: string;
  destination: string;
  readOnly?: boolean;
  /** Default rprivate. */
  propagation?: Propagation;
  flags?: MountFlag[];
  /** SELinux relabelling asked for (z, Z): kept for inspect; without SELinux it does nothing, as podman. */
  relabel?: 'z' | 'Z';
}

export interface VolumeMount {
  type: 'volume';
  /** The volume; '' in a request for an anonymous one (creation names it). */
  name: string;
  destination: string;
  readOnly?: boolean;
  propagation?: Propagation;
  flags?: MountFlag[];
  relabel?: 'z' | 'Z';
  /** Made for this container: removed with it by `rm -v` and remove-on-exit. */
  anonymous?: boolean;
  /** No copy-up of the image's content into a new volume (docker's nocopy). */
  noCopy?: boolean;
  /** Driver options for a volume made on first use (--mount volume-opt=). */
  options?: Record<string, string>;
}

export interface TmpfsMount {
  type: 'tmpfs';
  destination: string;
  /** mount options, e.g. ['size=64m', 'mode=1777'] */
  options: string[];
}

export type ContainerMount = BindMount | VolumeMount | TmpfsMount;

export interface DeviceMapping {
  hostPath: string;
  containerPath: string;
  /** Subset of 'rwm'; default 'rwm'. */
  permissions?: string;
}

export interface SecurityContext {
  /** 'name', 'uid', 'name:group', 'uid:gid'; default the image's USER. */
  user?: string;
  supplementalGroups?: number[];
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  noNewPrivileges?: boolean;
  /** Default 'default' (berth's profile). */
  seccomp?: 'default' | 'unconfined';
  /** A profile file's content (docker's JSON format) used instead of the default; path for inspect. */
  seccompProfile?: { path: string; profile: unknown };
  /** Extra groups by name (the container's /etc/group) or number (docker's --group-add). */
  groupAdd?: string[];
  /** Replace the default masked and read-only paths. */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  readOnlyRootfs?: boolean;
}

export interface ContainerResources extends ResourceLimits {
  oomScoreAdj?: number;
}

/** Namespaces to join (paths such as a pod's /proc/<pid>/ns/ipc or a netns file), or 'host' to share the host's. */
export interface JoinedNamespaces {
  network?: string;
  ipc?: string | 'host';
  uts?: string | 'host';
  pid?: string | 'host';
}

/** Namespaces joined from another container (its id), found again at each start. */
export type ContainerNamespaces = Partial<Record<'pid' | 'ipc' | 'uts', string>>;

/** Networking berth sets up itself (ignored when namespaces.network is given). */
export interface NetworkSpec {
  /** 'networks' (default): a netns attached to `networks` (none listed: the default network). */
  mode?: 'networks' | 'none' | 'host';
  networks?: string[];
  ports?: PortMapping[];
  /** Also publish every port the image exposes, on free host ports. */
  publishExposed?: boolean;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** NAME:IP entries for /etc/hosts. */
  addHosts?: string[];
  /** A static address on the (single) network, through CNI's "ips" capability. */
  ip?: string;
  /** --network-alias: more names of the container on each network joined that resolves names. */
  aliases?: string[];
  /** Set once `network connect`/`disconnect` changed the list: networks names them all, an empty list none. */
  networksExact?: boolean;
  /** What was asked for on each network by name: its aliases (DNS names there) and an address. */
  perNetwork?: Record<string, NetworkEndpoint>;
}

export interface NetworkEndpoint {
  aliases?: string[];
  ip?: string;
}

export interface ContainerSpec {
  image: string;
  name?: string;
  /** Replaces the image ENTRYPOINT (and drops its CMD); [] or [''] = none. */
  entrypoint?: string[];
  /** Replaces the image CMD. */
  command?: string[];
  env?: string[];
  workdir?: string;
  /** Default: the short id, the host's name with host networking, none in a joined UTS namespace. */
  hostname?: string;
  tty?: boolean;
  /** Keep stdin open for attach. */
  stdin?: boolean;
  /** Close stdin when the first attached client goes away; false keeps it open for the next. */
  stdinOnce?: boolean;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  mounts?: ContainerMount[];
  /** The image's VOLUMEs not mounted otherwise become anonymous volumes (the CLI's way, as podman). */
  imageVolumes?: boolean;
  devices?: DeviceMapping[];
  sysctls?: Record<string, string>;
  rlimits?: { type: string; soft: number; hard: number }[];
  security?: SecurityContext;
  resources?: ContainerResources;
  namespaces?: JoinedNamespaces;
  /** Namespaces shared with other containers (--pid/--ipc/--uts container:NAME). */
  namespaceContainers?: ContainerNamespaces;
  /** Bytes of the /dev/shm tmpfs (default 64 MiB). */
  shmSize?: number;
  /** Others may join its IPC namespace and /dev/shm (--ipc shareable): the tmpfs is mounted on the host. */
  ipcShareable?: boolean;
  /** Ports ("80/tcp") exposed beside the image's (--expose): in inspect, published by -P. */
  exposedPorts?: string[];
  /** The file its id was written to at creation (--cidfile). */
  cidFile?: string;
  network?: NetworkSpec;
  /** cgroup the container's cgroup goes under (default /berth). */
  cgroupParent?: string;
  /** CRI-format log file; default <container dir>/ctr.log. */
  logPath?: string;
  /** none: conmon writes no log (attach still carries the output); default k8s-file. */
  logDriver?: 'k8s-file' | 'none';
  logSizeMax?: number;
  /** Run an init process as PID 1 that reaps zombies and forwards signals. */
  init?: boolean;
  /** Remove the container when it exits. */
  removeOnExit?: boolean;
  /** The container whose network namespace it shares (--network container:NAME). */
  joinedContainer?: string;
  /** What its exit leads to (docker's --restart); none: it stays stopped. */
  restartPolicy?: RestartPolicy;
  stopSignal?: string;
  /** Seconds `stop` waits before SIGKILL. */
  stopTimeout?: number;
  /** Its health check; create fills in the image's (none: no check). */
  healthcheck?: HealthCheck;
  /** Filled in by create: the process' arguments (entrypoint + command, image defaults applied). */
  args?: string[];
}

/** How the container gets its network namespace. */
export type NetworkPlan = { kind: 'join'; path: string } | { kind: 'host' } | { kind: 'none' } | { kind: 'networks'; networks: string[] };

export function networkPlan(spec: ContainerSpec): NetworkPlan {
  if (spec.namespaces?.network) return { kind: 'join', path: spec.namespaces.network };
  const mode = spec.network?.mode ?? 'networks';
  if (mode === 'host' || mode === 'none') return { kind: mode };
  return { kind: 'networks', networks: spec.network?.networks ?? [] };
}

/** The one rule for a container's hostname (undefined: it sets none, its UTS namespace is joined). */
export function containerHostname(spec: ContainerSpec, id: string): string | undefined {
  if (spec.hostname) return spec.hostname;
  if (spec.namespaces?.uts || spec.namespaceContainers?.uts) return undefined;
  return networkPlan(spec).kind === 'host' ? hostHostname() : id.slice(0, 12);
}

/** The container's cgroup, as the OCI spec names it: under cgroupParent, or /berth. */
export function cgroupPathOf(spec: Pick<ContainerSpec, 'cgroupParent'>, id: string): string {
  return `${(spec.cgroupParent ?? '/berth').replace(/\/+$/, '')}/${id}`;
}

/** docker's restart policies; maxRetries only for on-failure (0: no limit). */
export interface RestartPolicy {
  name: 'no' | 'always' | 'on-failure' | 'unless-stopped';
  maxRetries?: number;
}
