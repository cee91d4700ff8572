// Builds the OCI runtime spec (config.json) for a container from the image config and the
// user's options, with docker/podman's secure defaults.
import { existsSync, statSync } from 'node:fs';
import { hostname as hostHostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { invalidArgument } from '../errors/index.js';
import { containerCapabilities, hostCapabilities } from './capabilities.js';
import { defaultDeviceRules, hostDevices } from './devices.js';
import { buildRlimits, checkMemoryLimit, validateSysctls } from './limits.js';
import { defaultSeccompProfile } from './seccomp.js';
import type { ImageRuntimeConfig, Mount, Namespace, Resources, RuntimeSpec } from './types.js';
import { resolveUser } from './user.js';

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
  hostname?: string;
  tty?: boolean;
  /** Extra mounts, after the defaults; one at a default's destination replaces that default. */
  mounts?: Mount[];
  readOnlyRootfs?: boolean;
  /** Bytes. */
  memory?: number;
  /** CPUs, e.g. 1.5. */
  cpus?: number;
  pidsLimit?: number;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  noNewPrivileges?: boolean;
  /** Default true; false = unconfined. */
  seccomp?: boolean;
  ulimits?: { type: string; soft: number; hard: number }[];
  sysctls?: Record<string, string>;
  /** Replace the default namespace of the same type, e.g. { type: 'network', path: '/run/netns/x' }. */
  namespaces?: { type: string; path?: string }[];
  /** 'host' shares the host's network namespace; 'none' and 'private' both get a new one. */
  networkMode?: 'none' | 'host' | 'private';
  /** Default '/berth/<id>'. */
  cgroupsPath?: string;
  /** Host path of an init binary, run as /dev/init with the command after `--`. */
  init?: string;
  annotations?: Record<string, string>;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const NAMESPACE_TYPES = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup'];
const CPU_PERIOD = 100_000;

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

  const args = processArgs(input, image);
  const user = await resolveUser(input.rootfs, input.user ?? image.User);
  const hostname = input.hostname ?? (networkMode === 'host' ? hostHostname() : input.id.slice(0, 12));
  validateHostname(hostname);
  const cwd = input.workdir || image.WorkingDir || '/';
  if (!isAbsolute(cwd)) throw invalidArgument(`working directory must be an absolute path: ${cwd}`);

  const caps = privileged ? hostCapabilities() : containerCapabilities(input.capAdd, input.capDrop);
  const env = mergeEnv(image.Env ?? [], input.env ?? [], { hostname, tty: input.tty ?? false, home: user.home });

  const mounts = defaultMounts(privileged);
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
    hostname,
    mounts,
    linux: {
      namespaces: namespaces(input.namespaces, networkMode),
      devices: privileged ? hostDevices() : [],
      resources: resources(input, privileged),
      cgroupsPath: input.cgroupsPath ?? `/berth/${input.id}`,
    },
  };
  if (input.ulimits?.length) spec.process.rlimits = buildRlimits(input.ulimits);
  if (!privileged) {
    spec.linux.maskedPaths = [...MASKED_PATHS];
    spec.linux.readonlyPaths = [...READONLY_PATHS];
    if (input.seccomp ?? true) spec.linux.seccomp = defaultSeccompProfile(caps);
  }
  if (input.sysctls && Object.keys(input.sysctls).length) {
    spec.linux.sysctl = validateSysctls(input.sysctls, { hostNetwork: !spec.linux.namespaces.some((n) => n.type === 'network') });
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

/** docker semantics: entrypoint + cmd; a new entrypoint drops the image's Cmd. */
function processArgs(input: SpecInput, image: ImageRuntimeConfig): string[] {
  let entrypoint = image.Entrypoint ?? [];
  let cmd = image.Cmd ?? [];
  if (input.entrypoint !== undefined) {
    const cleared = input.entrypoint.length === 1 && input.entrypoint[0] === '';
    entrypoint = cleared ? [] : input.entrypoint;
    if (input.entrypoint.length > 0) cmd = [];
  }
  if (input.command && input.command.length > 0) cmd = input.command;
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw invalidArgument('no command specified');
  return args;
}

function mergeEnv(imageEnv: string[], userEnv: string[], o: { hostname: string; tty: boolean; home: string }): string[] {
  const env = new Map<string, string>();
  env.set('PATH', DEFAULT_PATH);
  env.set('HOSTNAME', o.hostname);
  if (o.tty) env.set('TERM', 'xterm');
  const add = (entry: string, from: string) => {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw invalidArgument(`${from} variable "${entry}" is not KEY=VALUE`);
    env.set(entry.slice(0, eq), entry.slice(eq + 1));
  };
  for (const e of imageEnv) add(e, 'image environment');
  for (const e of userEnv) add(e, 'environment');
  if (!env.has('HOME')) env.set('HOME', o.home);
  return [...env].map(([k, v]) => `${k}=${v}`);
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

function defaultMounts(privileged: boolean): Mount[] {
  const ro = privileged ? 'rw' : 'ro';
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'] },
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
    const ns: Namespace = o.path === undefined ? { type: o.type } : { type: o.type, path: o.path };
    const at = list.findIndex((n) => n.type === o.type);
    if (at >= 0) list[at] = ns;
    else list.push(ns);
  }
  return list;
}

function resources(input: SpecInput, privileged: boolean): Resources {
  const r: Resources = {
    devices: privileged ? [{ allow: true, access: 'rwm' }] : defaultDeviceRules(),
  };
  if (input.memory !== undefined) {
    r.memory = { limit: checkMemoryLimit(input.memory) };
  }
  if (input.cpus !== undefined) {
    if (!Number.isFinite(input.cpus) || input.cpus < 0.01) throw invalidArgument(`invalid cpus ${input.cpus}: must be at least 0.01`);
    r.cpu = { quota: Math.round(input.cpus * CPU_PERIOD), period: CPU_PERIOD };
  }
  if (input.pidsLimit !== undefined && input.pidsLimit !== 0 && input.pidsLimit !== -1) {
    if (!Number.isSafeInteger(input.pidsLimit) || input.pidsLimit < 1) {
      throw invalidArgument(`invalid pids limit ${input.pidsLimit}: must be a positive number (or -1 for unlimited)`);
    }
    r.pids = { limit: input.pidsLimit };
  }
  return r;
}
