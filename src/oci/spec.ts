// Builds the OCI runtime spec (config.json) for a container from the image config and the
// user's options, with docker/podman's secure defaults.
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { invalidArgument } from '../errors/index.js';
import { containerCapabilities, hostCapabilities } from './capabilities.js';
import { defaultDeviceRules, deviceNode, hostDevices } from './devices.js';
import { buildRlimits, checkMemoryLimit, validateSysctls } from './limits.js';
import { defaultSeccompProfile } from './seccomp.js';
import type { Device, ImageRuntimeConfig, Mount, Namespace, Resources, RuntimeSpec } from './types.js';
import { resolveGroups, resolveUser } from './user.js';
import { seccompFromProfile } from './seccomp-profile.js';
import { processArgs, processEnv } from './process.js';

/** cgroup limits, runtime-neutral (what `docker run` flags and CRI LinuxContainerResources both say). */
export interface ResourceLimits {
  /** Relative CPU weight (cgroup v1 cpu.shares). */
  cpuShares?: number;
  /** CFS quota and period, microseconds. */
  cpuQuota?: number;
  cpuPeriod?: number;
  /** e.g. '0-2,4'. */
  cpusetCpus?: string;
  cpusetMems?: string;
  /** Bytes. */
  memory?: number;
  /** Memory + swap, bytes (-1 = unlimited). */
  memorySwap?: number;
  /** Soft limit, bytes (cgroup v1 memory.soft_limit_in_bytes). */
  memoryReservation?: number;
  /** 0 or -1 = unlimited. */
  pids?: number;
  hugepages?: { pageSize: string; limit: number }[];
  /** cgroup v2 files, e.g. { 'memory.high': '100M' }. */
  unified?: Record<string, string>;
}

/** A host device made available in the container. */
export interface DeviceRequest {
  hostPath: string;
  containerPath: string;
  /** Subset of 'rwm' (default 'rwm'). */
  permissions?: string;
}

export interface SpecInput {
  id: string;
  /** Absolute path of the (already mounted) rootfs. */
  rootfs: string;
  image: ImageRuntimeConfig;
  /** Replaces the image Cmd (the arguments after IMAGE). */
  command?: string[];
  /** Replaces the image Entrypoint; [""] clears it together with the image Cmd, [] keeps the Cmd. */
  entrypoint?: string[];
  /** KEY=VALUE, merged over the image Env. */
  env?: string[];
  workdir?: string;
  /** 'name', 'uid', 'name:group', 'uid:gid'. */
  user?: string;
  /** Extra group ids of the process. */
  supplementalGroups?: number[];
  /** Extra groups by name (looked up in the container's /etc/group) or number. */
  additionalGroups?: string[];
  /** Set in the container's UTS namespace; unset: none is set (e.g. a pod's joined UTS namespace). */
  hostname?: string;
  tty?: boolean;
  /** Extra mounts, after the defaults; one at a default's destination replaces that default. */
  mounts?: Mount[];
  /** Propagation of the container's / (runc makes it rslave by default); shared binds need rshared. */
  rootfsPropagation?: 'rshared' | 'rslave';
  readOnlyRootfs?: boolean;
  resources?: ResourceLimits;
  oomScoreAdj?: number;
  devices?: DeviceRequest[];
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  noNewPrivileges?: boolean;
  /** Default true; false = unconfined. */
  seccomp?: boolean;
  /** A profile file's parsed JSON (docker's format) in place of the default profile. */
  seccompProfile?: { path: string; profile: unknown };
  /** Bytes of the /dev/shm tmpfs (default 64 MiB). */
  shmSize?: number;
  /** A host directory bind-mounted at /dev/shm instead of a tmpfs (the host's with its IPC namespace). */
  shmSource?: string;
  /** Replace the default masked and read-only paths (unprivileged containers). */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  ulimits?: { type: string; soft: number; hard: number }[];
  sysctls?: Record<string, string>;
  /**
   * Replace the default namespace of the same type, e.g. { type: 'network', path: '/run/netns/x' };
   * host: none of that type, the host's is shared (pid, ipc, uts).
   */
  namespaces?: { type: string; path?: string; host?: boolean }[];
  /** 'host' shares the host's network namespace; 'none' and 'private' both get a new one. */
  networkMode?: 'none' | 'host' | 'private';
  /** Default '/berth/<id>'. */
  cgroupsPath?: string;
  /** Host path of an init binary, run as /dev/init with the command after `--`. */
  init?: string;
  annotations?: Record<string, string>;
}

const NAMESPACE_TYPES = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup'];

const MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export async function buildSpec(input: SpecInput): Promise<RuntimeSpec> {
  if (!input.id) throw invalidArgument('container id is empty');
  if (!isAbsolute(input.rootfs)) throw invalidArgument(`rootfs path must be absolute: ${input.rootfs}`);
  const image = input.image ?? {};
  const privileged = input.privileged ?? false;
  const networkMode = input.networkMode ?? 'none';

  const args = processArgs(image, input);
  if (args.length === 0) throw invalidArgument('no command specified');
  const user = await resolveUser(input.rootfs, input.user ?? image.User);
  const extra = [...(input.supplementalGroups ?? []), ...(input.additionalGroups?.length ? await resolveGroups(input.rootfs, input.additionalGroups) : [])];
  for (const g of extra) if (!user.additionalGids.includes(g)) user.additionalGids.push(g);
  const hostname = input.hostname;
  if (hostname !== undefined) validateHostname(hostname);
  const cwd = input.workdir || image.WorkingDir || '/';
  if (!isAbsolute(cwd)) throw invalidArgument(`working directory must be an absolute path: ${cwd}`);

  const caps = privileged ? hostCapabilities() : containerCapabilities(input.capAdd, input.capDrop);
  const env = processEnv(image.Env ?? [], input.env ?? [], { hostname, tty: input.tty ?? false, home: user.home });

  const mounts = defaultMounts(privileged, input.shmSize);
  if (input.shmSource) mounts.splice(mounts.findIndex((m) => m.destination === '/dev/shm'), 1, { destination: '/dev/shm', type: 'bind', source: input.shmSource, options: ['rbind', 'nosuid', 'noexec', 'nodev'] });
  if (input.init) {
    if (!isAbsolute(input.init) || !existsSync(input.init)) throw invalidArgument(`init binary not found: ${input.init}`);
    mounts.push({ destination: '/dev/init', type: 'bind', source: input.init, options: ['bind', 'ro', 'nosuid', 'nodev'] });
  }
  for (const m of input.mounts ?? []) {
    validateMount(m);
    const at = mounts.findIndex((d) => d.destination === cleanPath(m.destination));
    if (at >= 0) mounts.splice(at, 1);
    mounts.push({ ...m, destination: cleanPath(m.destination), options: [...m.options] });
  }

  // Each requested device is looked up once, for its node and for its cgroup rule.
  const requested = privileged ? [] : (input.devices ?? []).map((d) => ({ request: d, node: deviceNode(d.hostPath, d.containerPath) }));

  const spec: RuntimeSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: input.tty ?? false,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) },
      args: input.init ? ['/dev/init', '--', ...args] : args,
      env,
      cwd: cleanPath(cwd),
      // Inheritable and ambient stay empty (CVE-2022-24769): a non-root process keeps
      // nothing across exec unless its file has capabilities.
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [] },
      noNewPrivileges: input.noNewPrivileges ?? false,
    },
    root: { path: input.rootfs, readonly: input.readOnlyRootfs ?? false },
    ...(hostname !== undefined ? { hostname } : {}),
    mounts,
    linux: {
      namespaces: namespaces(input.namespaces, networkMode),
      devices: privileged ? hostDevices() : requested.map((d) => d.node),
      resources: resources(input, privileged, requested),
      cgroupsPath: input.cgroupsPath ?? `/berth/${input.id}`,
    },
  };
  if (input.rootfsPropagation) spec.linux.rootfsPropagation = input.rootfsPropagation;
  if (input.ulimits?.length) spec.process.rlimits = buildRlimits(input.ulimits);
  if (input.oomScoreAdj !== undefined) {
    if (!Number.isInteger(input.oomScoreAdj) || input.oomScoreAdj < -1000 || input.oomScoreAdj > 1000)
      throw invalidArgument(`invalid oom score adj ${input.oomScoreAdj}: must be between -1000 and 1000`);
    spec.process.oomScoreAdj = input.oomScoreAdj;
  }
  if (!privileged) {
    spec.linux.maskedPaths = [...(input.maskedPaths ?? MASKED_PATHS)];
    spec.linux.readonlyPaths = [...(input.readonlyPaths ?? READONLY_PATHS)];
    if (input.seccompProfile) spec.linux.seccomp = seccompFromProfile(input.seccompProfile.profile, input.seccompProfile.path, caps);
    else if (input.seccomp ?? true) spec.linux.seccomp = defaultSeccompProfile(caps);
  }
  if (input.sysctls && Object.keys(input.sysctls).length) {
    const has = (type: string) => spec.linux.namespaces.some((n) => n.type === type);
    spec.linux.sysctl = validateSysctls(input.sysctls, { hostNetwork: !has('network'), hostIpc: !has('ipc') });
  }
  const annotations = { ...(input.annotations ?? {}) };
  if (image.StopSignal) annotations['org.opencontainers.image.stopSignal'] = image.StopSignal;
  if (Object.keys(annotations).length) spec.annotations = annotations;
  return spec;
}

/** '/a/./b/' → '/a/b' (absolute paths only). */
function cleanPath(p: string): string {
  return resolve('/', p);
}

function validateHostname(name: string): void {
  if (name.length > 64 || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw invalidArgument(`invalid hostname: "${name}"`);
  }
}

