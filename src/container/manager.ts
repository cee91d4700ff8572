// ContainerManager: the container lifecycle, as the CLI and the CRI call it. No state
// lives in this process: every method reads the store, and an exit that happened while no
// berth process ran is picked up from conmon's exit file by the next look (reconcile) or
// by conmon's exit command (recordMonitorExit). The pieces live beside it: records.ts (the
// table), runtime.ts (runc + conmon), create.ts, exec.ts, reconcile.ts, release.ts.
import { existsSync, mkdirSync, readdirSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { isValidName, type Config } from '../config/index.js';
import type { Store } from '../store/index.js';
import type { CommitFormat, Image, ImageStore } from '../image/index.js';
import type { Writable } from 'node:stream';
import type { ContainerFiles } from './files.js';
import type { Change, Snapshotter } from '../snapshot/index.js';
import type { NetworkManager } from '../network/index.js';
import type { VolumeStore } from '../volume/index.js';
import { cgroupLimits, parseSignal, type OciRuntime } from '../oci/index.js';
import { readLog, type AttachSession, type AttachStreams, type ExecResult, type LogLine } from '../monitor/index.js';
import { BerthError, failedPrecondition, invalidArgument, notFound, unavailable } from '../errors/index.js';
import { log } from '../log/index.js';
import { parkPoint, processToken, tokenAlive } from '../sys/index.js';
import { ContainerRecords } from './records.js';
import { ContainerRuntime } from './runtime.js';
import { containerPaths, type ContainerPaths, type Parts } from './parts.js';
import { reconcile } from './reconcile.js';
import { ETC_FILES } from './etc-files.js';
import { restartDelay, shouldRestart } from './restart.js';
import { destroy, recordExit, release } from './release.js';
import { createContainer, instantiate, type CreateOptions } from './create.js';
import { execIn, ProcessSpecs, type ExecRequest } from './exec.js';
import { connectNetwork, disconnectNetwork, type ConnectOptions } from './connect.js';
import { readHealth, runHealthcheck, startHealthTimer, TIMER_DONE, type HealthResult, type HealthState } from './health.js';
import { cgroupPathOf, networkPlan, type BindMount, type ContainerResources, type ContainerSpec, type RestartPolicy } from './spec.js';
import { cgroupStats, diskUsage, type ContainerStats } from './stats.js';
import type { Container } from './types.js';

/** The state as podman words it (a paused container is running with its processes frozen). */
function stateWord(c: Container): string {
  return c.paused ? 'paused' : c.state === 'stopped' ? 'exited' : c.state;
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

export interface ManagerDeps {
  config: Config;
  store: Store;
  /** The namespace whose containers this manager lists and makes (default 'default'). */
  namespace?: string;
  /** The one OCI runtime driver of the engine. */
  runtime: OciRuntime;
  /** The directories of the engine's layout this manager works in. */
  dirs: ContainerDirs;
  /** Built on first use: listing containers needs neither (and their modules cost start-up time). */
  images: () => Promise<ImageStore>;
  snapshots: () => Promise<Snapshotter>;
  network: () => Promise<NetworkManager>;
  volumes: () => Promise<VolumeStore>;
  /** Program + args conmon runs when a container exits; the container id is appended. */
  cleanupCommand?: string[];
  /** Program + args a health check timer runs (container id and monitor pid appended); none: checks run only when asked. */
  healthcheckCommand?: string[];
  /** Owners of network namespaces other than containers (e.g. pods, by id): a sweep keeps theirs. */
  networkOwners?: ((id: string) => boolean | Promise<boolean>)[];
  /** A long-running process: exec monitors are prepared ahead (see ContainerRuntime). */
  serving?: boolean;
}

const SIGKILL = 9;
const SIGTERM = 15;

/** How often a process watching exits checks that running containers' monitors live. */
const MONITOR_SWEEP_MS = 2000;

/** How long ReopenContainerLog waits for conmon to make the new log file. */
const REOPEN_LOG_WAIT_MS = 5000;

/** How long a restart waits for another process to finish releasing the last run. */
const RELEASE_WAIT_MS = 30_000;

export interface LogOptions {
  tail?: number;
  since?: Date;
  until?: Date;
  follow?: boolean;
  signal?: AbortSignal;
  /** Synchronous reads, for a process that serves nothing else (see ReadLogOptions). */
  sync?: boolean;
}

export interface StopOptions {
  /** Seconds before SIGKILL (default: the container's stop timeout, or 10). */
  timeout?: number;
  /** Stops waiting (the signal already sent stays sent). */
  signal?: AbortSignal;
}

/** Mount points of every container (podman's list), whichever the runtime made. */
const RUNTIME_MOUNT_POINTS = ['/dev', '/dev/shm', '/proc', '/run', '/run/.containerenv', '/run/secrets', '/sys'];

export class ContainerManager {
  readonly runtime: ContainerRuntime;
  readonly records: ContainerRecords;
  private readonly parts: Parts;
  private readonly specs = new ProcessSpecs();
  /** Set while watchExits runs (see list). */
  private exitsWatched = false;

  constructor(deps: ManagerDeps) {
    const { dirs } = deps;
    this.records = new ContainerRecords(deps.store, deps.namespace);
    this.runtime = new ContainerRuntime({
      oci: deps.runtime,
      conmon: deps.config.conmon,
      dirs: { exitDir: dirs.exits, socketDir: dirs.sockets, monitorRoot: dirs.containerRuntime },
      serving: deps.serving,
    });
    this.parts = {
      config: deps.config,
      records: this.records,
      runtime: this.runtime,
      images: deps.images,
      snapshots: deps.snapshots,
      network: deps.network,
      volumes: deps.volumes,
      containersDir: dirs.containers,
      netnsDir: dirs.netns,
      networkOwners: deps.networkOwners ?? [],
      cleanupCommand: deps.cleanupCommand,
      healthcheckCommand: deps.healthcheckCommand,
    };
  }

  paths(c: Pick<Container, 'id' | 'config'>): ContainerPaths {
    return containerPaths(this.parts, c);
  }


  // ---- queries ------------------------------------------------------------------------

  /**
   * All containers (or only running ones; or one pod's), each reconciled with its monitor.
   * While this process watches exits (watchExits), a running or created row is current
   * already: the watch records its exit, or its vanished monitor, as it happens; only the
   * other states (unfinished work of a process that died) are looked at.
   */
  async list(opts: { all?: boolean; podId?: string } = {}): Promise<Container[]> {
    const current = (c: Container) => this.exitsWatched && (c.state === 'running' || c.state === 'created');
    const seen = await Promise.all(this.records.all(opts.podId).map((c) => (current(c) ? c : reconcile(this.parts, c))));
    return seen.filter((c): c is Container => !!c && (!!opts.all || c.state === 'running'));
  }

  /** Finds a container by full id, name, or unique id prefix. */
  async get(ref: string): Promise<Container> {
    const c = await reconcile(this.parts, this.records.lookup(ref));
    if (!c) throw notFound(`no such container: ${ref}`);
    return c;
  }

  // ---- lifecycle ----------------------------------------------------------------------

  /** Creates a container (state 'created': its process waits for start). */
  create(spec: ContainerSpec, opts: CreateOptions = {}): Promise<Container> {
    return createContainer(this.parts, spec, opts);
  }

  /**
   * Brings a stopped container back to 'created' (fresh monitor, same upper dir), so a
   * caller can attach before it starts. Other states: returned as they are.
   */
  async recreate(ref: string, opts: { signal?: AbortSignal } = {}): Promise<Container> {
    const c = await this.releasedOrNot(await this.get(ref), opts.signal);
    if (c.state !== 'stopped') return c;
    if (!(await this.records.claimForRecreate(c.id, processToken()))) return this.get(c.id);
    try {
      await instantiate(this.parts, c, (await this.parts.images()).resolve(c.imageId ?? c.config.image), opts);
    } catch (e) {
      await release(this.parts, c.id);
      await this.records.backToStopped(c.id);
      throw e;
    }
    return this.records.byId(c.id)!;
  }

  /** A stopped container once another process's release of its last run is done. */
  private async releasedOrNot(c: Container, signal?: AbortSignal): Promise<Container> {
    const deadline = Date.now() + RELEASE_WAIT_MS;
    while (c.state === 'stopped' && !c.released) {
      if (Date.now() > deadline) throw failedPrecondition(`container ${c.name} is still being cleaned up after its exit; try again`);
      await delay(50, undefined, { signal });
      c = await this.get(c.id);
    }
    return c;
  }

  /**
   * What a new container needs to share ref's network (--network container:NAME): its
   * network namespace, and its hosts, hostname and resolv.conf files. ref must be running.
   */
  async networkOf(ref: string): Promise<Pick<ContainerSpec, 'namespaces' | 'mounts' | 'network' | 'joinedContainer'>> {
    const c = await this.get(ref);
    if (c.state !== 'running') throw failedPrecondition(`cannot join the network of container ${c.name}: it is not running`);
    const plan = networkPlan(c.config);
    if (plan.kind === 'host') return { network: { mode: 'host' }, joinedContainer: c.id };
    const path = plan.kind === 'join' ? plan.path : plan.kind === 'networks' ? join(this.parts.netnsDir, c.id) : `/proc/${c.pid}/ns/net`;
    const etc = ETC_FILES.map((f) => `/etc/${f}`);
    // A container that joined another's network has that one's files among its mounts.
    const given = (c.config.mounts ?? []).filter((m): m is BindMount => m.type === 'bind' && etc.includes(m.destination));
    const files = given.length > 0 ? given : etc.map((d): BindMount => ({ type: 'bind', source: join(this.paths(c).dir, d.slice(5)), destination: d }));
    return { namespaces: { network: path }, mounts: files, joinedContainer: c.id };
  }

  /** Attaches the container to one more network (now when its netns is up, else at its next start). */
  async connect(ref: string, network: string, o: ConnectOptions = {}): Promise<Container> {
    const c = await this.get(ref);
    await connectNetwork(this.parts, c, network, o);
    return this.records.byId(c.id) ?? c;
  }

  /** Detaches the container from a network it lists. */
  async disconnect(ref: string, network: string, o: { force?: boolean } = {}): Promise<Container> {
    const c = await this.get(ref);
    await disconnectNetwork(this.parts, c, network, o);
    return this.records.byId(c.id) ?? c;
  }

  /**
   * What the container changed on top of its image (docker's diff: A, C, D), without the
   * mount points the runtime made for it (podman's diff leaves them out too): the
   * kernel's file systems' and every bind mount's, the /etc files and volumes among them.
   */
  async changes(ref: string): Promise<Change[]> {
    const c = await this.get(ref);
    const images = await this.parts.images();
    const dir = this.paths(c).dir;
    const changes = await (await this.parts.snapshots()).changes(images.topChainId(images.resolve(c.imageId ?? c.config.image)), dir);
    const hidden = new Set(RUNTIME_MOUNT_POINTS);
    try {
      const spec = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { mounts?: { destination: string; type?: string; options?: string[] }[] };
      for (const m of spec.mounts ?? []) if (m.type === 'bind' || m.options?.some((o) => o === 'bind' || o === 'rbind')) hidden.add(m.destination);
    } catch {
      // never instantiated: no spec, no bind mounts
    }
    return changes.filter((ch) => !hidden.has(ch.path));
  }

  /**
   * The container's filesystem for cp: a running one's through its process, any other's
   * rootfs mounted until close() (after a release under way has finished).
   */
  async openFiles(ref: string): Promise<ContainerFiles & { container: Container }> {
    const c = await this.releasedOrNot(await this.get(ref));
    const { openContainerFiles } = await import('./files.js');
    return { ...(await openContainerFiles(this.parts, c)), container: c };
  }

  /** Writes the container's flattened filesystem to out as a tar (docker export). */
  async export(ref: string, out: Writable): Promise<void> {
    const { exportRootfs } = await import('./files.js');
    await exportRootfs(this.parts, await this.releasedOrNot(await this.get(ref)), out);
  }

  /**
   * A new image from the container: its image's layers, its changes as one more layer, its
   * runtime defaults with changes (Dockerfile instructions; ONBUILD is ignored) on top.
   */
  /** With pause, a running container is frozen while its layer is packed, so its files hold still. */
  async commit(ref: string, opts: { name?: string; changes?: string[]; message?: string; author?: string; format?: CommitFormat; pause?: boolean } = {}): Promise<Image> {
    const { commitContainer } = await import('./files.js');
    const c = await this.get(ref);
    const pause = opts.pause === true && c.state === 'running' && !c.paused;
    if (pause) await this.pause(c.id);
    try {
      return await commitContainer(this.parts, c, opts);
    } finally {
      if (pause) await this.unpause(c.id);
    }
  }

  /** The host pids of a running container's processes. */
  async pids(ref: string): Promise<number[]> {
    const c = await this.get(ref);
    if (c.state !== 'running') throw failedPrecondition(`container ${c.name} is not running`);
    return this.runtime.oci.pids(c.id);
  }

  /** Starts a created container, or a stopped one again. */
  async start(ref: string, opts: { signal?: AbortSignal } = {}): Promise<Container> {
    const before = await this.get(ref);
    if (before.stoppedByUser) await this.records.setStoppedByUser(before.id, false);
    const c = await this.recreate(before.id, opts);
    if (c.state === 'running') return c;
    if (c.state !== 'created') throw failedPrecondition(`container ${c.name} is ${c.state} and cannot be started`);
    // Recorded first: the process may exit before setRunning, and its exit then records its start.
    await this.records.setStartRequested(c.id, Date.now());
    try {
      await this.runtime.start(c.id, opts);
    } catch (e) {
      await this.records.clearStartRequested(c.id);
      // The process may have failed to exec (runc reports that at start for some errors).
      const code = await this.runtime.exitCode(c.id);
      if (code !== undefined) await recordExit(this.parts, c, code);
      throw e;
    }
    await this.records.setRunning(c.id, Date.now());
    // Undefined when a quick exit already removed it (--rm).
    const now = await reconcile(this.parts, this.records.byId(c.id)!);
    if (now?.state === 'running') await startHealthTimer(this.parts, now);
    return now!;
  }

  /** Signals the container's process (runtime kill); a paused container is thawed to take it. */
  async kill(ref: string, signal: string | number = 'KILL'): Promise<Container> {
    const c = await this.get(ref);
    if (c.state !== 'running' && c.state !== 'created') throw failedPrecondition(`container ${c.name} is not running`);
    // Killed to end it: its restart policy leaves it stopped (a reload signal does not count).
    if (c.config.restartPolicy && [SIGKILL, SIGTERM].includes(parseSignal(signal))) await this.records.setStoppedByUser(c.id, true);
    await this.runtime.kill(c.id, signal);
    await this.thawAfterSignal(c);
    return c;
  }

  /**
   * Freezes the running container's processes (the runtime's cgroup freezer). The runtime's
   * state decides, and the record follows it (a pause whose process died after the freeze).
   */
  async pause(ref: string): Promise<Container> {
    const c = await this.get(ref);
    if (c.state !== 'running') throw failedPrecondition(`"${stateWord(c)}" is not running, can't pause: container state improper`);
    if (c.paused || (await this.runtime.state(c.id))?.status === 'paused') {
      await this.records.setPaused(c.id, true);
      throw failedPrecondition(`"${c.id}" is already paused: container state improper`);
    }
    await this.runtime.pause(c.id);
    await this.records.setPaused(c.id, true);
    return this.records.byId(c.id) ?? c;
  }

  /** Thaws a paused container. */
  async unpause(ref: string): Promise<Container> {
    const c = await this.get(ref);
    const frozen = c.state === 'running' && (await this.runtime.state(c.id))?.status === 'paused';
    if (!frozen) {
      if (c.paused) await this.records.setPaused(c.id, false);
      throw failedPrecondition(`"${c.id}" is not paused, can't unpause: container state improper`);
    }
    await this.runtime.resume(c.id);
    await this.records.setPaused(c.id, false);
    return this.records.byId(c.id) ?? c;
  }

  /**
   * A frozen process takes no signal (cgroup v1 holds even SIGKILL until the thaw): after a
   * signal meant for a paused container, it is thawed (also when the runtime thawed it).
   */
  private async thawAfterSignal(c: Container): Promise<void> {
    if (!c.paused) return;
    if ((await this.runtime.state(c.id).catch(() => null))?.status === 'paused') await this.runtime.resume(c.id).catch((e) => log.debug('resume', { error: String(e) }));
    await this.records.setPaused(c.id, false);
  }

  /** Stops with the stop signal, then SIGKILL after the timeout. Stopped already: no-op. */
  async stop(ref: string, opts: StopOptions = {}): Promise<Container> {
    const c = await this.get(ref);
    if (c.config.restartPolicy) await this.records.setStoppedByUser(c.id, true);
    if (c.state !== 'running' && c.state !== 'created') return c;
    const secs = opts.timeout ?? c.config.stopTimeout ?? 10;
    const signal = c.state === 'created' ? 'KILL' : c.config.stopSignal ?? (await this.imageStopSignal(c)) ?? 'TERM';
    return (await this.signalAndWait(c, signal, secs, opts.signal)) ?? c;
  }

  private async imageStopSignal(c: Container): Promise<string | undefined> {
    try {
      return (await this.parts.images()).resolve(c.imageId ?? c.config.image).config.config?.StopSignal;
    } catch {
      return undefined;
    }
  }

  /** The container after its exit is recorded (undefined when that removed it). */
  private async signalAndWait(c: Container, signal: string, secs: number, abort?: AbortSignal): Promise<Container | undefined> {
    await this.runtime.kill(c.id, signal, { all: signal === 'KILL' }).catch((e) => log.debug('kill', { error: String(e) }));
    await this.thawAfterSignal(c);
    let code: number;
    try {
      code = await withDeadline(Math.max(0, secs) * 1000, abort, (signal) => this.waitExit(c, signal));
    } catch {
      abort?.throwIfAborted();
      await this.runtime.kill(c.id, 'KILL', { all: true }).catch((e2) => log.debug('kill', { error: String(e2) }));
      code = await withDeadline(30_000, abort, (signal) => this.waitExit(c, signal));
    }
    return recordExit(this.parts, c, code);
  }

  async restart(ref: string, opts: StopOptions = {}): Promise<Container> {
    const c = await this.stop(ref, opts);
    return this.start(c.id, { signal: opts.signal });
  }

  /**
   * Waits for the container to exit and returns its exit code, also when a
   * remove-on-exit container was removed before this process saw the exit.
   */
  async wait(ref: string, signal?: AbortSignal): Promise<number> {
    let c: Container;
    try {
      c = this.records.lookup(ref);
    } catch (e) {
      const code = this.records.removedExitCode(ref);
      if (code !== undefined) return code;
      throw e;
    }
    if (c.state === 'stopped') return c.exitCode ?? -1;
    const code = await this.waitExit(c, signal);
    await recordExit(this.parts, c, code);
    return code;
  }

  /** conmon's exit file, or what a concurrent berth process already recorded. */
  private waitExit(c: Container, signal?: AbortSignal): Promise<number> {
    return this.runtime.waitExit(c.id, signal, () => {
      const row = this.records.byId(c.id);
      if (row?.state === 'stopped') return row.exitCode ?? -1;
      return !row || row.state === 'removing' ? this.records.removedExitCode(c.id) : undefined;
    });
  }

  async rename(ref: string, newName: string): Promise<void> {
    if (!isValidName(newName)) throw invalidArgument(`invalid container name "${newName}"`);
    const c = await this.get(ref);
    await this.records.rename(c.id, newName, { ...c.config, name: newName });
  }

  /**
   * Removes a container; a running one only with force (it is killed first); volumes: its
   * anonymous volumes too. A created one goes without force, as in podman and docker: its
   * process waits for start and has run nothing of the user's.
   */
  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<Container> {
    const c = await this.get(ref);
    if (c.state === 'removing') throw failedPrecondition(`removal of container ${c.name} is already in progress`);
    if (c.state === 'running' || c.state === 'created') {
      if (c.state === 'running' && !opts.force)
        throw new BerthError('FailedPrecondition', `cannot remove container ${c.name}: container is ${stateWord(c)}: stop the container before removing or force remove`, { reason: 'in-use' });
      // Only a policy reads the mark (and a full disk must not stop a removal).
      if (c.config.restartPolicy) await this.records.setStoppedByUser(c.id, true);
      await this.signalAndWait(c, 'KILL', 10);
    }
    await destroy(this.parts, c.id, false, opts.volumes);
    return c;
  }

  /**
   * conmon's exit command: records the exit and releases runtime resources (and removes
   * remove-on-exit containers) even when no other berth process is around. Only the
   * monitor of the current incarnation (monitorPid: conmon, this process' parent) speaks
   * for the container: a restart may already have made a new one.
   */
  async recordMonitorExit(id: string, monitorPid = process.ppid): Promise<void> {
    await parkPoint('monitor-exit');
    const c = this.records.byId(id);
    if (!c || c.conmonPid !== monitorPid) return;
    const code = await this.runtime.exitCode(id);
    if (code !== undefined) await recordExit(this.parts, c, code, undefined, monitorPid);
    await this.restartByPolicy(id, monitorPid);
  }

  /**
   * After the exit of the incarnation monitorPid watched: its restart policy may bring the
   * container back, after the backoff. Whoever recorded the exit, this process (the exit
   * command, which always runs) decides; a user's start or stop meanwhile wins.
   */
  private async restartByPolicy(id: string, monitorPid: number): Promise<void> {
    const stillThatExit = (c: Container | undefined): c is Container => !!c && c.conmonPid === monitorPid && c.state === 'stopped';
    const c = this.records.byId(id);
    if (!stillThatExit(c) || !shouldRestart(c)) return;
    await delay(restartDelay(c));
    const now = this.records.byId(id);
    if (!stillThatExit(now) || !shouldRestart(now)) return;
    await this.records.countRestart(id);
    try {
      await this.start(id);
    } catch (e) {
      log.warn('the restart policy could not start the container', { id, error: (e as Error).message });
    }
  }

  // ---- health checks ------------------------------------------------------------------

  /** The health of the container's current (or last) run; undefined without a check. */
  health(c: Container): HealthState | undefined {
    return readHealth(this.parts, c);
  }

  /** Runs the container's health check once; an unhealthy container then gets its on-failure action. */
  async healthcheck(ref: string | Container): Promise<HealthResult> {
    const c = typeof ref === 'string' ? await this.get(ref) : ref;
    const r = await runHealthcheck(this.parts, c, (req, streams, signal) => execIn(this.parts, this.specs, c, req, streams, signal));
    const action = c.config.healthcheck?.onFailure;
    if (r.state.Status === 'unhealthy' && action && action !== 'none') {
      log.info('the container is unhealthy: its on-failure action follows', { id: c.id, action });
      if (action === 'kill') await this.kill(c.id);
      else if (action === 'stop') await this.stop(c.id);
      else await this.restart(c.id);
    }
    return r;
  }

  /**
   * The timer's check for the run whose monitor is monitorPid: TIMER_DONE once that run is
   * over (the loop ends), else 0 whatever the check found.
   */
  async scheduledHealthcheck(id: string, monitorPid: number): Promise<number> {
    const c = this.records.byId(id);
    if (!c || c.state !== 'running' || c.conmonPid !== monitorPid) return TIMER_DONE;
    try {
      // By id: the timer runs for a container of any namespace.
      await this.healthcheck(c);
    } catch (e) {
      const now = this.records.byId(id);
      if (!now || now.state !== 'running' || now.conmonPid !== monitorPid) return TIMER_DONE;
      log.warn('the health check failed to run', { id, error: (e as Error).message });
    }
    return 0;
  }

  // ---- stdio --------------------------------------------------------------------------

  /** Connects to the container's stdio; the session's done resolves when its output ends or on detach keys. */
  async attach(ref: string, streams: AttachStreams): Promise<AttachSession> {
    const c = await this.get(ref);
    if (c.state !== 'running' && c.state !== 'created') throw failedPrecondition(`you cannot attach to a stopped container, start it first`);
    return this.runtime.attach(c.id, streams);
  }

  async resize(ref: string, size: { rows: number; cols: number }): Promise<void> {
    const c = await this.get(ref);
    if (c.state === 'running' || c.state === 'created') this.runtime.resize(c.id, size);
  }

  logs(c: Container, o: LogOptions): AsyncIterable<LogLine> {
    if (c.config.logDriver === 'none') throw failedPrecondition(`container ${c.name} is using the 'none' log driver, cannot read logs`);
    const isRunning = () => {
      const now = this.records.byId(c.id);
      return !!now && (now.state === 'running' || now.state === 'created') && this.runtime.exitCodeNow(c.id) === undefined;
    };
    const exited = o.follow && (c.state === 'running' || c.state === 'created') ? this.waitExit(c, o.signal) : undefined;
    exited?.catch(() => {});
    return readLog(this.paths(c).logPath, { ...o, isRunning, exited });
  }

  /**
   * Has conmon reopen the container's log file (after the kubelet rotated it away) and
   * resolves once the new file exists: conmon acts on the request some time after it is
   * sent, and the caller may look for the file (or rotate again) as soon as this returns.
   */
  async reopenLog(ref: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const c = await this.get(ref);
    if (c.state !== 'running') throw failedPrecondition(`container ${c.id} is not running`);
    const logPath = this.paths(c).logPath;
    this.runtime.reopenLog(c.id);
    const deadline = Date.now() + REOPEN_LOG_WAIT_MS;
    for (let pause = 1; !existsSync(logPath); pause = Math.min(pause * 2, 50)) {
      if (Date.now() > deadline) throw unavailable(`conmon did not reopen the log file ${logPath} within ${REOPEN_LOG_WAIT_MS / 1000} s`);
      await delay(pause, undefined, { signal: opts.signal });
    }
  }

  /** Runs a process in a running container through conmon. */
  async exec(ref: string, req: ExecRequest, streams?: AttachStreams, opts: { signal?: AbortSignal } = {}): Promise<ExecResult> {
    const c = await this.get(ref);
    if (c.state !== 'running') throw failedPrecondition(`container ${c.name} is not running`);
    if (c.paused) throw failedPrecondition(`container ${c.name} is paused, unpause the container before exec`);
    if (req.command.length === 0) throw invalidArgument('exec needs a command to run');
    return execIn(this.parts, this.specs, c, req, streams, opts.signal);
  }

  /**
   * Resource usage of a running (or created) container from its cgroup, and the size of its
   * writable layer (walked only when asked: it reads every file's metadata). A Container
   * just listed is taken as it is.
   */
  async stats(ref: string | Container, o: { writableLayer?: boolean } = {}): Promise<ContainerStats> {
    const c = typeof ref === 'string' ? await this.get(ref) : ref;
    if (c.state !== 'running' && c.state !== 'created') throw failedPrecondition(`container ${c.name} is not running`);
    const [usage, layer] = await Promise.all([cgroupStats(cgroupPathOf(c.config, c.id)), o.writableLayer ? diskUsage(join(this.paths(c).dir, 'upper')) : undefined]);
    return { ...usage, writableLayer: layer };
  }

  /**
   * New cgroup limits for a running (or created) container through the runtime's update:
   * the limits given replace those set, the others stay. The spec keeps them, so a restart
   * and its status see them.
   */
  async updateResources(ref: string, r: ContainerResources): Promise<Container> {
    const c = await this.get(ref);
    if (c.state !== 'running' && c.state !== 'created') throw failedPrecondition(`container ${c.name} is not running`);
    const given = Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as ContainerResources;
    await this.runtime.updateResources(c.id, cgroupLimits(given));
    await this.records.setConfig(c.id, { ...c.config, resources: { ...c.config.resources, ...given } });
    return this.records.byId(c.id) ?? c;
  }

  /** A new restart policy (none: it stays stopped); the next exit follows it. */
  async setRestartPolicy(ref: string, policy: RestartPolicy | undefined): Promise<Container> {
    const c = await this.get(ref);
    if (policy && c.config.removeOnExit) throw invalidArgument('Restart policy cannot be updated because AutoRemove is enabled for the container');
    await this.records.setConfig(c.id, { ...c.config, restartPolicy: policy });
    return this.records.byId(c.id) ?? c;
  }

  /**
   * For a long-running process: records each exit the moment conmon writes its exit file
   * (one watcher of the exit dir), and those that happened before it started; a monitor
   * that died without writing one (killed) is found by a sweep every MONITOR_SWEEP_MS.
   * onExit gets the container as recorded (not for one removed on exit). close() ends the
   * watch.
   */
  watchExits(onExit: (c: Container) => void = () => {}): { close(): void } {
    const dir = this.runtime.dirs.exitDir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pending = new Set<string>();
    const look = (id: string) => {
      if (pending.has(id) || !/^[0-9a-f]{64}$/.test(id)) return;
      pending.add(id);
      // The next turn: a burst of events for one file makes one look.
      setImmediate(async () => {
        pending.delete(id);
        const row = this.records.byId(id);
        if (!row || (row.state !== 'running' && row.state !== 'created')) return;
        try {
          const now = await reconcile(this.parts, row);
          if (now && now.state !== row.state) onExit(now);
        } catch (e) {
          log.warn('recording an exit failed; the next look retries', { id, error: (e as Error).message });
        }
      });
    };
    const sweep = () => {
      for (const m of this.records.monitored()) if (!tokenAlive(m.conmonToken ?? String(m.conmonPid))) look(m.id);
    };
    const watcher = watch(dir, (_event, name) => name && look(name.toString()));
    const timer = setInterval(sweep, MONITOR_SWEEP_MS).unref();
    const close = () => {
      this.exitsWatched = false;
      watcher.close();
      clearInterval(timer);
    };
    watcher.on('error', (e) => {
      // Lists look at every monitor again.
      close();
      log.warn('the exit dir watch failed', { dir, error: e.message });
    });
    for (const name of readdirSync(dir)) look(name);
    sweep();
    this.exitsWatched = true;
    return { close };
  }

  /** Counts for `berth info`. */
  counts(): { total: number; running: number; paused: number; stopped: number } {
    return this.records.counts();
  }
}

/**
 * Runs work with a signal that aborts after ms or with outer. Not AbortSignal.any over
 * AbortSignal.timeout: Node 20 holds the sources of an any() signal weakly, and in a long
 * running process a collection can take the timeout away before it fires (a stop then
 * waited forever instead of killing).
 */
async function withDeadline<T>(ms: number, outer: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new DOMException('The operation timed out', 'TimeoutError')), ms);
  const onOuter = () => ac.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  if (outer?.aborted) onOuter();
  try {
    return await work(ac.signal);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}
