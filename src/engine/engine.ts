// The composition root: builds each service once, on first use, from the config and the
// path layout. The CLI and a long-running daemon are its users. Modules load lazily, so a
// user pays only for what it touches (`berth version` opens no database, `ps` loads no
// image store).
import { loadConfig, networkConfDir, resolvePaths, type Config, type ConfigOverrides } from '../config/index.js';
import { failedPrecondition, fromSystemError, invalidArgument } from '../errors/index.js';
import { makeDirsSync } from '../sys/index.js';
import { openStore, type Store } from '../store/index.js';
import type { ContentStore } from '../content/index.js';
import type { Snapshotter } from '../snapshot/index.js';
import type { ImageStore, RegistryAccess } from '../image/index.js';
import type { NetworkManager } from '../network/index.js';
import type { Credentials } from '../registry/index.js';
import type { OciRuntime } from '../oci/index.js';
import type { ContainerManager } from '../container/index.js';
import type { PodManager } from '../pod/index.js';
import type { VolumeStore } from '../volume/index.js';
import type { EventLog } from '../events/index.js';
import { enginePaths, type EnginePaths } from './paths.js';

/** containerd's rule for namespace names. */
const NAMESPACE = /^[a-z0-9]([a-z0-9._-]{0,74}[a-z0-9])?$/;

export interface EngineOptions extends ConfigOverrides {
  /**
   * The namespace of containers and pods this engine lists and makes: the CLI's default is
   * 'default' (env BERTH_NAMESPACE), the CRI's 'k8s.io'. Images are shared by all.
   */
  namespace?: string;
  /** Environment for defaults (BERTH_ROOT …, CONTAINERS_REGISTRIES_CONF); default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * The program and leading arguments conmon runs when a container exits (the container
   * ID is appended): the user's own entry point, with the same dirs. Without it exits are
   * still recorded, by the next query that looks.
   */
  cleanupCommand?: (config: Config) => string[];
  /** The program and leading arguments a container's health check timer runs (see container/health.ts); none: no timers. */
  healthcheckCommand?: (config: Config) => string[];
  /**
   * Owners of network namespaces besides containers (e.g. a pod store: is this pod ID
   * alive?). The sweep before a container's network setup leaves their namespaces alone.
   */
  networkOwners?: ((id: string) => boolean | Promise<boolean>)[];
  /**
   * A long-running process (a daemon), not one command: its container runtime keeps work
   * ahead of requests and behind answers (see ContainerRuntime), which close() ends.
   */
  serving?: boolean;
}

/** Per-call registry options (a command's --cert-dir, --tls-verify, --authfile). */
export interface RegistryOptions {
  /** Certificates per registry: DIR/HOST[:PORT]/{ca.crt,*.cert,*.key}. */
  certsDir?: string;
  /** false: like an insecure registry (plain HTTP allowed, certificates not verified). */
  tlsVerify?: boolean;
  /** Credentials file instead of the default search. */
  authFile?: string;
  /** Credentials for this operation only (a CRI pull's AuthConfig), instead of any file. */
  credentials?: Credentials;
}

export type RegistrySession = RegistryAccess & { close(): void };

export class Engine {
  readonly paths: EnginePaths;
  private readonly env: NodeJS.ProcessEnv;
  private db?: Store;
  /** Each service once, by name; building one starts on first use. */
  private readonly services = new Map<string, Promise<unknown>>();
  private closed = false;

  readonly namespace: string;

  constructor(private readonly opts: EngineOptions = {}) {
    this.env = opts.env ?? process.env;
    this.paths = enginePaths(resolvePaths(opts, this.env));
    this.namespace = opts.namespace ?? (this.env.BERTH_NAMESPACE || 'default');
    if (!NAMESPACE.test(this.namespace)) throw invalidArgument(`invalid namespace "${this.namespace}": lower-case letters, digits, '.', '_' and '-'`);
  }

