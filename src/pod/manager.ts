// PodManager: pod sandboxes without a process. A pod is namespaces pinned by bind mounts
// (network, IPC, UTS), its network attachments, and the hosts/resolv.conf/hostname files
// its containers share; its containers join those (joinSpec). Nothing has to be pulled or
// run to start one. Every step is recorded before it is taken: a pod whose creator or
// remover died is removed by the next look. Only a pod whose containers share a PID
// namespace runs a process (infra.ts).
import { appendFileSync, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname as hostHostname } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../store/index.js';
import type { NetworkManager, NetworkStatus } from '../network/index.js';
import { networkInterfaces, type Container, type ContainerManager, type ContainerSpec, type ContainerStats, type InterfaceStats } from '../container/index.js';
import { failedPrecondition, invalidArgument, notFound } from '../errors/index.js';
import { log } from '../log/index.js';
import { MNT_DETACH, createPinnedPodNamespaces, nodeCrypto, parkPoint, processToken, tokenAlive, unmount } from '../sys/index.js';
import { startInfra, stopInfra } from './infra.js';
import { PodRecords } from './records.js';
import type { PodSpec } from './spec.js';
import type { Pod } from './types.js';

export interface PodDirs {
  /** <root>/pods: per pod, the files its containers share. */
  pods: string;
  /** <runRoot>/pods: per pod, its pinned IPC and UTS namespaces. */
  podRuntime: string;
  /** Network namespaces (the network manager makes <netns>/<pod id>). */
  netns: string;
}

export interface PodManagerDeps {
  store: Store;
  /** The namespace whose pods this manager lists and makes (default 'default'). */
  namespace?: string;
  dirs: PodDirs;
  network: () => Promise<NetworkManager>;
  containers: () => Promise<ContainerManager>;
}

export interface PodStats {
  timestamp: number;
  cpuNanos: number;
  memoryWorkingSetBytes: number;
  memoryUsageBytes: number;
  processes: number;
  interfaces: InterfaceStats[];
  containers: { container: Container; stats: ContainerStats }[];
}

/** Where a pod's pieces live. */
export interface PodPaths {
  dir: string;
  /** Absent for host networking / host IPC. */
  netns?: string;
  ipc?: string;
  uts?: string;
  hosts: string;
  resolvConf: string;
  hostname: string;
}

/** A pod's name: what the CRI's metadata makes of it (k8s_POD_name_namespace_uid_attempt) and more. */
const POD_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;

export class PodManager {
  readonly records: PodRecords;

  constructor(private readonly deps: PodManagerDeps) {
    this.records = new PodRecords(deps.store, deps.namespace);
  }

  paths(pod: Pick<Pod, 'id' | 'spec'>): PodPaths {
    const dir = join(this.deps.dirs.pods, pod.id);
    const run = join(this.deps.dirs.podRuntime, pod.id);
    return {
      dir,
      netns: pod.spec.network === 'host' ? undefined : join(this.deps.dirs.netns, pod.id),
      ipc: pod.spec.ipc === 'host' ? undefined : join(run, 'ipc'),
      uts: pod.spec.network === 'host' ? undefined : join(run, 'uts'),
      hosts: join(dir, 'hosts'),
      resolvConf: join(dir, 'resolv.conf'),
      hostname: join(dir, 'hostname'),
    };
  }

  /** What a container of the pod takes from it: namespaces to join, shared files, cgroup parent. */
  joinSpec(pod: Pod): Pick<ContainerSpec, 'namespaces' | 'mounts' | 'cgroupParent' | 'network'> {
    const p = this.paths(pod);
    const file = (source: string, destination: string) => ({ type: 'bind' as const, source, destination });
    const pid = pod.spec.pid === 'pod' && pod.infra ? `/proc/${pod.infra.pid}/ns/pid` : pod.spec.pid === 'host' ? 'host' : undefined;
    return {
      namespaces: { network: p.netns, ipc: p.ipc ?? 'host', uts: p.uts ?? 'host', pid },
      network: pod.spec.network === 'host' ? { mode: 'host' } : undefined,
      mounts: [file(p.hosts, '/etc/hosts'), file(p.resolvConf, '/etc/resolv.conf'), file(p.hostname, '/etc/hostname')],
      cgroupParent: pod.spec.cgroupParent,
    };
  }

  // ---- queries ------------------------------------------------------------------------

  /** All pods, each brought up to date (half-made or half-removed ones whose process died are removed). */
  async list(): Promise<Pod[]> {
    const seen = await Promise.all(this.records.all().map((p) => this.reconcile(p)));
    return seen.filter((p): p is Pod => !!p);
  }

