// ps, inspect, stop, kill, rm, wait, rename, restart, and conmon's exit command.
import type { Command } from './command.js';
import { formatFlag } from './command.js';
import type { Engine } from '../engine/index.js';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import type { Container, ContainerManager } from '../container/index.js';
import type { ContainerDefaults } from '../image/index.js';
import { DEFAULT_SHM_SIZE, signalName } from '../oci/index.js';
import { byText, humanDuration, humanSize, printList, renderAll, shortId, table, templateMap, timeAgo } from './format.js';
import { GoTime } from './go-time.js';
import { imageInspectView } from './image-views.js';
import { failedPrecondition, fromSystemError, invalidArgument, isBerthError } from '../errors/index.js';
import { printError, removalExitCode } from './errors.js';
import { mountViews } from './mounts.js';
import { healthSuffix, healthViews, parseDuration } from './healthcheck.js';
import { containerFilter, statusWord } from './container-filter.js';
import { writeOut } from './stdout.js';

export function statusText(mgr: ContainerManager, c: Container, now = Date.now()): string {
  if (c.paused && c.state === 'running') return 'Paused';
  switch (c.state) {
    case 'running':
      return `Up ${humanDuration(now - (c.startedAt ?? now))}${healthSuffix(mgr, c)}`;
    case 'stopped':
      return `Exited (${c.exitCode ?? -1}) ${timeAgo(c.finishedAt ?? now, now)}`;
    case 'removing':
      return 'Removal In Progress';
    default:
      return 'Created';
  }
}

function commandText(c: Container, full: boolean): string {
  const cmd = (c.config.args ?? []).join(' ');
  return JSON.stringify(full || cmd.length <= 20 ? cmd : cmd.slice(0, 19) + '…');
}

/** The fields `ps --format` templates and JSON see (docker's names; templates get the short ID unless fullId). */
function psView(mgr: ContainerManager, c: Container, ports: (m: NonNullable<Container['network']>['portMappings']) => string, fullId: boolean) {
  return {
    ID: fullId ? c.id : shortId(c.id),
    Image: c.config.image,
    ImageID: c.imageId,
    Command: (c.config.args ?? []).join(' '),
    CreatedAt: GoTime.fromMs(c.createdAt),
    RunningFor: timeAgo(c.createdAt),
    Ports: ports(c.network?.portMappings ?? []),
    Networks: c.network?.attachments.map((a) => a.network).join(',') ?? networkText(c) ?? '',
    State: statusWord(c),
    Status: statusText(mgr, c),
    Names: c.name,
    Labels: templateMap(c.config.labels ?? {}),
    // Where the container's binds and volumes are mounted, as podman lists them.
    Mounts: (c.config.mounts ?? []).flatMap((m) => (m.type === 'tmpfs' ? [] : [m.destination])),
    ExitCode: c.exitCode,
    Pid: c.state === 'running' ? c.pid : 0,
  };
}

/** The --network value the container was created with (undefined: the default network). */
function networkText(c: Container): string | undefined {
  if (c.config.joinedContainer) return `container:${c.config.joinedContainer}`;
  const n = c.config.network;
  if (n?.mode === 'none' || n?.mode === 'host') return n.mode;
  return n?.networks?.length ? n.networks.join(',') : undefined;
}

/** ps --sort's keys (podman's). */
const SORT_KEYS = ['command', 'created', 'id', 'image', 'names', 'runningfor', 'size', 'status'] as const;
type SortKey = (typeof SORT_KEYS)[number];

