// Creation: a row owned by its creator, then instantiate(): the rootfs, the network, the
// /etc files, the OCI spec and `runtime create` under conmon. A restart instantiates the
// same container again (same upper dir, fresh monitor).
import { appendFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Image } from '../image/index.js';
import { buildSpec, processArgs, type Mount, type SpecInput } from '../oci/index.js';
import { isValidName } from '../config/index.js';
import { failedPrecondition, internal, invalidArgument } from '../errors/index.js';
import { processToken, writeFileAtomicSync } from '../sys/index.js';
import { ETC_FILES, etcBindMounts, writeEtcFiles } from './etc-files.js';
import { randomHex, randomName } from './names.js';
import { cgroupPathOf, containerHostname, networkPlan, type ContainerSpec } from './spec.js';
import { containerPaths, type Parts } from './parts.js';
import { destroy } from './release.js';
import { ociMounts, removeAnonymousVolumes, resolveVolumes } from './mounts.js';
import { mountShareableShm, shareableShmPath } from './shm.js';
import { effectiveHealthcheck } from './health.js';
import type { Container } from './types.js';

/** Seconds conmon holds back the exit command of a container someone waits on. */
const FOREGROUND_EXIT_DELAY_S = 1;

export interface CreateOptions {
  /** A caller stays attached and records the exit itself: conmon's exit command is held
   *  back briefly and skipped when that caller already released the container. */
  foreground?: boolean;
  podId?: string;
  /** Stops the creation; what was made is removed. */
  signal?: AbortSignal;
}

export interface InstantiateOptions {
  foreground?: boolean;
  signal?: AbortSignal;
}