  /** By id, name or unique id prefix. */
  async get(ref: string): Promise<Pod> {
    const pod = await this.reconcile(this.records.lookup(ref));
    if (!pod) throw notFound(`no such pod: ${ref}`);
    return pod;
  }

  /** The pod's containers, newest first. */
  async containersOf(id: string): Promise<Container[]> {
    // Only the pod's rows are read and reconciled, not the namespace's.
    return (await this.deps.containers()).list({ all: true, podId: id });
  }

  /**
   * The pod's usage: its running containers' (each from its cgroup) summed, and its network
   * interfaces, read through a process in its network namespace (a container's or the
   * infra's; a pod with neither reports none). A Pod just listed is taken as it is.
   */
  async stats(ref: string | Pod, o: { writableLayer?: boolean } = {}): Promise<PodStats> {
    const pod = typeof ref === 'string' ? await this.get(ref) : ref;
    const containers = await this.deps.containers();
    const running = (await this.containersOf(pod.id)).filter((c) => c.state === 'running' || c.state === 'created');
    const each = (
      await Promise.all(running.map((c) => containers.stats(c, o).then((stats) => ({ container: c, stats }), () => undefined)))
    ).filter((x): x is NonNullable<typeof x> => !!x);
    const inNetns = pod.spec.network === 'host' ? undefined : (pod.infra?.pid || each.find((x) => x.container.pid)?.container.pid) ?? undefined;
    const sum = (f: (s: ContainerStats) => number) => each.reduce((n, x) => n + f(x.stats), 0);
    return {
      timestamp: Date.now(),
      cpuNanos: sum((s) => s.cpuNanos),
      memoryWorkingSetBytes: sum((s) => s.memory.workingSetBytes),
      memoryUsageBytes: sum((s) => s.memory.usageBytes),
      processes: sum((s) => s.pids.current) + (pod.infra ? 1 : 0),
      interfaces: inNetns ? await networkInterfaces(inNetns) : [],
      containers: each,
    };
  }

  // ---- lifecycle ----------------------------------------------------------------------

  /** Makes a pod: pinned namespaces, network, shared files; 'ready' when done. */
  async run(spec: PodSpec, o: { signal?: AbortSignal } = {}): Promise<Pod> {
    if (!POD_NAME.test(spec.name ?? '')) throw invalidArgument(`invalid pod name "${spec.name ?? ''}"`);
    const id = nodeCrypto().randomBytes(32).toString('hex');
    const hostname = spec.hostname || (spec.network === 'host' ? hostHostname() : id.slice(0, 12));
    const resolved: PodSpec = { ...spec, hostname };
    await this.records.insertCreating({ id, name: spec.name, spec: resolved, owner: processToken(), createdAt: Date.now() });
    const pod = this.records.byId(id)!;
    try {
      const status = await this.instantiate(pod, o.signal);
      const infra = resolved.pid === 'pod' ? await this.startInfra(pod, o.signal) : null;
      await this.records.setReady(id, status, infra);
    } catch (e) {
      await this.destroy(pod).catch((e2) => log.warn('undoing a failed pod creation', { id, error: String(e2) }));
      throw e;
    }
    return this.records.byId(id)!;
  }

  private async instantiate(pod: Pod, signal?: AbortSignal): Promise<NetworkStatus | null> {
    const p = this.paths(pod);
    mkdirSync(p.dir, { recursive: true });
    if (p.ipc || p.uts) {
      mkdirSync(join(this.deps.dirs.podRuntime, pod.id), { recursive: true });
      for (const f of [p.ipc, p.uts]) if (f) appendFileSync(f, '');
      await createPinnedPodNamespaces({ ipc: p.ipc, uts: p.uts }, pod.hostname);
    }
    signal?.throwIfAborted();
    await parkPoint('pod-namespaces');
    const net = await this.deps.network();
    let status: NetworkStatus | null = null;
    if (p.netns) {
      const containers = await this.deps.containers();
      // Attachments whose owner is gone go first; a live container's or pod's are theirs.
      await net.sweep((id) => this.records.exists(id) || containers.records.exists(id));
      status = await net.setup(pod.id, { networks: pod.spec.networks, firstConfigured: true, portMappings: pod.spec.ports, cniArgs: [['IgnoreUnknown', '1']] }, { signal });
    }
    const { writeContainerFiles } = await import('../network/index.js');
    const first = status?.attachments[0];
    await writeContainerFiles(p.dir, {
      network: p.netns ? 'private' : 'host',
      hostname: pod.hostname,
      name: pod.name,
      ips: status?.attachments.flatMap((a) => a.ips) ?? [],
      gateway: first?.gateways[0],
      cni: first?.dns,
      dns: pod.spec.dns?.servers,
      dnsSearch: pod.spec.dns?.searches,
      dnsOptions: pod.spec.dns?.options,
    });
    signal?.throwIfAborted();
    return status;
  }

