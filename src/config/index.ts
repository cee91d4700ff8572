// Paths and settings. Every directory is configurable by flag and environment so tests
// run many isolated instances side by side.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fromSystemError, invalidArgument, unavailable } from '../errors/index.js';

export { isValidName } from './names.js';

export interface Paths {
  /** Persistent state: database, blobs, snapshots, container dirs. */
  root: string;
  /** Runtime state (lost at reboot): runc state, conmon sockets, pid and exit files. */
  runRoot: string;
  /** berth.toml lives here. */
  configDir: string;
}

export interface RuntimeConfig {
  /** Path or name of the OCI runtime binary (runc, crun …). */
  path: string;
  /** Extra global arguments passed before the runtime's subcommand. */
  args: string[];
}

export interface Config {
  paths: Paths;
  runtime: RuntimeConfig;
  /** conmon binary. */
  conmon: string;
  /** Maximum size of a container's log file in bytes before conmon rotates it; -1 = unlimited. */
  logSizeMax: number;
  /** Init binary for `run --init` (bind-mounted into the container). */
  initPath: string;
  network: NetworkConfig;
  registries: RegistriesSettings;
  daemon: DaemonSettings;
}

export type CgroupDriver = 'cgroupfs' | 'systemd';

/** berthd's own settings ([daemon] and [cri] in berth.toml; flags override them). */
export interface DaemonSettings {
  /** The CRI socket (default /run/berth/berth.sock). */
  socket: string;
  /** The Docker Engine API socket (absolute); unset: berthd serves no Docker API. */
  dockerSocket?: string;
  /** host:port of the streaming server for exec/attach/port-forward URLs. */
  streamAddress: string;
  cgroupDriver: CgroupDriver;
  logLevel: string;
  /** Run a pod's infra container from this image instead of pinning namespaces without a process. */
  sandboxImage?: string;
}

export interface RegistriesSettings {
  /** registries.conf to read when $CONTAINERS_REGISTRIES_CONF is not set (default: the system file). */
  config?: string;
}

export interface NetworkConfig {
  /** CNI network configuration lists; read it through networkConfDir(), which checks it. */
  confDir: string;
  /** The berth.toml setting that named confDir ("<file>: <key>"), if one did. */
  confDirSetting?: string;
  /** Where CNI plugins are looked for, in order. */
  pluginDirs: string[];
  /** The default network's bridge and subnet, used when berth writes its conflist. */
  defaultBridge?: string;
  defaultSubnet?: string;
  /** The network of CRI pods ([cri] cni_default_network); unset: the first in confDir. */
  podNetwork?: string;
}

export interface ConfigOverrides {
  root?: string;
  runRoot?: string;
  configDir?: string;
  runtime?: string;
  /** The daemon's flags: --cni-conf-dir, --cni-plugin-dir. */
  cniConfDir?: string;
  cniPluginDirs?: string[];
  /** The daemon's flags over [daemon] and [cri]. */
  daemon?: Partial<DaemonSettings>;
}