export async function createContainer(parts: Parts, spec: ContainerSpec, opts: CreateOptions = {}): Promise<Container> {
  opts.signal?.throwIfAborted();
  // A missing runtime or an unusable network setting is reported before anything is made.
  parts.runtime.check();
  const [images] = await Promise.all([parts.images(), networkPlan(spec).kind === 'networks' ? parts.network() : undefined]);
  const image = images.resolve(spec.image);
  if (spec.name !== undefined && !isValidName(spec.name))
    throw invalidArgument(`invalid container name "${spec.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  const ic = image.config.config ?? {};
  if (spec.network?.publishExposed) {
    const { publishAll } = await import('../network/index.js');
    const exposed = new Set([...Object.keys(ic.ExposedPorts ?? {}).map((p) => (p.includes('/') ? p : `${p}/tcp`)), ...(spec.exposedPorts ?? [])]);
    spec = { ...spec, network: { ...spec.network, ports: [...(spec.network.ports ?? []), ...publishAll(exposed)] } };
  }
  // The containers whose namespaces it joins run now (checked before anything is made).
  for (const owner of Object.values(spec.namespaceContainers ?? {})) namespaceOwnerPid(parts, owner);
  if (spec.namespaceContainers?.ipc) ipcOwnerShm(parts, spec.namespaceContainers.ipc);
  const args = processArgs(ic, spec);
  if (args.length === 0) throw invalidArgument('no command specified: the image has no CMD or ENTRYPOINT, give one after the image name');
  const id = randomHex(32);
  const name = spec.name ?? freeName(parts);
  spec = await resolveVolumes(parts, spec, image);
  try {
    await parts.records.insertCreating({
      id,
      name,
      podId: opts.podId,
      imageId: image.id,
      imageName: image.names[0] ?? null,
      config: { ...spec, name, args, hostname: containerHostname(spec, id), healthcheck: effectiveHealthcheck(spec.healthcheck, ic.Healthcheck) },
      creator: processToken(),
      createdAt: Date.now(),
    });
  } catch (e) {
    await removeAnonymousVolumes(parts, spec);
    throw e;
  }
  try {
    await instantiate(parts, parts.records.byId(id)!, image, opts);
  } catch (e) {
    await destroy(parts, id, true);
    throw e;
  }
  return parts.records.byId(id)!;
}

function freeName(parts: Parts): string {
  for (;;) {
    const n = randomName();
    if (!parts.records.nameTaken(n)) return n;
  }
}

/** Mounts the rootfs, writes the bundle and has conmon run `runtime create`. */
export async function instantiate(parts: Parts, c: Container, image: Image, opts: InstantiateOptions = {}): Promise<void> {
  const signal = opts.signal;
  const p = containerPaths(parts, c);
  const spec = c.config;
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  const hostname = spec.hostname;
  // In a joined UTS namespace the hostname is its owner's; the hosts file names the container.
  const hostsName = hostname ?? c.name;
  const plan = networkPlan(spec);
  // The network comes up (plugin processes) while this process mounts the rootfs and
  // writes the bundle; its namespace path is known in advance.
  const networkReady = plan.kind === 'networks' ? attachNetwork(parts, c, plan.networks, hostsName) : undefined;
  networkReady?.catch(() => {});
  const netns = plan.kind === 'networks' ? join(parts.netnsDir, c.id) : plan.kind === 'join' ? plan.path : undefined;
  let rootfs: string;
  try {
    signal?.throwIfAborted();
    rootfs = await (await parts.snapshots()).mountRootfs((await parts.images()).topChainId(image), p.dir, { volatile: spec.removeOnExit });
  } catch (e) {
    // The caller's cleanup tears the network down: let the setup finish first.
    await networkReady?.catch(() => {});
    throw e;
  }
  let mounts: Mount[];
  if (plan.kind === 'networks') {
    // The network writes these once it knows the addresses; the spec needs them to exist.
    for (const f of ETC_FILES) appendFileSync(join(p.dir, f), '');
    mounts = etcBindMounts(p.dir);
  } else if (plan.kind === 'join') {
    // A joined namespace belongs to someone else (a pod), who gives its files as mounts.
    mounts = [];
  } else {
    mounts = await writeEtcFiles(p.dir, hostsName, plan.kind, spec.network?.addHosts);
  }
  const own = await ociMounts(parts, spec, rootfs);
  mounts.push(...own.mounts);

  const sec = spec.security ?? {};
  const ns = spec.namespaces ?? {};
  const input: SpecInput = {
    id: c.id,
    rootfs,
    image: image.config.config ?? {},
    command: spec.args,
    entrypoint: [],
    env: spec.env,
    workdir: spec.workdir,
    user: sec.user,
    supplementalGroups: sec.supplementalGroups,
    hostname,
    tty: spec.tty,
    mounts,
    rootfsPropagation: own.rootfsPropagation,
    readOnlyRootfs: sec.readOnlyRootfs,
    resources: spec.resources,
    oomScoreAdj: spec.resources?.oomScoreAdj,
    devices: spec.devices,
    capAdd: sec.capAdd,
    capDrop: sec.capDrop,
    privileged: sec.privileged,
    noNewPrivileges: sec.noNewPrivileges,
    seccomp: sec.seccomp !== 'unconfined',
    maskedPaths: sec.maskedPaths,
    readonlyPaths: sec.readonlyPaths,
    ulimits: spec.rlimits,
    sysctls: spec.sysctls,
    networkMode: plan.kind === 'host' ? 'host' : netns ? 'private' : 'none',
    namespaces: [
      ...(netns ? [{ type: 'network', path: netns }] : []),
      ...(['ipc', 'uts', 'pid'] as const).flatMap((type) => {
        const owner = spec.namespaceContainers?.[type];
        const v = owner !== undefined ? `/proc/${namespaceOwnerPid(parts, owner)}/ns/${type}` : ns[type];
        return v === undefined ? [] : [v === 'host' ? { type, host: true } : { type, path: v }];
      }),
    ],
    additionalGroups: sec.groupAdd,
    seccompProfile: sec.seccompProfile,
    shmSize: spec.shmSize,
    // The host's IPC namespace comes with the host's POSIX shared memory, a joined one with its owner's.
    shmSource: ns.ipc === 'host' ? '/dev/shm'
      : spec.namespaceContainers?.ipc ? ipcOwnerShm(parts, spec.namespaceContainers.ipc)
      : spec.ipcShareable ? mountShareableShm(p.dir, spec.shmSize) : undefined,
    cgroupsPath: cgroupPathOf(spec, c.id),
    init: spec.init ? parts.config.initPath : undefined,
    annotations: { ...(spec.labels ?? {}), ...(spec.annotations ?? {}) },
  };
  const ociSpec = await buildSpec(input);
  // Whole or absent after a crash; rewritten at every start, so not worth an fsync (and
  // without one, a synchronous write of a few KB is cheaper than thread-pool round trips).
  writeFileAtomicSync(join(p.dir, 'config.json'), JSON.stringify(ociSpec), { fsync: false });
  if (networkReady && (await networkReady) !== netns) throw internal(`network namespace of ${c.id} is not at ${netns}`);
  signal?.throwIfAborted();

  const created = await parts.runtime.create(c.id, {
    name: c.name,
    bundle: p.dir,
    logPath: spec.logDriver === 'none' ? undefined : p.logPath,
    logSizeMax: spec.logSizeMax ?? parts.config.logSizeMax,
    terminal: spec.tty ?? false,
    stdin: spec.stdin ?? false,
    stdinOnce: spec.stdinOnce,
    exitCommand: exitCommand(parts, c.id),
    exitDelay: opts.foreground ? FOREGROUND_EXIT_DELAY_S : undefined,
    signal,
  });
  await parts.records.setCreated(c.id, created.pid, { pid: created.conmonPid, token: processToken(created.conmonPid) });
  // Aborted while conmon created it: the caller's cleanup removes the new incarnation too.
  signal?.throwIfAborted();
}

/** The process of a running container whose namespaces another joins. */
function namespaceOwnerPid(parts: Parts, id: string): number {
  const owner = parts.records.byId(id);
  if (!owner) throw failedPrecondition(`the container ${id.slice(0, 12)} whose namespaces are shared no longer exists`);
  if (owner.state !== 'running' || !owner.pid) throw failedPrecondition(`cannot join the namespaces of container ${owner.name}: it is not running`);
  return owner.pid;
}

/** The /dev/shm of the container whose IPC namespace another joins: it must be shareable. */
function ipcOwnerShm(parts: Parts, id: string): string {
  const owner = parts.records.byId(id);
  if (!owner?.config.ipcShareable)
    throw failedPrecondition(`cannot join the IPC namespace of container ${owner?.name ?? id}: it is not shareable (create it with --ipc shareable)`);
  return shareableShmPath(containerPaths(parts, owner).dir);
}

/** Joins the container's networks and writes its resolv.conf, hosts and hostname; returns the netns path. */
async function attachNetwork(parts: Parts, c: Container, networks: string[], hostname: string): Promise<string> {
  const n = c.config.network ?? {};
  const net = await parts.network();
  // Attachments whose owner is gone (a crash between setup and the row's removal) are
  // released before new ones are made. An owner that still has a row (a container, a
  // pod) is its own to release (it may be doing so right now).
  await net.sweep(async (id) => parts.records.exists(id) || (await Promise.all(parts.networkOwners.map((owns) => owns(id)))).some(Boolean));
  const staticIps = Object.fromEntries(Object.entries(n.perNetwork ?? {}).flatMap(([name, e]) => (e.ip ? [[name, e.ip]] : [])));
  const status = await net.setup(c.id, { networks, exact: n.networksExact, staticIps, ips: n.ip ? [n.ip] : undefined, portMappings: n.ports, cniArgs: [['IgnoreUnknown', '1']], name: c.name, aliases: n.aliases, networkAliases: Object.fromEntries(Object.entries(n.perNetwork ?? {}).flatMap(([name, e]) => (e.aliases?.length ? [[name, e.aliases]] : []))) });
  await parts.records.setNetwork(c.id, status);
  const first = status.attachments[0];
  const { writeContainerFiles } = await import('../network/index.js');
  // The name servers of every network that resolves names come first (each knows only
  // its own containers), the host's after them.
  const named = status.attachments.filter((a) => a.dnsname && a.dns);
  const cni = named.length > 0
    ? { nameservers: named.flatMap((a) => a.dns!.nameservers ?? []), search: named.flatMap((a) => a.dns!.search ?? []) }
    : first?.dns;
  // podman's host.containers.internal: the gateway of a bridge network (IPv4 first), else
  // one of the host's own addresses.
  const bridges = status.attachments.filter((a) => a.driver === 'bridge').flatMap((a) => a.gateways);
  const hostAddress = bridges.find((g) => !g.includes(':')) ?? bridges[0] ?? hostOwnAddress();
  await writeContainerFiles(containerPaths(parts, c).dir, {
    hostname,
    name: c.name,
    ips: status.attachments.flatMap((a) => a.ips),
    gateway: first?.gateways[0],
    hostAddress,
    cni,
    keepHostServers: named.length > 0,
    dns: n.dns,
    dnsSearch: n.dnsSearch,
    dnsOptions: n.dnsOptions,
    addHosts: n.addHosts,
  });
  return status.netns;
}

/** The host's first address that is not loopback or link-local (IPv4 first), as podman picks one. */
function hostOwnAddress(): string | undefined {
  const addrs = Object.values(networkInterfaces()).flatMap((l) => l ?? []).filter((a) => !a.internal && !a.address.startsWith('fe80:'));
  return (addrs.find((a) => a.family === 'IPv4') ?? addrs[0])?.address;
}

/**
 * conmon's exit command: berth's cleanup, behind a shell test that skips it when the
 * runtime no longer knows the container (someone already released it).
 */
function exitCommand(parts: Parts, id: string): string[] | undefined {
  if (!parts.cleanupCommand) return undefined;
  return ['/bin/sh', '-c', 'test -e "$1" || exit 0; shift; exec "$@"', 'berth-cleanup', parts.runtime.stateDir(id), ...parts.cleanupCommand, id];
}