const psCommand: Command = {
  name: 'ps',
  aliases: ['list', 'ls'],
  usage: 'ps [OPTIONS]',
  summary: 'List containers',
  flags: [
    { name: 'all', short: 'a', type: 'bool', desc: 'Show all containers (default shows just running)' },
    { name: 'quiet', short: 'q', type: 'bool', desc: 'Only display container IDs' },
    { name: 'no-trunc', type: 'bool', desc: "Don't truncate output" },
    { name: 'latest', short: 'l', type: 'bool', desc: 'Show the latest created container' },
    { name: 'last', short: 'n', type: 'int', value: 'N', desc: 'Show n last created containers (includes all states)' },
    { name: 'filter', short: 'f', type: 'strings', value: 'KEY=VALUE', desc: 'Filter output (id, name, status, exited, ancestor, label, health, before, since, until, restart-policy, network, volume)' },
    { name: 'size', short: 's', type: 'bool', desc: 'Display the total file sizes (writable layer, and with the image: virtual)' },
    { name: 'sort', type: 'string', value: 'KEY', desc: `Sort by ${SORT_KEYS.join(', ')} (default created: newest first)` },
    formatFlag,
  ],
  maxArgs: 0,
  async run(ctx, f) {
    const mgr = await ctx.containers();
    const filters = (f.filter as string[] | undefined) ?? [];
    const sortKey = (f.sort as string | undefined) ?? 'created';
    if (!(SORT_KEYS as readonly string[]).includes(sortKey)) throw invalidArgument(`invalid --sort "${sortKey}": ${SORT_KEYS.slice(0, -1).join(', ')} or ${SORT_KEYS.at(-1)}`);
    const picked = await containerFilter(mgr, filters);
    const all = !!f.all || !!f.latest || f.last !== undefined || filters.some((x) => x.startsWith('status=') || x.startsWith('exited='));
    let list = (await mgr.list({ all })).filter(picked);
    if (f.latest) list = list.slice(0, 1);
    if (f.last !== undefined) list = list.slice(0, f.last as number);
    const now = Date.now();
    const sizes = f.size || sortKey === 'size' ? await sizesOf(ctx, mgr, list) : undefined;
    list = sortContainers(mgr, list, sortKey as SortKey, sizes, now);
    const full = !!f['no-trunc'];
    if (f.quiet) {
      writeOut(list.map((c) => (full ? c.id : shortId(c.id)) + '\n').join(''));
      return;
    }
    const size = f.size ? sizes!.text : undefined;
    // The network code is loaded only when some container publishes ports.
    const ports = list.some((c) => c.network?.portMappings.length) ? (await import('../network/index.js')).formatPorts : () => '';
    await printList(
      list,
      f.format as string | undefined,
      (items) =>
        table(
          ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES', ...(size ? ['SIZE'] : [])],
          items.map((c) => [
            full ? c.id : shortId(c.id), c.config.image, commandText(c, full), timeAgo(c.createdAt, now), statusText(mgr, c, now), ports(c.network?.portMappings ?? []), c.name,
            ...(size ? [size(c)] : []),
          ]),
        ),
      (c) => ({ ...psView(mgr, c, ports, full || f.format === 'json'), ...(size ? { Size: size(c) } : {}) }),
      { type: 'container', headers: { ID: 'CONTAINER ID' } },
    );
  },
};

/** ps --sort as podman orders: created newest first, runningfor the longest running first, size the smallest first, the rest by their text. */
function sortContainers(mgr: ContainerManager, list: Container[], key: SortKey, sizes: ContainerSizes | undefined, now: number): Container[] {
  const orders: Record<SortKey, (a: Container, b: Container) => number> = {
    created: (a, b) => b.createdAt - a.createdAt,
    runningfor: (a, b) => (a.startedAt ?? now) - (b.startedAt ?? now),
    size: (a, b) => sizes!.virtual(a) - sizes!.virtual(b),
    command: byText((c) => commandText(c, true)),
    id: byText((c) => c.id),
    image: byText((c) => c.config.image),
    names: byText((c) => c.name),
    status: byText((c) => statusText(mgr, c, now)),
  };
  return [...list].sort(orders[key]);
}

interface ContainerSizes {
  /** The writable layer's bytes. */
  rw(c: Container): number;
  /** With the image's. */
  virtual(c: Container): number;
  /** As podman's ps -s prints it: "12B (virtual 2MB)". */
  text(c: Container): string;
}

async function sizesOf(ctx: Engine, mgr: ContainerManager, list: Container[]): Promise<ContainerSizes> {
  const [{ treeSize }, images] = await Promise.all([import('./df.js'), ctx.images()]);
  const imageSize = new Map(images.list().map((i) => [i.id, i.size]));
  const sizes = new Map(list.map((c) => [c.id, treeSize(join(mgr.paths(c).dir, 'upper'))]));
  const rw = (c: Container) => sizes.get(c.id) ?? 0;
  const virtual = (c: Container) => rw(c) + (imageSize.get(c.imageId ?? '') ?? 0);
  return { rw, virtual, text: (c) => `${humanSize(rw(c))} (virtual ${humanSize(virtual(c))})` };
}