function validateMount(m: Mount): void {
  if (!m || typeof m.destination !== 'string' || !isAbsolute(m.destination)) {
    throw invalidArgument(`mount destination must be an absolute path: ${m?.destination}`);
  }
  if (!m.type) throw invalidArgument(`mount at ${m.destination}: type is empty`);
  if (!Array.isArray(m.options)) throw invalidArgument(`mount at ${m.destination}: options must be a list`);
  if (m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind')) {
    if (!isAbsolute(m.source)) throw invalidArgument(`bind mount source must be an absolute path: ${m.source}`);
    try {
      statSync(m.source);
    } catch {
      throw invalidArgument(`bind mount source path does not exist: ${m.source}`);
    }
  }
}

export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

function defaultMounts(privileged: boolean, shmSize = DEFAULT_SHM_SIZE): Mount[] {
  const ro = privileged ? 'rw' : 'ro';
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ro] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', ro] },
  ];
}

let cgroupNamespaces: boolean | undefined;
function cgroupNamespaceSupported(): boolean {
  cgroupNamespaces ??= existsSync('/proc/self/ns/cgroup');
  return cgroupNamespaces;
}

function namespaces(overrides: SpecInput['namespaces'], networkMode: SpecInput['networkMode']): Namespace[] {
  const list: Namespace[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (networkMode !== 'host') list.push({ type: 'network' });
  if (cgroupNamespaceSupported()) list.push({ type: 'cgroup' });
  for (const o of overrides ?? []) {
    if (!NAMESPACE_TYPES.includes(o.type)) throw invalidArgument(`unknown namespace type: "${o.type}"`);
    if (o.path !== undefined && !isAbsolute(o.path)) throw invalidArgument(`namespace path must be absolute: ${o.path}`);
    const at = list.findIndex((n) => n.type === o.type);
    if (o.host) {
      if (at >= 0) list.splice(at, 1);
      continue;
    }
    const ns: Namespace = o.path === undefined ? { type: o.type } : { type: o.type, path: o.path };
    if (at >= 0) list[at] = ns;
    else list.push(ns);
  }
  return list;
}

function resources(input: SpecInput, privileged: boolean, requested: { request: DeviceRequest; node: Device }[]): Resources {
  return {
    devices: privileged ? [{ allow: true, access: 'rwm' }] : [...defaultDeviceRules(), ...requested.map((d) => deviceRule(d.request, d.node))],
    ...cgroupLimits(input.resources ?? {}),
  };
}

/** The limits as runtime-spec linux.resources (devices aside): for create, and for `runtime update`. */
export function cgroupLimits(l: ResourceLimits): Omit<Resources, 'devices'> {
  const r: Omit<Resources, 'devices'> = {};
  if (l.memory !== undefined) {
    r.memory = { limit: checkMemoryLimit(l.memory) };
  }
  if (l.memorySwap !== undefined) r.memory = { ...r.memory, swap: l.memorySwap };
  if (l.memoryReservation !== undefined) r.memory = { ...r.memory, reservation: l.memoryReservation };
  const cpu: NonNullable<Resources['cpu']> = {};
  if (l.cpuQuota !== undefined || l.cpuPeriod !== undefined) {
    const period = l.cpuPeriod ?? 100_000;
    if (!Number.isSafeInteger(period) || period < 1000 || period > 1_000_000) throw invalidArgument(`invalid cpu period ${period}: between 1000 and 1000000 µs`);
    if (l.cpuQuota !== undefined && (!Number.isSafeInteger(l.cpuQuota) || l.cpuQuota < 1000))
      throw invalidArgument(`invalid cpu quota ${l.cpuQuota}: at least 1000 µs (0.01 CPUs)`);
    cpu.period = period;
    if (l.cpuQuota !== undefined) cpu.quota = l.cpuQuota;
  }
  if (l.cpuShares !== undefined && l.cpuShares > 0) cpu.shares = l.cpuShares;
  if (l.cpusetCpus) cpu.cpus = l.cpusetCpus;
  if (l.cpusetMems) cpu.mems = l.cpusetMems;
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (l.pids !== undefined && l.pids !== 0 && l.pids !== -1) {
    if (!Number.isSafeInteger(l.pids) || l.pids < 1) {
      throw invalidArgument(`invalid pids limit ${l.pids}: must be a positive number (or -1 for unlimited)`);
    }
    r.pids = { limit: l.pids };
  }
  if (l.hugepages?.length) r.hugepageLimits = l.hugepages.map((h) => ({ pageSize: h.pageSize, limit: h.limit }));
  if (l.unified && Object.keys(l.unified).length) r.unified = { ...l.unified };
  return r;
}

function deviceRule(d: DeviceRequest, node: Device) {
  const access = d.permissions ?? 'rwm';
  if (!/^[rwm]{1,3}$/.test(access)) throw invalidArgument(`invalid device permissions "${access}" for ${d.hostPath}: a subset of rwm`);
  return { allow: true, type: node.type === 'b' ? ('b' as const) : ('c' as const), major: node.major, minor: node.minor, access };
}