  /** Starts the process holding the pod's shared PID namespace, recorded before it runs. */
  private async startInfra(pod: Pod, signal?: AbortSignal): Promise<NonNullable<Pod['infra']>> {
    const p = this.paths(pod);
    const runtime = (await this.deps.containers()).runtime;
    // Recorded first (no pid yet): a crash from here on still has the removal end it.
    await this.records.setInfra(pod.id, { pid: 0, conmonPid: 0, token: '' });
    const started = await startInfra(
      runtime,
      {
        id: pod.id,
        name: `${pod.name}-infra`,
        bundle: join(this.deps.dirs.podRuntime, pod.id, 'infra'),
        namespaces: { network: p.netns, ipc: p.ipc, uts: p.uts },
        cgroupsPath: `${(pod.spec.cgroupParent ?? '/berth').replace(/\/+$/, '')}/${pod.id}`,
      },
      signal,
    );
    const infra = { ...started, token: processToken(started.pid) };
    await this.records.setInfra(pod.id, infra);
    return infra;
  }

  /**
   * Stops the pod's containers (SIGKILL after timeout seconds, default 0) and takes its
   * network down; its namespaces stay until removal. Stopping a stopped pod is a no-op.
   */
  async stop(ref: string, o: { timeout?: number } = {}): Promise<Pod> {
    const pod = await this.get(ref);
    const containers = await this.deps.containers();
    for (const c of await this.containersOf(pod.id)) await containers.stop(c.id, { timeout: o.timeout ?? 0 });
    // As recorded: a pod whose infra died looks not ready, but its network is still up.
    if (this.records.byId(pod.id)?.state === 'ready') {
      if (pod.infra) await stopInfra(containers.runtime, pod.id);
      if (this.paths(pod).netns) await (await this.deps.network()).teardown(pod.id);
      await this.records.setNotReady(pod.id);
    }
    return this.records.byId(pod.id)!;
  }

  /** Removes the pod, its containers and everything it holds. */
  async remove(ref: string): Promise<void> {
    const pod = await this.get(ref);
    // An owner that get() left alone lives: that process is creating or removing the pod.
    if (pod.owner !== null) throw failedPrecondition(`pod ${pod.name} is being ${pod.state === 'creating' ? 'created' : 'removed'} by another process`);
    await this.destroy(pod);
  }

  /** Claims the pod for removal and removes it; false when another process got there first. */
  private async destroy(pod: Pod): Promise<boolean> {
    if (!(await this.records.claimRemoval(pod, processToken()))) return false;
    await parkPoint('pod-removing');
    try {
      const containers = await this.deps.containers();
      for (const c of await this.containersOf(pod.id)) await containers.remove(c.id, { force: true });
      if (pod.infra) await stopInfra(containers.runtime, pod.id);
      const p = this.paths(pod);
      // The network first: its DEL needs the namespace it set up.
      if (p.netns) await (await this.deps.network()).teardown(pod.id);
      for (const f of [p.ipc, p.uts]) if (f) unmount(f, MNT_DETACH);
      await Promise.all([rm(p.dir, { recursive: true, force: true }), rm(join(this.deps.dirs.podRuntime, pod.id), { recursive: true, force: true })]);
      await this.records.delete(pod.id);
    } catch (e) {
      // Left 'removing' without an owner: the next look or remove() tries again.
      await this.records.dropOwner(pod.id).catch(() => undefined);
      throw e;
    }
    return true;
  }

  /**
   * The pod as it is now: one whose creator or remover died is removed (undefined); a ready
   * pod whose infra process died is not ready (its PID namespace is gone; stop tears down).
   */
  private async reconcile(pod: Pod): Promise<Pod | undefined> {
    if (pod.state === 'ready' && pod.infra && !tokenAlive(pod.infra.token)) return { ...pod, state: 'notready' };
    if ((pod.state !== 'creating' && pod.state !== 'removing') || pod.owner === null || tokenAlive(pod.owner)) return pod;
    log.info(pod.state === 'creating' ? 'removing a pod whose creation was interrupted' : 'finishing the removal of a pod whose remover died', { id: pod.id });
    if (!(await this.destroy(pod))) return this.records.byId(pod.id);
    return undefined;
  }
}