  config(): Promise<Config> {
    return this.once('config', () => loadConfig(this.opts, this.env));
  }

  async store(): Promise<Store> {
    this.open();
    if (!this.db) {
      this.db = openStore(this.paths.root);
      // Made here once, bounded (see makeDirsSync): every later mkdir under it is a plain one.
      try {
        makeDirsSync(this.paths.runRoot, 0o700);
      } catch (e) {
        this.db.close();
        this.db = undefined;
        throw fromSystemError(e, `run root ${this.paths.runRoot}`);
      }
    }
    return this.db;
  }

  content(): Promise<ContentStore> {
    return this.once('content', async () => new (await import('../content/index.js')).ContentStore(this.paths.content));
  }

  snapshots(): Promise<Snapshotter> {
    return this.once('snapshots', async () => {
      const { Snapshotter } = await import('../snapshot/index.js');
      return new Snapshotter(this.paths.snapshots, await this.store());
    });
  }

  images(): Promise<ImageStore> {
    return this.once('images', async () => {
      const { ImageStore } = await import('../image/index.js');
      const store = await this.store();
      // Which images are in use, the containers' own records say.
      const users = async () => new (await import('../container/index.js')).ContainerRecords(store).imageUsers();
      // registries.conf's reader alone, not the registry client (TLS, HTTP) it sits beside:
      // read only when a short name matches images of several registries.
      const [{ loadRegistriesConfSync }, config] = await Promise.all([import('../registry/conf.js'), this.config()]);
      let search: string[] | undefined;
      const searchRegistries = () => (search ??= loadRegistriesConfSync(this.registriesConfPath(config), this.env).unqualifiedSearch);
      return new ImageStore(store, await this.content(), await this.snapshots(), users, searchRegistries);
    });
  }

  network(): Promise<NetworkManager> {
    return this.once('network', async () => {
      const { NetworkManager } = await import('../network/index.js');
      const { network } = await this.config();
      return new NetworkManager({
        confDir: networkConfDir(network),
        pluginDirs: network.pluginDirs,
        cacheDir: this.paths.cniResults,
        netnsDir: this.paths.netns,
        dnsDir: this.paths.dnsname,
        defaultNetwork: { bridge: network.defaultBridge, subnet: network.defaultSubnet, ipamDataDir: this.paths.cniNetworks },
      });
    });
  }

  /** The OCI runtime driver (runc, crun), one for everything this engine runs. */
  runtime(): Promise<OciRuntime> {
    return this.once('runtime', async () => {
      const { OciRuntime } = await import('../oci/index.js');
      return new OciRuntime((await this.config()).runtime, this.paths.runtimeState);
    });
  }

  containers(): Promise<ContainerManager> {
    return this.once('containers', async () => {
      const { ContainerManager } = await import('../container/index.js');
      const config = await this.config();
      const p = this.paths;
      return new ContainerManager({
        config,
        store: await this.store(),
        namespace: this.namespace,
        runtime: await this.runtime(),
        dirs: { containers: p.containers, exits: p.exits, sockets: p.sockets, containerRuntime: p.containerRuntime, netns: p.netns },
        images: () => this.images(),
        snapshots: () => this.snapshots(),
        network: () => this.network(),
        volumes: () => this.volumes(),
        cleanupCommand: this.opts.cleanupCommand?.(config),
        healthcheckCommand: this.opts.healthcheckCommand?.(config),
        // Pods own network namespaces too; their table is asked only when a sweep finds an orphan.
        networkOwners: [...(this.opts.networkOwners ?? []), async (id) => (await this.pods()).records.exists(id)],
        serving: this.opts.serving,
      });
    });
  }

  volumes(): Promise<VolumeStore> {
    return this.once('volumes', async () => {
      const { VolumeStore } = await import('../volume/index.js');
      const store = await this.store();
      // Which volumes are in use, the containers' own records say.
      const users = async () => new (await import('../container/index.js')).ContainerRecords(store).volumeUsers();
      return new VolumeStore(store, this.paths.volumes, users, this.namespace);
    });
  }