/** docker-inspect-shaped view of a container. */
function inspectView(mgr: ContainerManager, c: Container, volumePath: (name: string) => string, image?: ContainerDefaults) {
  const p = mgr.paths(c);
  const cfg = c.config;
  const sec = cfg.security ?? {};
  const res = cfg.resources ?? {};
  const health = healthViews(mgr, c);
  return {
    Id: c.id,
    Created: GoTime.fromMs(c.createdAt),
    Path: cfg.args?.[0] ?? '',
    Args: cfg.args?.slice(1) ?? [],
    // Templates may say .State.Healthcheck, as podman's do.
    State: Object.defineProperty({
      Status: statusWord(c),
      // podman's: a paused container is not Running.
      Running: c.state === 'running' && !c.paused,
      Paused: c.state === 'running' && c.paused,
      Restarting: false,
      OOMKilled: c.oomKilled,
      Dead: false,
      Pid: c.state === 'running' ? c.pid ?? 0 : 0,
      ConmonPid: c.state === 'running' ? c.conmonPid ?? 0 : 0,
      ExitCode: c.exitCode ?? 0,
      Error: c.error ?? '',
      StartedAt: GoTime.fromMs(c.startedAt),
      FinishedAt: GoTime.fromMs(c.finishedAt),
      Health: health.state,
    }, 'Healthcheck', { value: health.state, enumerable: false }),
    Image: c.imageId ? `sha256:${c.imageId}` : '',
    ImageName: c.config.image,
    Name: c.name,
    RestartCount: c.restartCount,
    Driver: 'overlay',
    LogPath: cfg.logDriver === 'none' ? '' : p.logPath,
    Mounts: mountViews(cfg.mounts ?? [], volumePath),
    Config: {
      Hostname: cfg.hostname ?? '',
      User: sec.user ?? '',
      // What runs, as podman shows it: the image's defaults where the container gave none
      // (an entrypoint given replaces the image's command too, as docker has it).
      Env: effectiveEnv(mgr, c),
      Cmd: cfg.command ?? (cfg.entrypoint !== undefined ? null : image?.Cmd ?? null),
      Entrypoint: cfg.entrypoint ?? image?.Entrypoint ?? null,
      ExposedPorts: templateMap(Object.fromEntries([...Object.keys(image?.ExposedPorts ?? {}), ...(cfg.exposedPorts ?? [])].map((p) => [p.includes('/') ? p : `${p}/tcp`, {}]))),
      Image: cfg.image,
      WorkingDir: cfg.workdir ?? '',
      Labels: templateMap(cfg.labels ?? {}),
      Annotations: templateMap(cfg.annotations ?? {}),
      Tty: !!cfg.tty,
      OpenStdin: !!cfg.stdin,
      StopSignal: signalName(cfg.stopSignal ?? image?.StopSignal ?? 'SIGTERM'),
      Healthcheck: health.config,
    },
    HostConfig: {
      LogConfig: { Type: cfg.logDriver ?? 'k8s-file', Config: null },
      Memory: res.memory ?? 0,
      MemorySwap: res.memorySwap ?? 0,
      MemoryReservation: res.memoryReservation ?? 0,
      NanoCpus: res.cpuQuota ? Math.round((res.cpuQuota / (res.cpuPeriod ?? 100_000)) * 1e9) : 0,
      CpuShares: res.cpuShares ?? 0,
      CpusetCpus: res.cpusetCpus ?? '',
      CpusetMems: res.cpusetMems ?? '',
      PidsLimit: res.pids ?? 0,
      OomScoreAdj: res.oomScoreAdj ?? 0,
      Devices: (cfg.devices ?? []).map((d) => ({ PathOnHost: d.hostPath, PathInContainer: d.containerPath, CgroupPermissions: d.permissions ?? 'rwm' })),
      ShmSize: cfg.namespaces?.ipc === 'host' || cfg.namespaceContainers?.ipc ? 0 : cfg.shmSize ?? DEFAULT_SHM_SIZE,
      Sysctls: templateMap(cfg.sysctls ?? {}),
      PidMode: namespaceMode(cfg, 'pid', 'private'),
      IpcMode: namespaceMode(cfg, 'ipc', cfg.ipcShareable ? 'shareable' : 'private'),
      UTSMode: namespaceMode(cfg, 'uts', 'private'),
      GroupAdd: sec.groupAdd ?? [],
      SecurityOpt: [
        ...(sec.noNewPrivileges ? ['no-new-privileges'] : []),
        ...(sec.seccompProfile ? [`seccomp=${sec.seccompProfile.path}`] : sec.seccomp === 'unconfined' ? ['seccomp=unconfined'] : []),
      ],
      ContainerIDFile: cfg.cidFile ?? '',
      CapAdd: sec.capAdd ?? [],
      CapDrop: sec.capDrop ?? [],
      Privileged: !!sec.privileged,
      ReadonlyRootfs: !!sec.readOnlyRootfs,
      NetworkMode: networkText(c) ?? 'bridge',
      AutoRemove: !!cfg.removeOnExit,
      RestartPolicy: { Name: cfg.restartPolicy?.name ?? 'no', MaximumRetryCount: cfg.restartPolicy?.maxRetries ?? 0 },
      Init: !!cfg.init,
      Tmpfs: templateMap(Object.fromEntries((cfg.mounts ?? []).flatMap((t) => (t.type === 'tmpfs' ? [[t.destination, t.options.join(',')]] : [])))),
      Ulimits: (cfg.rlimits ?? []).map((u) => ({ Name: u.type.replace(/^RLIMIT_/, '').toLowerCase(), Soft: u.soft, Hard: u.hard })),
    },
    GraphDriver: { Name: 'overlay', Data: templateMap({ UpperDir: `${p.dir}/upper`, WorkDir: `${p.dir}/work`, MergedDir: p.rootfs }) },
    NetworkSettings: networkSettings(c),
  };
}