export function resolvePaths(o: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Paths {
  return {
    root: o.root ?? env.BERTH_ROOT ?? '/var/lib/berth',
    runRoot: o.runRoot ?? env.BERTH_RUNROOT ?? '/run/berth',
    configDir: o.configDir ?? env.BERTH_CONFIG_DIR ?? '/etc/berth',
  };
}

/**
 * Loads berth.toml from the config dir (absent file = defaults).
 *
 *   [runtime]
 *   path = "runc"          # or "crun", or an absolute path
 *   args = ["--debug"]
 *   [monitor]
 *   conmon = "conmon"
 *   log_size_max = -1
 *   [containers]
 *   init_path = "/usr/bin/catatonit"
 *   [network]
 *   cni_conf_dir = "/etc/cni/net.d"
 *   cni_plugin_dirs = ["/opt/cni/bin", "/usr/lib/cni"]
 *   default_bridge = "berth0"
 *   default_subnet = "10.99.0.0/16"
 *   [registries]
 *   config = "/etc/containers/registries.conf"
 *   [daemon]                          # berthd
 *   socket = "/run/berth/berth.sock"   # default: berth.sock in the run dir
 *   docker_socket = ""                 # the Docker Engine API too, e.g. "/run/berth/docker.sock"
 *   log_level = "info"
 *   [cri]
 *   stream_address = "127.0.0.1:0"    # host:port; port 0 picks one
 *   cgroup_driver = "cgroupfs"        # or "systemd"
 *   sandbox_image = ""                # optional
 *   cni_conf_dir = "/etc/cni/net.d"   # default: [network]'s
 *   cni_plugin_dirs = ["/opt/cni/bin"]
 */
export async function loadConfig(o: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const paths = resolvePaths(o, env);
  const file = join(paths.configDir, 'berth.toml');
  let doc: Record<string, any> = {};
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw invalidArgument(`the config dir ${paths.configDir} (--config-dir, $BERTH_CONFIG_DIR) is not a directory`);
    if (code !== 'ENOENT') throw fromSystemError(e, file);
  }
  if (text !== undefined) {
    const { parse } = await import('smol-toml');
    try {
      doc = parse(text) as Record<string, any>;
    } catch (e) {
      throw invalidArgument(`${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const runtime = doc.runtime ?? {};
  const monitor = doc.monitor ?? {};
  const containers = doc.containers ?? {};
  const network = doc.network ?? {};
  const registries = doc.registries ?? {};
  const daemon = doc.daemon ?? {};
  const cri = doc.cri ?? {};
  const d = o.daemon ?? {};
  const cgroupDriver = d.cgroupDriver ?? str(cri.cgroup_driver, 'cri.cgroup_driver', file) ?? 'cgroupfs';
  if (cgroupDriver !== 'cgroupfs' && cgroupDriver !== 'systemd') throw invalidArgument(`${file}: cri.cgroup_driver must be "cgroupfs" or "systemd", not "${cgroupDriver}"`);
  return {
    paths,
    runtime: {
      path: o.runtime ?? env.BERTH_RUNTIME ?? str(runtime.path, 'runtime.path', file) ?? 'runc',
      args: strArray(runtime.args, 'runtime.args', file) ?? [],
    },
    conmon: env.BERTH_CONMON ?? str(monitor.conmon, 'monitor.conmon', file) ?? 'conmon',
    logSizeMax: num(monitor.log_size_max, 'monitor.log_size_max', file) ?? -1,
    initPath: str(containers.init_path, 'containers.init_path', file) ?? '/usr/bin/catatonit',
    network: {
      ...confDirOf(o.cniConfDir, cri.cni_conf_dir, network.cni_conf_dir, file, paths),
      pluginDirs:
        o.cniPluginDirs ?? strArray(cri.cni_plugin_dirs, 'cri.cni_plugin_dirs', file) ?? strArray(network.cni_plugin_dirs, 'network.cni_plugin_dirs', file) ?? ['/opt/cni/bin', '/usr/lib/cni'],
      defaultBridge: str(network.default_bridge, 'network.default_bridge', file),
      defaultSubnet: str(network.default_subnet, 'network.default_subnet', file),
      podNetwork: str(cri.cni_default_network, 'cri.cni_default_network', file) || undefined,
    },
    registries: {
      config: str(registries.config, 'registries.config', file),
    },
    daemon: {
      socket: d.socket ?? str(daemon.socket, 'daemon.socket', file) ?? join(paths.runRoot, 'berth.sock'),
      // An empty flag turns berth.toml's off.
      dockerSocket: (d.dockerSocket ?? absolutePath(daemon.docker_socket, 'daemon.docker_socket', file)) || undefined,
      streamAddress: d.streamAddress ?? str(cri.stream_address, 'cri.stream_address', file) ?? '127.0.0.1:0',
      cgroupDriver,
      logLevel: d.logLevel ?? str(daemon.log_level, 'daemon.log_level', file) ?? 'info',
      sandboxImage: d.sandboxImage ?? (str(cri.sandbox_image, 'cri.sandbox_image', file) || undefined),
    },
  };
}

function str(v: unknown, key: string, file: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidArgument(`${file}: ${key} must be a string`);
  return v;
}

function absolutePath(v: unknown, key: string, file: string): string | undefined {
  const path = str(v, key, file);
  if (path && !isAbsolute(path)) throw invalidArgument(`${file}: ${key} must be an absolute path, not "${path}"`);
  return path;
}

/**
 * The CNI conf dir: the daemon's flag, else [cri], else [network], else the default: the
 * host's /etc/cni/net.d for the default instance; another instance (its own root or config
 * dir) keeps its networks in its own dir, so its default network's addresses are
 * allocated in its own root, never in another instance's.
 */
function confDirOf(flag: string | undefined, cri: unknown, network: unknown, file: string, paths: Paths): Pick<NetworkConfig, 'confDir' | 'confDirSetting'> {
  if (flag !== undefined) return { confDir: flag };
  for (const [v, key] of [[cri, 'cri.cni_conf_dir'], [network, 'network.cni_conf_dir']] as const) {
    const path = str(v, key, file);
    if (path !== undefined) return { confDir: path, confDirSetting: `${file}: ${key}` };
  }
  const defaults = resolvePaths({}, {});
  if (paths.configDir !== defaults.configDir) return { confDir: join(paths.configDir, 'cni', 'net.d') };
  if (paths.root !== defaults.root) return { confDir: join(paths.root, 'cni', 'net.d') };
  return { confDir: '/etc/cni/net.d' };
}

const checkedConfDirs = new WeakSet<NetworkConfig>();

/**
 * The CNI conf dir, checked once where the network is used (most commands never touch it):
 * berth.toml's cni_conf_dir must name a directory, or a path not made yet.
 */
export function networkConfDir(n: NetworkConfig): string {
  if (n.confDirSetting === undefined || checkedConfDirs.has(n)) return n.confDir;
  const where = `${n.confDirSetting}: ${n.confDir}`;
  let isDir: boolean | undefined;
  try {
    isDir = statSync(n.confDir, { throwIfNoEntry: false })?.isDirectory();
  } catch (e) {
    throw fromSystemError(e, where);
  }
  if (isDir === false) throw invalidArgument(`${where} is not a directory`);
  checkedConfDirs.add(n);
  return n.confDir;
}
function strArray(v: unknown, key: string, file: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalidArgument(`${file}: ${key} must be an array of strings`);
  return v as string[];
}
function num(v: unknown, key: string, file: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' && typeof v !== 'bigint') throw invalidArgument(`${file}: ${key} must be a number`);
  return Number(v);
}

/**
 * Finds one of berth's own files (native addons) in the first directory above this
 * module that has it: works from src/, from out/src/ and from the bundle in build/.
 */
export function findInstalled(relPath: string): string {
  let dir = import.meta.dirname;
  for (;;) {
    const candidate = join(dir, relPath);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) throw unavailable(`${relPath} not found: run \`make build\``);
    dir = up;
  }
}