  /** The store's event log (every namespace's; readers filter by this.namespace as they need). */
  events(): Promise<EventLog> {
    return this.once('events', async () => new (await import('../events/index.js')).EventLog(await this.store()));
  }

  pods(): Promise<PodManager> {
    return this.once('pods', async () => {
      const { PodManager } = await import('../pod/index.js');
      const p = this.paths;
      return new PodManager({
        store: await this.store(),
        namespace: this.namespace,
        dirs: { pods: p.pods, podRuntime: p.podRuntime, netns: p.netns },
        network: () => this.network(),
        containers: () => this.containers(),
      });
    });
  }

  /**
   * A registry client and registries.conf for one operation; the caller closes it.
   * registries.conf: $CONTAINERS_REGISTRIES_CONF first (as podman and skopeo), then
   * berth.toml's [registries] config, then the system file.
   */
  async registry(o: RegistryOptions = {}): Promise<RegistrySession> {
    const [{ loadRegistriesConf, RegistryClient, findCredentials }, config] = await Promise.all([import('../registry/index.js'), this.config()]);
    const conf = await loadRegistriesConf(this.registriesConfPath(config), this.env);
    const authFiles = o.authFile ? [o.authFile] : undefined;
    const client = new RegistryClient({
      certsDir: o.certsDir,
      tlsVerify: o.tlsVerify !== false,
      credentials: o.credentials ? () => o.credentials : (repo) => findCredentials(repo, authFiles),
    });
    return { client, conf, close: () => client.close() };
  }

  private registriesConfPath(config: Config): string | undefined {
    return this.env.CONTAINERS_REGISTRIES_CONF || config.registries.config;
  }

  /**
   * The image store's filesystem use: blobs plus unpacked layers, on disk (du's count), and
   * the directory that names the filesystem (the snapshots dir, as containerd names its
   * snapshotter's).
   */
  async imageFsUsage(opts: { signal?: AbortSignal } = {}): Promise<{ mountpoint: string; bytes: number; inodes: number }> {
    this.open();
    const { treeUsage } = await import('../sys/index.js');
    const { bytes, inodes } = await treeUsage([this.paths.content, this.paths.snapshots], opts.signal);
    return { mountpoint: this.paths.snapshots, bytes, inodes };
  }

  /**
   * Forgets what was learnt from the host, for a long-running process: the capability set
   * and the resolved runtime binary are looked up again on next use. Built services stay.
   */
  async reload(): Promise<void> {
    this.open();
    const [{ refreshHostCapabilities }, { refreshTransports }] = await Promise.all([import('../oci/index.js'), import('../registry/index.js')]);
    refreshHostCapabilities();
    refreshTransports(); // system CAs, per-host agents and their certs.d files, http/https probes
    const runtime = this.services.get('runtime') as Promise<OciRuntime> | undefined;
    (await runtime?.catch(() => undefined))?.refresh();
  }

  /**
   * Closes the database (at once: the engine cannot be used afterwards); resolves once
   * the container runtime's work behind answers is done as well.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db?.close();
    this.db = undefined;
    const containers = this.services.get('containers') as Promise<ContainerManager> | undefined;
    await (await containers?.catch(() => undefined))?.runtime.close();
  }

  private open(): void {
    if (this.closed) throw failedPrecondition('the engine is closed');
  }

  /** The service called name, built by make on first use; a failed build is tried again next time. */
  private once<T>(name: string, make: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(failedPrecondition('the engine is closed'));
    const existing = this.services.get(name);
    if (existing) return existing as Promise<T>;
    const p = make();
    this.services.set(name, p);
    p.catch(() => {
      if (this.services.get(name) === p) this.services.delete(name);
    });
    return p;
  }
}

export function createEngine(opts: EngineOptions = {}): Engine {
  return new Engine(opts);
}