/** docker's PidMode/IpcMode/UTSMode: host, container:ID or the container's own. */
function namespaceMode(cfg: Container['config'], kind: 'pid' | 'ipc' | 'uts', own: string): string {
  if (cfg.namespaces?.[kind] === 'host') return 'host';
  const owner = cfg.namespaceContainers?.[kind];
  return owner ? `container:${owner}` : own;
}

/** The networks the container's spec names (none named: its attachments, i.e. the default network). */
function listedNetworks(c: Container): string[] {
  const n = c.config.network;
  if (c.config.joinedContainer || n?.mode === 'none' || n?.mode === 'host') return [];
  return n?.networks ?? [];
}

/** docker's NetworkSettings: the sandbox (netns), published ports, and one entry per network. */
function networkSettings(c: Container) {
  const n = c.network;
  const first = n?.attachments[0];
  const ports: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const m of n?.portMappings ?? c.config.network?.ports ?? [])
    (ports[`${m.containerPort}/${m.protocol}`] ??= []).push({ HostIp: m.hostIP || '0.0.0.0', HostPort: m.hostPort ? String(m.hostPort) : '' });
  const prefix = (cidr: string | undefined) => Number(cidr?.split('/')[1] ?? 0);
  return {
    SandboxKey: n?.netns ?? '',
    Ports: templateMap(ports),
    IPAddress: first?.ips[0] ?? '',
    IPPrefixLen: prefix(first?.cidrs[0]),
    Gateway: first?.gateways[0] ?? '',
    MacAddress: first?.mac ?? '',
    // Each network the container lists (a stopped one's too, empty), with what it got there.
    Networks: templateMap(Object.fromEntries(
      [...new Set([...listedNetworks(c), ...(n?.attachments ?? []).map((a) => a.network)])].map((name) => {
        const a = n?.attachments.find((x) => x.network === name);
        return [
          name,
          {
            IPAddress: a?.ips[0] ?? '', IPPrefixLen: prefix(a?.cidrs[0]), Gateway: a?.gateways[0] ?? '', MacAddress: a?.mac ?? '', InterfaceName: a?.ifName ?? '',
            NetworkID: name,
            // As podman: the aliases asked for on that network, then the short ID.
            Aliases: [...(c.config.network?.perNetwork?.[name]?.aliases ?? []), shortId(c.id)],
          },
        ];
      }),
    )),
  };
}

