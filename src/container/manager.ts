// ContainerManager: the container lifecycle over the store, the snapshotter, the OCI spec
// builder, the runtime and conmon. No state lives in this process: every method reads the
// store, and an exit that happened while no berth process ran is picked up from conmon's
// exit file by the next query (sync) or by conmon's exit command (cleanup).
import { mkdirSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { hostname as hostHostname } from 'node:os';
import { join } from 'node:path';
import { isValidName, type Config } from '../config/index.js';
import type { Store } from '../store/index.js';
import type { ImageStore, Image } from '../image/index.js';
import type { Snapshotter } from '../snapshot/index.js';
import type { NetworkManager } from '../network/index.js';
import { buildSpec, hostCapabilities, resolveUser, type OciRuntime, type Mount } from '../oci/index.js';
import {
  createContainer, execInContainer, attach, attachSocketPath, resize, readExitCode, waitExitCode, wasOomKilled, readLog,
  type AttachStreams, type LogLine,
} from '../monitor/index.js';
import { alreadyExists, failedPrecondition, internal, invalidArgument, isBerthError, notFound } from '../errors/index.js';
import { log } from '../log/index.js';
import { processAlive, writeFileAtomicSync } from '../sys/index.js';
import { networkNames, type Container, type ContainerConfig, type ContainerState } from './types.js';
import { randomHex, randomName } from './names.js';
import { commandExitError } from './exit-codes.js';
import { ETC_FILES, etcBindMounts, writeEtcFiles } from './etc-files.js';
import { mergeEnv, processArgs } from './process.js';

/** Seconds conmon holds back the exit command of a container someone waits on. */
const FOREGROUND_EXIT_DELAY_S = 1;

/** How long the exit code of a removed container stays available to `wait` (as podman). */
const EXIT_CODE_RETENTION_MS = 5 * 60_000;

export interface ManagerDeps {
  config: Config;
  store: Store;
  /** The one OCI runtime driver of the engine. */
  runtime: OciRuntime;
  /** The directories of the engine's layout this manager works in. */
  dirs: ContainerDirs;
  /** Built on first use: listing containers needs neither (and their modules cost start-up time). */
  images: () => Promise<ImageStore>;
  snapshots: () => Promise<Snapshotter>;
  network: () => Promise<NetworkManager>;
  /** Program + args conmon runs when a container exits; the container id is appended. */
  cleanupCommand?: string[];
}

export interface ExecRequest {
  command: string[];
  env?: string[];
  user?: string;
  workdir?: string;
  tty?: boolean;
  stdin?: boolean;
  detach?: boolean;
  privileged?: boolean;
}

export interface LogOptions {
  tail?: number;
  since?: Date;
  until?: Date;
  follow?: boolean;
  signal?: AbortSignal;
}

/** The engine's directories containers use (see engine/paths.ts). */
export interface ContainerDirs {
  /** <root>/containers: one persistent dir per container. */
  containers: string;
  /** conmon's exit files. */
  exits: string;
  /** conmon's attach sockets. */
  sockets: string;
  /** One runtime dir per container: conmon's pid files and control fifo. */
  containerRuntime: string;
  /** Network namespaces. */
  netns: string;
}

/** Where a container's files live. */
export interface ContainerPaths {
  /** Persistent: bundle (config.json), upper/work dirs, rootfs mount point, log, hosts files. */
  dir: string;
  rootfs: string;
  logPath: string;
  /** Runtime: conmon's pid files and control fifo. */
  persistDir: string;
  attachSocket: string;
}

interface Row {
  id: string;
  name: string;
  pod_id: string | null;
  image_id: string | null;
  image_name: string | null;
  config: string;
  state: ContainerState;
  pid: number | null;
  conmon_pid: number | null;
  exit_code: number | null;
  oom_killed: number;
  error: string | null;
  network: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const fromRow = (r: Row): Container => ({
  id: r.id,
  name: r.name,
  podId: r.pod_id,
  imageId: r.image_id,
  imageName: r.image_name,
  config: JSON.parse(r.config) as ContainerConfig,
  state: r.state,
  pid: r.pid,
  conmonPid: r.conmon_pid,
  exitCode: r.exit_code,
  oomKilled: r.oom_killed === 1,
  error: r.error,
  network: r.network ? JSON.parse(r.network) : null,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

export class ContainerManager {
  readonly runtime: OciRuntime;
  private readonly store: Store;
  private readonly images: () => Promise<ImageStore>;
  private readonly snapshots: () => Promise<Snapshotter>;
  private readonly network: () => Promise<NetworkManager>;
  private readonly config: Config;
  private readonly cleanupCommand?: string[];
  private readonly containersDir: string;
  private readonly exitDir: string;
  private readonly socketDir: string;
  private readonly persistRoot: string;
  private readonly netnsDir: string;

  constructor(deps: ManagerDeps) {
    this.config = deps.config;
    this.store = deps.store;
    this.images = deps.images;
    this.snapshots = deps.snapshots;
    this.network = deps.network;
    this.cleanupCommand = deps.cleanupCommand;
    this.containersDir = deps.dirs.containers;
    this.exitDir = deps.dirs.exits;
    this.socketDir = deps.dirs.sockets;
    this.persistRoot = deps.dirs.containerRuntime;
    this.netnsDir = deps.dirs.netns;
    this.runtime = deps.runtime;
  }

  paths(id: string): ContainerPaths {
    const dir = join(this.containersDir, id);
    return {
      dir,
      rootfs: join(dir, 'rootfs'),
      logPath: join(dir, 'ctr.log'),
      persistDir: join(this.persistRoot, id),
      attachSocket: attachSocketPath(this.socketDir, id),
    };
  }

  // ---- queries ------------------------------------------------------------------------

  /** All containers (or only running ones), each synced with conmon's exit file. */
  async list(opts: { all?: boolean } = {}): Promise<Container[]> {
    const rows = this.store.db.prepare('SELECT * FROM containers ORDER BY created_at DESC').all() as Row[];
    const out: Container[] = [];
    for (const r of rows) {
      const c = await this.sync(fromRow(r));
      if (c && (opts.all || c.state === 'running')) out.push(c);
    }
    return out;
  }

  /** Finds a container by full id, name, or unique id prefix. */
  async get(ref: string): Promise<Container> {
    const c = await this.sync(this.lookup(ref));
    if (!c) throw notFound(`no such container: ${ref}`);
    return c;
  }

  private lookup(ref: string): Container {
    const db = this.store.db;
    let row = db.prepare('SELECT * FROM containers WHERE id = ? OR name = ?').get(ref, ref) as Row | undefined;
    if (!row && /^[0-9a-f]{1,63}$/.test(ref)) {
      const rows = db.prepare("SELECT * FROM containers WHERE id LIKE ? || '%' LIMIT 2").all(ref) as Row[];
      if (rows.length > 1) throw invalidArgument(`multiple containers found with ID prefix "${ref}"`);
      row = rows[0];
    }
    if (!row) throw notFound(`no such container: ${ref}`);
    return fromRow(row);
  }

  private reload(id: string): Container | undefined {
    const row = this.store.db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow(row);
  }

  /**
   * Brings a container's row up to date with reality: an exit conmon recorded, a monitor
   * that vanished, or a creation whose creator died. Returns undefined when the container
   * turned out to be gone.
   */
  private async sync(c: Container): Promise<Container | undefined> {
    if (c.state === 'creating') {
      if (c.pid !== null && !processAlive(c.pid)) {
        if (c.startedAt === null) {
          log.info('removing a container whose creation was interrupted', { id: c.id });
          await this.discard(c.id);
          return undefined;
        }
        // An interrupted restart: the container goes back to stopped, as it was.
        await this.releaseRuntime(c.id);
        this.store.tx(() => this.store.db.prepare("UPDATE containers SET state = 'stopped', pid = NULL WHERE id = ? AND state = 'creating'").run(c.id));
        return this.reload(c.id);
      }
      return c;
    }
    if (c.state !== 'running' && c.state !== 'created') return c;
    let code = readExitCode(this.exitDir, c.id);
    if (code === undefined) {
      if (c.conmonPid === null || processAlive(c.conmonPid)) return c;
      // The monitor is gone without recording an exit: re-check, it may have written the
      // file just before exiting.
      code = readExitCode(this.exitDir, c.id);
      if (code === undefined) {
        await this.markExited(c, -1, 'container monitor (conmon) died without recording an exit code');
        return this.reload(c.id);
      }
    }
    await this.markExited(c, code);
    return this.reload(c.id);
  }

  // ---- lifecycle ----------------------------------------------------------------------

  /**
   * Creates a container. `foreground` says a caller stays attached and will record the
   * exit itself: conmon's exit command is then held back briefly and skipped when that
   * caller already released the container (a berth process start-up saved per run).
   */
  async create(cfg: ContainerConfig, opts: { foreground?: boolean } = {}): Promise<Container> {
    // A missing runtime is reported before anything is made.
    this.runtime.binary();
    const image = (await this.images()).resolve(cfg.image);
    if (cfg.name !== undefined && !isValidName(cfg.name))
      throw invalidArgument(`invalid container name "${cfg.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (cfg.publishAll) {
      const { publishAll } = await import('../network/index.js');
      cfg = { ...cfg, publish: [...(cfg.publish ?? []), ...publishAll(Object.keys(image.config.config?.ExposedPorts ?? {}))] };
    }
    const args = processArgs(image.config.config ?? {}, cfg);
    if (args.length === 0) throw invalidArgument('no command specified: the image has no CMD or ENTRYPOINT, give one after the image name');
    const id = randomHex(32);
    const name = cfg.name ?? this.freeName();
    const now = Date.now();
    try {
      // pid holds the creating process while state = 'creating', so an interrupted
      // creation can be told from one in progress.
      this.store.tx(() =>
        this.store.db
          .prepare(
            `INSERT INTO containers (id, name, image_id, image_name, config, state, pid, created_at)
             VALUES (?, ?, ?, ?, ?, 'creating', ?, ?)`,
          )
          .run(id, name, image.id, image.names[0] ?? null, JSON.stringify({ ...cfg, name, args }), process.pid, now),
      );
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const other = this.store.db.prepare('SELECT id FROM containers WHERE name = ?').get(name) as { id: string } | undefined;
        throw alreadyExists(
          `the container name "${name}" is already in use by ${other?.id ?? 'another container'}; remove or rename that container to reuse the name`,
        );
      }
      throw e;
    }
    try {
      await this.instantiate(this.reload(id)!, image, opts.foreground);
    } catch (e) {
      await this.discard(id);
      throw e;
    }
    return this.reload(id)!;
  }

  private freeName(): string {
    const taken = this.store.db.prepare('SELECT 1 FROM containers WHERE name = ?');
    for (;;) {
      const n = randomName();
      if (!taken.get(n)) return n;
    }
  }

  /** Mounts the rootfs, writes the bundle and has conmon run `runtime create`. */
  private async instantiate(c: Container, image: Image, foreground = false): Promise<void> {
    const p = this.paths(c.id);
    const cfg = c.config;
    mkdirSync(p.dir, { recursive: true, mode: 0o700 });
    mkdirSync(p.persistDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.exitDir, { recursive: true, mode: 0o700 });
    rmSync(join(this.exitDir, c.id), { force: true });
    const hostname = cfg.hostname ?? (cfg.network === 'host' ? hostHostname() : c.id.slice(0, 12));
    const networks = networkNames(cfg);
    // The network comes up (plugin processes) while this process mounts the rootfs and
    // writes the bundle; its namespace path is known in advance.
    const networkReady = networks ? this.attachNetwork(c, networks, hostname) : undefined;
    networkReady?.catch(() => {});
    const netns = networks ? join(this.netnsDir, c.id) : undefined;
    let rootfs: string;
    try {
      rootfs = (await this.snapshots()).mountRootfs((await this.images()).topChainId(image), p.dir, { volatile: cfg.autoRemove });
    } catch (e) {
      // The caller's cleanup tears the network down: let the setup finish first.
      await networkReady?.catch(() => {});
      throw e;
    }
    let mounts: Mount[];
    if (networks) {
      // The network writes these once it knows the addresses; the spec needs them to exist.
      for (const f of ETC_FILES) writeFileSync(join(p.dir, f), '', { flag: 'a' });
      mounts = etcBindMounts(p.dir);
    } else {
      mounts = await writeEtcFiles(p.dir, hostname, cfg.network === 'host' ? 'host' : 'none', cfg.addHosts);
    }
    for (const m of cfg.mounts ?? []) {
      if (!existsSync(m.source)) throw invalidArgument(`bind mount source path does not exist: ${m.source}`);
      mounts.push({ destination: m.destination, type: 'bind', source: m.source, options: ['rbind', m.readOnly ? 'ro' : 'rw'] });
    }
    for (const t of cfg.tmpfs ?? [])
      mounts.push({ destination: t.destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...t.options] });

    const ic = image.config.config ?? {};
    const spec = await buildSpec({
      id: c.id,
      rootfs,
      image: ic,
      command: cfg.args,
      entrypoint: [],
      env: cfg.env,
      workdir: cfg.workdir,
      user: cfg.user,
      hostname,
      tty: cfg.tty,
      mounts,
      readOnlyRootfs: cfg.readOnly,
      memory: cfg.memory,
      cpus: cfg.cpus,
      pidsLimit: cfg.pidsLimit,
      capAdd: cfg.capAdd,
      capDrop: cfg.capDrop,
      privileged: cfg.privileged,
      noNewPrivileges: cfg.noNewPrivileges,
      seccomp: cfg.seccomp,
      ulimits: cfg.ulimits,
      networkMode: cfg.network === 'host' ? 'host' : netns ? 'private' : 'none',
      namespaces: netns ? [{ type: 'network', path: netns }] : undefined,
      init: cfg.init ? this.config.initPath : undefined,
      annotations: cfg.labels,
    });
    // Whole or absent after a crash; rewritten at every start, so not worth an fsync.
    writeFileAtomicSync(join(p.dir, 'config.json'), JSON.stringify(spec), { fsync: false });
    if (networkReady && (await networkReady) !== netns) throw internal(`network namespace of ${c.id} is not at ${netns}`);

    let created: { pid: number; conmonPid: number };
    try {
      created = await createContainer({
        conmon: this.config.conmon,
        runtime: this.runtime.binary(),
        runtimeArgs: this.runtime.globalArgs(),
        id: c.id,
        name: c.name,
        bundle: p.dir,
        persistDir: p.persistDir,
        socketDir: this.socketDir,
        exitDir: this.exitDir,
        logPath: p.logPath,
        logSizeMax: cfg.logSizeMax ?? this.config.logSizeMax,
        terminal: cfg.tty ?? false,
        stdin: cfg.stdin ?? false,
        exitCommand: this.exitCommand(c.id),
        exitDelay: foreground ? FOREGROUND_EXIT_DELAY_S : undefined,
        pidFile: join(p.persistDir, 'pidfile'),
        conmonPidFile: join(p.persistDir, 'conmon.pid'),
      });
    } catch (e) {
      throw commandExitError(e);
    }
    this.store.tx(() =>
      this.store.db
        .prepare("UPDATE containers SET state = 'created', pid = ?, conmon_pid = ?, exit_code = NULL, error = NULL WHERE id = ?")
        .run(created.pid, created.conmonPid, c.id),
    );
  }

  /** Joins the container's networks and writes its resolv.conf, hosts and hostname; returns the netns path. */
  private async attachNetwork(c: Container, networks: string[], hostname: string): Promise<string> {
    const cfg = c.config;
    const net = await this.network();
    // Attachments whose container is gone (a crash between setup and the row's removal)
    // are released before new ones are made. A container that still has a row is its own
    // owner's to release (it may be doing so right now).
    await net.sweep((id) => this.store.db.prepare('SELECT 1 FROM containers WHERE id = ?').get(id) !== undefined);
    const status = await net.setup(c.id, { networks, portMappings: cfg.publish, cniArgs: [['IgnoreUnknown', '1']] });
    this.store.tx(() => this.store.db.prepare('UPDATE containers SET network = ? WHERE id = ?').run(JSON.stringify(status), c.id));
    const first = status.attachments[0];
    const { writeContainerFiles } = await import('../network/index.js');
    await writeContainerFiles(this.paths(c.id).dir, {
      hostname,
      name: c.name,
      ips: status.attachments.flatMap((a) => a.ips),
      gateway: first?.gateways[0],
      cni: first?.dns,
      dns: cfg.dns,
      dnsSearch: cfg.dnsSearch,
      dnsOptions: cfg.dnsOptions,
      addHosts: cfg.addHosts,
    });
    return status.netns;
  }

  /**
   * conmon's exit command: berth's cleanup, behind a shell test that skips it when the
   * runtime no longer knows the container (someone already released it).
   */
  private exitCommand(id: string): string[] | undefined {
    if (!this.cleanupCommand) return undefined;
    const runtimeState = join(this.runtime.stateRoot, id);
    return ['/bin/sh', '-c', 'test -e "$1" || exit 0; shift; exec "$@"', 'berth-cleanup', runtimeState, ...this.cleanupCommand, id];
  }

  /** Brings a stopped container back to 'created' (fresh monitor, same upper dir), so a
   *  caller can attach before it starts. */
  async prepare(ref: string): Promise<Container> {
    const c = await this.get(ref);
    if (c.state !== 'stopped') return c;
    const claimed = this.store.tx(
      () => this.store.db.prepare("UPDATE containers SET state = 'creating', pid = ? WHERE id = ? AND state = 'stopped'").run(process.pid, c.id).changes,
    );
    if (!claimed) return this.get(c.id);
    try {
      // What a release that never finished (its process died) left behind goes first.
      if (existsSync(join(this.runtime.stateRoot, c.id)) || existsSync(join(this.netnsDir, c.id))) await this.releaseRuntime(c.id);
      await this.instantiate(c, (await this.images()).resolve(c.imageId ?? c.config.image));
    } catch (e) {
      await this.releaseRuntime(c.id);
      this.store.tx(() => this.store.db.prepare("UPDATE containers SET state = 'stopped', pid = NULL WHERE id = ?").run(c.id));
      throw e;
    }
    return this.reload(c.id)!;
  }

  async start(ref: string): Promise<Container> {
    const c = await this.prepare(ref);
    if (c.state === 'running') return c;
    if (c.state !== 'created') throw failedPrecondition(`container ${c.name} is ${c.state} and cannot be started`);
    try {
      await this.runtime.start(c.id);
    } catch (e) {
      // The process may have failed to exec (runc reports that at start for some errors).
      const code = readExitCode(this.exitDir, c.id);
      if (code !== undefined) await this.markExited(c, code);
      throw commandExitError(e);
    }
    this.store.tx(() =>
      this.store.db
        .prepare("UPDATE containers SET state = 'running', started_at = ?, finished_at = NULL WHERE id = ? AND state = 'created'")
        .run(Date.now(), c.id),
    );
    return (await this.sync(this.reload(c.id)!))!;
  }

  /** Signals the container's process (runtime kill). */
  async kill(ref: string, signal: string | number = 'KILL'): Promise<Container> {
    const c = await this.get(ref);
    if (c.state !== 'running' && c.state !== 'created') throw failedPrecondition(`container ${c.name} is not running`);
    await this.runtime.kill(c.id, signal);
    return c;
  }

  /** Stops with the stop signal, then SIGKILL after timeout seconds. Stopped already: no-op. */
  async stop(ref: string, timeout?: number): Promise<Container> {
    const c = await this.get(ref);
    if (c.state !== 'running' && c.state !== 'created') return c;
    const secs = timeout ?? c.config.stopTimeout ?? 10;
    const signal = c.state === 'created' ? 'KILL' : c.config.stopSignal ?? (await this.imageStopSignal(c)) ?? 'TERM';
    await this.signalAndWait(c, signal, secs);
    return this.reload(c.id)!;
  }

  private async imageStopSignal(c: Container): Promise<string | undefined> {
    try {
      return (await this.images()).resolve(c.imageId ?? c.config.image).config.config?.StopSignal;
    } catch {
      return undefined;
    }
  }

  private async signalAndWait(c: Container, signal: string, secs: number): Promise<number> {
    await this.runtime.kill(c.id, signal, { all: signal === 'KILL' }).catch((e) => log.debug('kill', { error: String(e) }));
    let code: number;
    try {
      code = await this.waitExit(c, AbortSignal.timeout(Math.max(0, secs) * 1000));
    } catch {
      await this.runtime.kill(c.id, 'KILL', { all: true }).catch((e) => log.debug('kill', { error: String(e) }));
      code = await this.waitExit(c, AbortSignal.timeout(30_000));
    }
    await this.markExited(c, code);
    return code;
  }

  async restart(ref: string, timeout?: number): Promise<Container> {
    const c = await this.stop(ref, timeout);
    return this.start(c.id);
  }

  /**
   * Waits for the container to exit and returns its exit code, also when an --rm
   * container was removed (by conmon's exit command) before this process saw the exit.
   */
  async wait(ref: string, signal?: AbortSignal): Promise<number> {
    let c: Container;
    try {
      c = this.lookup(ref);
    } catch (e) {
      const code = this.recordedExitCode(ref);
      if (code !== undefined) return code;
      throw e;
    }
    if (c.state === 'stopped') return c.exitCode ?? -1;
    const code = await this.waitExit(c, signal);
    await this.markExited(c, code);
    return code;
  }

  /** conmon's exit file, or what a concurrent berth process already recorded. */
  private waitExit(c: Container, signal?: AbortSignal): Promise<number> {
    return waitExitCode(this.exitDir, c.id, signal, () => {
      const row = this.reload(c.id);
      if (row?.state === 'stopped') return row.exitCode ?? -1;
      return !row || row.state === 'removing' ? this.recordedExitCode(c.id) : undefined;
    });
  }

  private recordedExitCode(id: string): number | undefined {
    const row = this.store.db.prepare('SELECT exit_code FROM exit_codes WHERE id = ?').get(id) as { exit_code: number } | undefined;
    return row?.exit_code;
  }

  async rename(ref: string, newName: string): Promise<void> {
    if (!isValidName(newName)) throw invalidArgument(`invalid container name "${newName}"`);
    const c = await this.get(ref);
    try {
      this.store.tx(() => {
        const cfg = { ...c.config, name: newName };
        this.store.db.prepare('UPDATE containers SET name = ?, config = ? WHERE id = ?').run(newName, JSON.stringify(cfg), c.id);
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw alreadyExists(`the container name "${newName}" is already in use`);
      throw e;
    }
  }

  /** Removes a container; a running one only with force (it is killed first). */
  async remove(ref: string, opts: { force?: boolean } = {}): Promise<Container> {
    const c = await this.get(ref);
    if (c.state === 'running' || c.state === 'created') {
      if (!opts.force)
        throw failedPrecondition(`cannot remove container ${c.name}: container is ${c.state}: stop the container before removing or force remove`);
      await this.signalAndWait(c, 'KILL', 10);
    }
    await this.discard(c.id);
    return c;
  }

  /**
   * Records an exit and releases what the container held at runtime: the runtime's state,
   * its cgroup and the rootfs mount. Idempotent: conmon's exit command, a waiting `run`
   * and any state query may all get here for the same exit.
   */
  /**
   * The exit belongs to the incarnation whose monitor reported it (monitorPid): a restart
   * in between has a new monitor, and an exit seen late must not stop the new process.
   */
  private async markExited(c: Container, code: number, error?: string, monitorPid: number | null = c.conmonPid): Promise<void> {
    const oom = wasOomKilled(this.paths(c.id).persistDir) ? 1 : 0;
    const changed = this.store.tx(
      () =>
        this.store.db
          .prepare(
            `UPDATE containers SET state = 'stopped', exit_code = ?, finished_at = ?, oom_killed = ?, error = ?
             WHERE id = ? AND state IN ('created', 'running') AND conmon_pid IS ?`,
          )
          .run(code, Date.now(), oom, error ?? null, c.id, monitorPid).changes,
    );
    if (changed === 0) return;
    if (c.config.autoRemove) await this.discard(c.id);
    else await this.releaseRuntime(c.id);
  }

  private async releaseRuntime(id: string): Promise<void> {
    // The process is gone: the runtime's state, the rootfs and the network come down side by side.
    const deleted = this.runtime
      .delete(id, { force: true })
      .catch((e) => (isBerthError(e, 'Unavailable') ? log.debug : log.warn)('runtime delete failed', { id, error: String(e) }));
    const detached = this.hasNetwork(id) ? this.network().then((net) => net.teardown(id)) : undefined;
    (await this.snapshots()).unmountRootfs(this.paths(id).dir);
    await deleted;
    if (detached) {
      try {
        await detached;
        this.store.tx(() => this.store.db.prepare('UPDATE containers SET network = NULL WHERE id = ?').run(id));
      } catch (e) {
        // The container has exited all the same; its attachment records stay, and `rm`, the
        // next start or a sweep finishes the teardown.
        log.warn('network teardown failed', { id, error: (e as Error).message });
      }
    }
  }

  /** Whether a container may hold network attachments (checked without loading CNI code). */
  private hasNetwork(id: string): boolean {
    const row = this.store.db.prepare('SELECT config, network FROM containers WHERE id = ?').get(id) as { config: string; network: string | null } | undefined;
    if (!row) return existsSync(join(this.netnsDir, id));
    return row.network !== null || networkNames(JSON.parse(row.config) as ContainerConfig) !== undefined;
  }

  /** Deletes every trace of a container: runtime state, mounts, files, then its row. */
  private async discard(id: string): Promise<void> {
    this.store.tx(() => {
      const db = this.store.db;
      const row = db.prepare("SELECT exit_code FROM containers WHERE id = ? AND state = 'stopped'").get(id) as { exit_code: number | null } | undefined;
      if (row?.exit_code != null) {
        const now = Date.now();
        db.prepare('DELETE FROM exit_codes WHERE recorded_at < ?').run(now - EXIT_CODE_RETENTION_MS);
        db.prepare('INSERT OR REPLACE INTO exit_codes (id, exit_code, recorded_at) VALUES (?, ?, ?)').run(id, row.exit_code, now);
      }
      db.prepare("UPDATE containers SET state = 'removing' WHERE id = ?").run(id);
    });
    await this.releaseRuntime(id);
    const p = this.paths(id);
    rmSync(p.dir, { recursive: true, force: true });
    rmSync(p.persistDir, { recursive: true, force: true });
    rmSync(join(this.socketDir, id), { recursive: true, force: true });
    rmSync(join(this.exitDir, id), { force: true });
    this.store.tx(() => this.store.db.prepare('DELETE FROM containers WHERE id = ?').run(id));
  }

  /**
   * conmon's exit command: records the exit and releases runtime resources (and removes
   * --rm containers) even when no other berth process is around.
   */
  async cleanup(id: string): Promise<void> {
    const c = this.reload(id);
    // conmon runs this as its child: only the monitor of the current incarnation speaks
    // for the container (a restart may already have made a new one).
    if (!c || c.conmonPid !== process.ppid) return;
    const code = readExitCode(this.exitDir, id);
    if (code !== undefined) await this.markExited(c, code, undefined, process.ppid);
  }

  // ---- stdio --------------------------------------------------------------------------

  /** Connects to the container's stdio; resolves when its output ends or on detach keys. */
  async attach(ref: string, streams: AttachStreams): Promise<'exited' | 'detached'> {
    const c = await this.get(ref);
    if (c.state !== 'running' && c.state !== 'created') throw failedPrecondition(`you cannot attach to a stopped container, start it first`);
    return attach(this.paths(c.id).attachSocket, streams);
  }

  async resize(ref: string, size: { rows: number; cols: number }): Promise<void> {
    const c = await this.get(ref);
    if (c.state === 'running' || c.state === 'created') resize(this.paths(c.id).persistDir, size);
  }

  logs(c: Container, o: LogOptions): AsyncIterable<LogLine> {
    const isRunning = () => {
      const now = this.reload(c.id);
      return !!now && (now.state === 'running' || now.state === 'created') && readExitCode(this.exitDir, c.id) === undefined;
    };
    const exited = o.follow && (c.state === 'running' || c.state === 'created') ? this.waitExit(c, o.signal) : undefined;
    exited?.catch(() => {});
    return readLog(this.paths(c.id).logPath, { ...o, isRunning, exited });
  }

  /** Runs a process in a running container through conmon. */
  async exec(ref: string, req: ExecRequest, streams?: AttachStreams): Promise<{ pid: number; exitCode?: number }> {
    const c = await this.get(ref);
    if (c.state !== 'running') throw failedPrecondition(`container ${c.name} is not running`);
    if (req.command.length === 0) throw invalidArgument('exec needs a command to run');
    const p = this.paths(c.id);
    const spec = JSON.parse(readFileSync(join(p.dir, 'config.json'), 'utf8'));
    const base = spec.process;
    const env = mergeEnv(base.env ?? [], req.env ?? []);
    const process_ = { ...base, args: req.command, env, terminal: !!req.tty, cwd: req.workdir ?? base.cwd };
    delete process_.consoleSize;
    if (req.user !== undefined) {
      const u = await resolveUser(p.rootfs, req.user);
      process_.user = { uid: u.uid, gid: u.gid, additionalGids: u.additionalGids };
    }
    if (req.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
    if (req.privileged) {
      // docker exec --privileged: every capability the host has, whatever the container's.
      const caps = hostCapabilities();
      process_.capabilities = { ...process_.capabilities, bounding: caps, effective: caps, permitted: caps };
    }
    const execId = randomHex(16);
    const execDir = join(p.persistDir, 'exec', execId);
    mkdirSync(execDir, { recursive: true });
    let result: { pid: number; exitCode?: number } | undefined;
    try {
      result = await execInContainer({
        conmon: this.config.conmon,
        runtime: this.runtime.binary(),
        runtimeArgs: this.runtime.globalArgs(),
        id: c.id,
        execId,
        processSpec: process_,
        persistDir: execDir,
        socketDir: this.socketDir,
        exitDir: execDir,
        terminal: !!req.tty,
        stdin: !!req.stdin,
        detach: !!req.detach,
        attach: streams,
      });
      return result;
    } catch (e) {
      throw commandExitError(e);
    } finally {
      // An exec detached with the detach keys still runs and needs its dir.
      if (!req.detach && result?.exitCode !== undefined) rmSync(execDir, { recursive: true, force: true });
    }
  }

  /** Counts for `berth info`. */
  counts(): { total: number; running: number; stopped: number } {
    const rows = this.store.db.prepare('SELECT state, count(*) AS n FROM containers GROUP BY state').all() as { state: string; n: number }[];
    const n = (s: string) => rows.find((r) => r.state === s)?.n ?? 0;
    return { total: rows.reduce((a, r) => a + r.n, 0), running: n('running'), stopped: n('stopped') };
  }
}