const inspectCommand: Command = {
  name: 'inspect',
  usage: 'inspect [OPTIONS] NAME|ID [NAME|ID...]',
  summary: 'Return low-level information on containers or images',
  flags: [
    { name: 'format', short: 'f', type: 'string', value: 'FORMAT', desc: 'Format the output using a Go-style template' },
    { name: 'type', type: 'string', value: 'TYPE', desc: 'Only inspect objects of the given type (container or image)' },
    { name: 'size', short: 's', type: 'bool', desc: "Display a container's file sizes (SizeRw, SizeRootFs)" },
  ],
  minArgs: 1,
  async run(ctx, f, args) {
    const type = f.type as string | undefined;
    if (type !== undefined && type !== 'container' && type !== 'image') throw invalidArgument(`invalid --type "${type}": container or image`);
    const views: { view: unknown; type: string }[] = [];
    let failed = 0;
    for (const ref of args) {
      try {
        views.push(await inspectOne(ctx, ref, type, !!f.size));
      } catch (e) {
        if (!isBerthError(e, 'NotFound')) throw e;
        failed++;
        process.stderr.write(`berth: no such ${type ?? 'object'}: ${ref}\n`);
      }
    }
    const format = f.format as string | undefined;
    if (format) writeOut(await renderAll(format, views.map((v) => v.view), views.map((v) => v.type)));
    else if (views.length || !failed) writeOut(JSON.stringify(views.map((v) => v.view), null, 4) + '\n');
    return failed ? 125 : 0;
  },
};

/** The docker-shaped inspect view of a container (the Docker API serves it too). */
export async function containerInspectView(ctx: Engine, c: Container): Promise<ReturnType<typeof inspectView>> {
  // The volume code is loaded only for a container that mounts volumes.
  const volumes = c.config.mounts?.some((m) => m.type === 'volume') ? await ctx.volumes() : undefined;
  return inspectView(await ctx.containers(), c, (name) => volumes?.mountpoint(name) ?? '', await imageDefaults(ctx, c));
}

async function inspectOne(ctx: Engine, ref: string, type?: string, size = false): Promise<{ view: unknown; type: string }> {
  if (type !== 'image') {
    const mgr = await ctx.containers();
    try {
      const c = await mgr.get(ref);
      const view = await containerInspectView(ctx, c);
      if (size) {
        const sizes = await sizesOf(ctx, mgr, [c]);
        Object.assign(view, { SizeRw: sizes.rw(c), SizeRootFs: sizes.virtual(c) });
      }
      return { view: withIdAlias(view), type: 'container' };
    } catch (e) {
      if (type === 'container' || !isBerthError(e, 'NotFound')) throw e;
    }
  }
  return { view: withIdAlias(imageInspectView((await ctx.images()).resolve(ref))), type: 'image' };
}

/** The runtime defaults of the container's image (undefined once the image is gone). */
async function imageDefaults(ctx: Engine, c: Container): Promise<ContainerDefaults | undefined> {
  try {
    return (await ctx.images()).resolve(c.imageId ?? c.config.image).config.config;
  } catch {
    return undefined;
  }
}

/** The environment the container's process runs with (its OCI spec), else what was asked for. */
function effectiveEnv(mgr: ContainerManager, c: Container): string[] {
  try {
    return (JSON.parse(readFileSync(join(mgr.paths(c).dir, 'config.json'), 'utf8')) as { process?: { env?: string[] } }).process?.env ?? c.config.env ?? [];
  } catch {
    return c.config.env ?? [];
  }
}

/** Templates may say {{.ID}} for {{.Id}}, as podman's do; JSON keeps the one name. */
function withIdAlias<T extends { Id: string }>(view: T): T {
  return Object.defineProperty(view, 'ID', { value: view.Id, enumerable: false });
}

/** Which containers a command of eachContainer takes besides those named (podman's flags). */
interface Selection {
  /** -a/--all and the containers it takes; without it the command has no --all. */
  all?: { desc: string; pick: (c: Container, f: Record<string, unknown>) => boolean };
  /** --ignore: a container that does not exist is no error (podman's stop and rm). */
  ignore?: boolean;
}

/** The IDs in --cidfile files (as run --cidfile wrote them); a missing file is a missing container. */
function cidFileRefs(files: string[], ignore: boolean): string[] {
  return files.flatMap((file) => {
    try {
      return [readFileSync(file, 'utf8').trim()];
    } catch (e) {
      if (ignore && (e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fromSystemError(e, `reading the cidfile ${file}`);
    }
  });
}

/**
 * Applies op to each container named, in --cidfile files, or picked by --all or --latest,
 * printing the reference on success like docker.
 */
function eachContainer(
  name: string,
  summary: string,
  flags: Command['flags'],
  op: (mgr: ContainerManager, ref: string, f: Record<string, unknown>) => Promise<unknown>,
  exitFor: (errors: unknown[]) => number = () => 125,
  selection: Selection = {},
): Command {
  return {
    name,
    usage: `${name} [OPTIONS] CONTAINER [CONTAINER...]`,
    summary,
    flags: [
      ...flags,
      ...(selection.all ? [{ name: 'all', short: 'a', type: 'bool' as const, desc: selection.all.desc }] : []),
      { name: 'latest', short: 'l', type: 'bool', desc: 'Act on the latest container created' },
      { name: 'cidfile', type: 'strings', value: 'FILE', desc: 'Read the container ID from the file (as run --cidfile wrote it)' },
      ...(selection.ignore ? [{ name: 'ignore', short: 'i', type: 'bool' as const, desc: 'A container that does not exist is not an error' }] : []),
    ],
    async run(ctx, f, args) {
      const ignore = f.ignore === true;
      let refs = [...args, ...cidFileRefs((f.cidfile as string[] | undefined) ?? [], ignore)];
      const selectors = [f.all, f.latest].filter(Boolean).length;
      if (selectors > 1 || (selectors === 1 && refs.length > 0)) throw invalidArgument(`--all, --latest and containers named cannot be given together`);
      if (selectors === 0 && refs.length === 0 && !(ignore && f.cidfile)) throw invalidArgument(`"berth ${name}" requires at least 1 argument; usage: berth ${name} [OPTIONS] CONTAINER [CONTAINER...]`);
      const mgr = await ctx.containers();
      if (f.all) refs = (await mgr.list({ all: true })).filter((c) => selection.all!.pick(c, f)).map((c) => c.id);
      if (f.latest) refs = (await mgr.list({ all: true })).slice(0, 1).map((c) => c.id);
      const errors: unknown[] = [];
      for (const ref of refs) {
        try {
          await op(mgr, ref, f);
          writeOut(ref + '\n');
        } catch (e) {
          if (ignore && isBerthError(e, 'NotFound')) continue;
          errors.push(e);
          printError(e, false);
        }
      }
      return errors.length ? exitFor(errors) : 0;
    },
  };
}

const timeFlag = { name: 'time', short: 't', type: 'int' as const, value: 'SECONDS', desc: 'Seconds to wait before killing the container (default 10)' };

/**
 * podman's init: the container made ready to start, its process waiting in the runtime. A
 * created container already is (berth's create does what podman's create and init do); a
 * stopped one gets a new monitor and process, as start would give it, without starting.
 */
const initCommand = eachContainer('init', 'Initialize one or more containers: their process made, waiting for start', [], async (m, r) => {
  const c = await m.get(r);
  if (c.state === 'running') throw failedPrecondition(`container ${c.name} has already been created in runtime: container state improper`);
  await m.recreate(c.id);
});
const running = (c: Container) => c.state === 'running';
const stopCommand = eachContainer('stop', 'Stop one or more running containers', [timeFlag], (m, r, f) => m.stop(r, { timeout: f.time as number | undefined }), undefined, {
  all: { desc: 'Stop all running containers', pick: running },
  ignore: true,
});
const restartCommand = eachContainer(
  'restart',
  'Restart one or more containers',
  [timeFlag, { name: 'running', type: 'bool', desc: 'With --all: restart only the running containers' }],
  (m, r, f) => m.restart(r, { timeout: f.time as number | undefined }),
  undefined,
  { all: { desc: 'Restart all containers (with --running: the running ones)', pick: (c, f) => !f.running || running(c) } },
);
const killCommand = eachContainer(
  'kill',
  'Kill one or more running containers',
  [{ name: 'signal', short: 's', type: 'string', value: 'SIGNAL', desc: 'Signal to send to the container (default KILL)' }],
  (m, r, f) => m.kill(r, (f.signal as string | undefined) ?? 'KILL'),
  undefined,
  { all: { desc: 'Kill all running containers', pick: running } },
);
const rmCommand = eachContainer(
  'rm',
  'Remove one or more containers',
  [
    { name: 'force', short: 'f', type: 'bool', desc: 'Force the removal of a running container (uses SIGKILL)' },
    { name: 'volumes', short: 'v', type: 'bool', desc: 'Remove the anonymous volumes of the container' },
  ],
  (m, r, f) => m.remove(r, { force: !!f.force, volumes: !!f.volumes }),
  removalExitCode,
  { all: { desc: 'Remove all containers', pick: () => true }, ignore: true },
);

/** wait --condition: podman's names for the states berth has (stopped and exited are one). */
const WAIT_CONDITIONS = ['created', 'exited', 'healthy', 'paused', 'removing', 'running', 'stopped', 'unhealthy'];

function waitConditionMet(mgr: ContainerManager, c: Container, condition: string): boolean {
  switch (condition) {
    case 'healthy':
    case 'unhealthy':
      return c.state === 'running' && mgr.health(c)?.Status === condition;
    case 'paused':
      return c.paused;
    case 'running':
      return c.state === 'running' && !c.paused;
    case 'exited':
    case 'stopped':
      return c.state === 'stopped';
    default:
      return c.state === condition;
  }
}

const waitCommand: Command = {
  name: 'wait',
  usage: 'wait [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Block until one or more containers stop, then print their exit codes',
  flags: [
    { name: 'condition', type: 'strings', value: 'STATE', desc: `Wait until the container is in one of these states: ${WAIT_CONDITIONS.join(', ')} (default stopped)` },
    { name: 'interval', short: 'i', type: 'string', value: 'DURATION', desc: 'How often to look at the container when waiting for a condition other than stopped (default 250ms)' },
    { name: 'ignore', type: 'bool', desc: 'A container that does not exist is not an error (prints -1)' },
  ],
  minArgs: 1,
  async run(ctx, f, args) {
    const conditions = (f.condition as string[] | undefined) ?? ['stopped'];
    for (const c of conditions) if (!WAIT_CONDITIONS.includes(c)) throw invalidArgument(`invalid --condition "${c}": ${WAIT_CONDITIONS.join(', ')}`);
    const interval = f.interval === undefined ? 250 : /^\d+$/.test(f.interval as string) ? Number(f.interval) : parseDuration(f.interval as string, '--interval');
    const mgr = await ctx.containers();
    const onlyExit = conditions.every((c) => c === 'stopped' || c === 'exited');
    for (const ref of args) {
      try {
        if (onlyExit) {
          writeOut(`${await mgr.wait(ref)}\n`);
          continue;
        }
        // The other states have no event to wait on: the record is read every interval.
        for (;;) {
          const c = await mgr.get(ref);
          const met = conditions.find((cond) => waitConditionMet(mgr, c, cond));
          if (met) {
            writeOut(`${met === 'stopped' || met === 'exited' ? c.exitCode ?? -1 : -1}\n`);
            break;
          }
          await delay(Math.max(interval, 10));
        }
      } catch (e) {
        if (!f.ignore || !isBerthError(e, 'NotFound')) throw e;
        writeOut('-1\n');
      }
    }
  },
};

const renameCommand: Command = {
  name: 'rename',
  usage: 'rename CONTAINER NEW_NAME',
  summary: 'Rename a container',
  flags: [],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, _f, args) {
    await (await ctx.containers()).rename(args[0], args[1]);
  },
};

/** conmon's exit command (not for users): records the exit and releases the container. */
export const cleanupCommand: Command = {
  name: 'container-cleanup',
  usage: 'container-cleanup ID',
  summary: 'Record the exit of a container and release its resources (run by conmon)',
  flags: [],
  hidden: true,
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, _f, args) {
    await (await ctx.containers()).recordMonitorExit(args[0]);
  },
};

export const lifecycleCommands: Command[] = [psCommand, inspectCommand, initCommand, stopCommand, killCommand, rmCommand, waitCommand, renameCommand, restartCommand];

