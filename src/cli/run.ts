// create, run, start, attach, exec: the commands that carry a container's stdio.
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import type { FlagDef, FlagValues } from './args.js';
import type { Command } from './command.js';
import type { Container, ContainerSpec, ContainerManager } from '../container/index.js';
import { isValidName } from '../config/index.js';
import { invalidArgument, isBerthError } from '../errors/index.js';
import { parseDetachKeys } from '../monitor/index.js';
import { printError } from './errors.js';
import { ensureImage, pullFlags } from './pull-policy.js';
import {
  parseAnnotations, timezoneFile, parseEnv, parseEntrypoint, parseLabels, parseOomScoreAdj, parseRestart, parseTmpfs, parseUlimit, parseBytes,
  readLabelFiles, resourceFlags, resourcesFromFlags, restartFlagDef,
} from './options.js';
import { attachedStreams, hostOptionsFromFlags, readSeccompProfile, writeCidFile } from './run-host.js';
import { parseMount, parseVolume } from './mounts.js';
import { containerFilter } from './container-filter.js';
import { parseSignal } from '../oci/index.js';
import { healthFlags, healthFromFlags } from './healthcheck.js';
import { stdout, writeOut } from './stdout.js';

const createFlags: FlagDef[] = [
  { name: 'name', type: 'string', value: 'NAME', desc: 'Assign a name to the container' },
  { name: 'interactive', short: 'i', type: 'bool', desc: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', type: 'bool', desc: 'Allocate a pseudo-TTY' },
  { name: 'env', short: 'e', type: 'strings', value: 'KEY=VALUE', desc: 'Set environment variables' },
  { name: 'env-file', type: 'strings', value: 'FILE', desc: 'Read in a file of environment variables' },
  { name: 'env-host', type: 'bool', desc: "Use the host's environment in the container (under --env-file and --env)" },
  { name: 'workdir', short: 'w', type: 'string', value: 'DIR', desc: 'Working directory inside the container' },
  { name: 'user', short: 'u', type: 'string', value: 'USER[:GROUP]', desc: 'Username or UID, and optionally group name or GID' },
  { name: 'hostname', short: 'h', type: 'string', value: 'NAME', desc: 'Container host name' },
  { name: 'entrypoint', type: 'string', value: 'CMD', desc: 'Overwrite the default ENTRYPOINT of the image (a command, or a JSON array)' },
  { name: 'volume', short: 'v', type: 'strings', value: '[SRC:]CTR[:OPTS]', desc: 'Bind mount a host path or mount a volume (OPTS: ro, z, rshared, nosuid, …)' },
  { name: 'mount', type: 'strings', value: 'type=TYPE,…', desc: 'Attach a bind, volume or tmpfs mount (docker syntax)' },
  { name: 'tmpfs', type: 'strings', value: 'PATH[:OPTS]', desc: 'Mount a tmpfs directory' },
  { name: 'read-only', type: 'bool', desc: "Mount the container's root filesystem as read only" },
  { name: 'read-only-tmpfs', type: 'bool', default: true, desc: 'With --read-only, mount a read-write tmpfs on /run, /tmp and /var/tmp' },
  { name: 'tz', type: 'string', value: 'TIMEZONE', desc: "Set the container's time zone (an Area/City name, or local for the host's)" },
  { name: 'shm-size', type: 'string', value: 'BYTES', desc: 'Size of /dev/shm (default 64m)' },
  ...resourceFlags,
  { name: 'oom-score-adj', type: 'int', value: 'N', desc: "Tune the host's OOM preferences for the container (-1000 to 1000)" },
  { name: 'device', type: 'strings', value: 'HOST[:CTR][:PERMS]', desc: 'Add a host device to the container (PERMS: a subset of rwm)' },
  { name: 'sysctl', type: 'strings', value: 'KEY=VALUE', desc: 'Set a namespaced kernel parameter' },
  { name: 'pid', type: 'string', value: 'MODE', desc: 'PID namespace: private (default), host or container:NAME' },
  { name: 'ipc', type: 'string', value: 'MODE', desc: 'IPC namespace: private (default), shareable, host or container:NAME' },
  { name: 'uts', type: 'string', value: 'MODE', desc: 'UTS namespace: private (default), host or container:NAME' },
  { name: 'group-add', type: 'strings', value: 'GROUP', desc: 'Add additional groups (names from the container\'s /etc/group, or numbers)' },
  { name: 'cap-add', type: 'strings', value: 'CAP', desc: 'Add Linux capabilities' },
  { name: 'cap-drop', type: 'strings', value: 'CAP', desc: 'Drop Linux capabilities' },
  { name: 'privileged', type: 'bool', desc: 'Give extended privileges to this container' },
  { name: 'security-opt', type: 'strings', value: 'OPT', desc: 'Security options: no-new-privileges, seccomp=unconfined, seccomp=PROFILE.json' },
  { name: 'ulimit', type: 'strings', value: 'NAME=SOFT[:HARD]', desc: 'Ulimit options' },
  { name: 'network', type: 'string', value: 'NETWORK', desc: 'Networks to join (NAME[,NAME...], default: the berth bridge network), none or host' },
  { name: 'net', type: 'string', value: 'NETWORK', desc: 'Alias of --network' },
  { name: 'publish', short: 'p', type: 'strings', value: '[IP:][HOSTPORT:]CTRPORT[/PROTO]', desc: "Publish a container's port to the host" },
  { name: 'publish-all', short: 'P', type: 'bool', desc: 'Publish all exposed ports to free host ports' },
  { name: 'expose', type: 'strings', value: 'PORT[-END][/PROTO]', desc: 'Expose a port or a range of ports (published by -P)' },
  { name: 'ip', type: 'string', value: 'IP', desc: 'A static IPv4 or IPv6 address on the network' },
  { name: 'dns', type: 'strings', value: 'IP', desc: 'Set custom DNS servers' },
  { name: 'dns-search', type: 'strings', value: 'DOMAIN', desc: 'Set custom DNS search domains' },
  { name: 'dns-option', type: 'strings', value: 'OPT', desc: 'Set DNS options' },
  { name: 'add-host', type: 'strings', value: 'HOST:IP', desc: 'Add a custom host-to-IP mapping' },
  { name: 'network-alias', type: 'strings', value: 'NAME', desc: 'Add a name for the container on the networks it joins that resolve names' },
  { name: 'init', type: 'bool', desc: 'Run an init inside the container that forwards signals and reaps processes' },
  { name: 'label', short: 'l', type: 'strings', value: 'KEY=VALUE', desc: 'Set metadata on the container' },
  { name: 'label-file', type: 'strings', value: 'FILE', desc: 'Read in a line delimited file of labels' },
  { name: 'annotation', type: 'strings', value: 'KEY=VALUE', desc: "Add an annotation to the container's OCI spec" },
  { name: 'cidfile', type: 'string', value: 'FILE', desc: 'Write the container ID to the file' },
  { name: 'replace', type: 'bool', desc: 'Remove a container of the same --name first (stopping it if it runs)' },
  { name: 'quiet', short: 'q', type: 'bool', desc: 'Suppress output information when pulling images' },
  { name: 'stop-signal', type: 'string', value: 'SIGNAL', desc: 'Signal to stop the container (default SIGTERM)' },
  { name: 'stop-timeout', type: 'int', value: 'SECONDS', desc: 'Timeout to stop the container before killing it (default 10)' },
  { name: 'log-driver', type: 'string', value: 'DRIVER', desc: 'Logging driver: k8s-file (default; json-file is taken for it) or none' },
  { name: 'log-opt', type: 'strings', value: 'max-size=SIZE', desc: 'Log driver options' },
  { name: 'rm', type: 'bool', desc: 'Automatically remove the container when it exits' },
  restartFlagDef,
  ...pullFlags,
  ...healthFlags,
];

/** --log-driver: conmon's file (docker's json-file name taken for it, as podman does) or none. */
const LOG_DRIVERS: Record<string, 'k8s-file' | 'none'> = { 'k8s-file': 'k8s-file', 'json-file': 'k8s-file', none: 'none' };

const runOnlyFlags: FlagDef[] = [
  { name: 'detach', short: 'd', type: 'bool', desc: 'Run container in background and print container ID' },
  { name: 'attach', short: 'a', type: 'strings', value: 'STREAM', desc: 'Attach to STDIN, STDOUT or STDERR (default: all of them)' },
  { name: 'detach-keys', type: 'string', value: 'KEYS', desc: 'Key sequence for detaching a container (default ctrl-p,ctrl-q)' },
  { name: 'sig-proxy', type: 'bool', default: true, desc: 'Proxy received signals to the process (non-TTY mode only)' },
];

/** Turns run/create flags and positionals into the library's neutral container spec. */
export async function configFromFlags(f: FlagValues, args: string[]): Promise<ContainerSpec> {
  const strings = (k: string) => (f[k] as string[] | undefined) ?? [];
  let network = (f.network ?? f.net) as string | undefined;
  if (network === 'bridge' || network === 'default') network = undefined;
  const joined = joinedContainerOf(f);
  if (joined !== undefined) {
    for (const [flag, given] of [['publish', strings('publish').length > 0], ['publish-all', !!f['publish-all']], ['hostname', f.hostname !== undefined], ['dns', strings('dns').length > 0], ['add-host', strings('add-host').length > 0], ['network-alias', strings('network-alias').length > 0]] as const)
      if (given) throw invalidArgument(`conflicting options: --${flag} and --network container:${joined} (the network is that container's)`);
    network = 'none';
  }
  if (network !== undefined && !network.split(',').every((n) => isValidName(n)))
    throw invalidArgument(`invalid --network "${network}": NAME[,NAME...], none, host or container:NAME`);
  for (const a of strings('network-alias')) if (!isValidName(a)) throw invalidArgument(`invalid --network-alias "${a}"`);
  if (strings('network-alias').length > 0 && (network === 'none' || network === 'host'))
    throw invalidArgument(`--network-alias cannot be used with --network ${network}`);
  const publishing = strings('publish').length > 0 || !!f['publish-all'];
  if (publishing && (network === 'none' || network === 'host'))
    throw invalidArgument(`ports cannot be published with --network ${network}`);
  const net = publishing || strings('add-host').length > 0 ? await import('../network/index.js') : undefined;
  const parsePublish = net?.parsePublish ?? (() => []);
  // Checked now, before anything is made; "host-gateway" is resolved once the network is up.
  for (const h of strings('add-host')) net!.parseAddHost(h);
  let noNewPrivileges = false;
  let seccomp: 'default' | 'unconfined' = 'default';
  let seccompProfile: { path: string; profile: unknown } | undefined;
  for (const o of strings('security-opt')) {
    if (o === 'no-new-privileges' || o === 'no-new-privileges:true' || o === 'no-new-privileges=true') noNewPrivileges = true;
    else if (o === 'seccomp=unconfined' || o === 'seccomp:unconfined') seccomp = 'unconfined';
    else if (/^seccomp[=:]./.test(o)) seccompProfile = readSeccompProfile(o.slice('seccomp='.length));
    else throw invalidArgument(`unsupported --security-opt "${o}": use no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json`);
  }
  const hostFlags = hostOptionsFromFlags(f, network);
  const driverName = f['log-driver'] as string | undefined;
  const logDriver = driverName !== undefined && Object.hasOwn(LOG_DRIVERS, driverName) ? LOG_DRIVERS[driverName] : undefined;
  if (driverName !== undefined && !logDriver) throw invalidArgument(`unsupported --log-driver "${driverName}": use k8s-file, json-file or none`);
  let logSizeMax: number | undefined;
  for (const o of strings('log-opt')) {
    const m = /^max-size=(.+)$/.exec(o);
    if (!m) throw invalidArgument(`unsupported --log-opt "${o}": use max-size=SIZE`);
    logSizeMax = parseBytes(m[1], '--log-opt max-size');
  }
  const restart = f.restart !== undefined ? parseRestart(f.restart as string) : undefined;
  if (restart && f.rm) throw invalidArgument('the --rm option conflicts with --restart (a removed container cannot be restarted)');
  const stopSignal = f['stop-signal'] as string | undefined;
  if (stopSignal !== undefined) parseSignal(stopSignal);
  const entrypoint = f.entrypoint as string | undefined;
  const resources = {
    ...resourcesFromFlags(f),
    ...(f['oom-score-adj'] !== undefined ? { oomScoreAdj: parseOomScoreAdj(f['oom-score-adj'] as number) } : {}),
  };
  const mounts = [...strings('volume').map(parseVolume), ...strings('mount').map(parseMount), ...strings('tmpfs').map(parseTmpfs)];
  // As podman: a read-only root keeps writable scratch space unless told not to.
  if (f['read-only'] && f['read-only-tmpfs'] !== false)
    for (const destination of ['/run', '/tmp', '/var/tmp'])
      if (!mounts.some((m) => m.destination === destination)) mounts.push({ type: 'tmpfs', destination, options: ['rw', 'rprivate', 'nosuid', 'nodev', 'tmpcopyup'] });
  // --tz: the zone's file at /etc/localtime, read-only (podman's; local: the host's own).
  if (f.tz !== undefined) mounts.push({ type: 'bind', source: timezoneFile(f.tz as string), destination: '/etc/localtime', readOnly: true });
  const spec: ContainerSpec = {
    image: args[0],
    name: f.name as string | undefined,
    command: args.length > 1 ? args.slice(1) : undefined,
    entrypoint: entrypoint === undefined ? undefined : parseEntrypoint(entrypoint),
    env: parseEnv(strings('env'), strings('env-file'), { host: !!f['env-host'] }),
    workdir: f.workdir as string | undefined,
    hostname: f.hostname as string | undefined,
    tty: !!f.tty,
    stdin: !!f.interactive,
    // As docker: stdin stays open across attach sessions (a detach does not end the input).
    stdinOnce: f.interactive ? false : undefined,
    mounts,
    imageVolumes: true,
    security: {
      user: f.user as string | undefined,
      capAdd: strings('cap-add'),
      capDrop: strings('cap-drop'),
      privileged: !!f.privileged,
      noNewPrivileges,
      seccomp,
      readOnlyRootfs: !!f['read-only'],
      ...(seccompProfile ? { seccompProfile } : {}),
      ...(hostFlags.groupAdd.length ? { groupAdd: hostFlags.groupAdd } : {}),
    },
    resources,
    rlimits: strings('ulimit').map(parseUlimit),
    network: {
      mode: network === 'none' || network === 'host' ? network : 'networks',
      networks: network === undefined || network === 'none' || network === 'host' ? undefined : network.split(',').filter(Boolean),
      ports: strings('publish').flatMap((p) => parsePublish(p)),
      publishExposed: !!f['publish-all'],
      dns: f.dns ? strings('dns') : undefined,
      dnsSearch: f['dns-search'] ? strings('dns-search') : undefined,
      dnsOptions: f['dns-option'] ? strings('dns-option') : undefined,
      addHosts: strings('add-host'),
      ...(hostFlags.ip ? { ip: hostFlags.ip } : {}),
      aliases: f['network-alias'] ? strings('network-alias') : undefined,
    },
    init: !!f.init,
    removeOnExit: !!f.rm,
    restartPolicy: restart,
    labels: parseLabels([...readLabelFiles(strings('label-file')), ...strings('label')]),
    annotations: parseAnnotations(strings('annotation')),
    stopSignal,
    stopTimeout: f['stop-timeout'] as number | undefined,
    logSizeMax,
    ...(logDriver === 'none' ? { logDriver } : {}),
    ...hostFlags.spec,
    healthcheck: healthFromFlags(f),
  };
  return spec;
}

/** This terminal's size, if stdout is one. */
function terminalSize(): { rows: number; cols: number } | undefined {
  const out = stdout();
  return out.isTTY && out.rows && out.columns ? { rows: out.rows, cols: out.columns } : undefined;
}

/** This terminal's size changes as 'resize' events for a TTY exec (its first size is in the request). */
function terminalResizes(): { emitter: EventEmitter; stop(): void } {
  const emitter = new EventEmitter();
  const send = () => {
    const size = terminalSize();
    if (size) emitter.emit('resize', size);
  };
  const out = stdout();
  out.on('resize', send);
  return { emitter, stop: () => out.off('resize', send) };
}

/** NAME of --network container:NAME, if given. */
function joinedContainerOf(f: FlagValues): string | undefined {
  const network = (f.network ?? f.net) as string | undefined;
  if (!network?.startsWith('container:')) return undefined;
  const name = network.slice('container:'.length);
  if (!name) throw invalidArgument('invalid --network "container:": name the container whose network to share');
  return name;
}

/** The spec joined to other containers' network (--network container:NAME) and namespaces (--pid/--ipc/--uts container:NAME). */
async function withJoined(mgr: ContainerManager, f: FlagValues, cfg: ContainerSpec): Promise<ContainerSpec> {
  if (cfg.namespaceContainers) {
    const ids: NonNullable<ContainerSpec['namespaceContainers']> = {};
    for (const [kind, name] of Object.entries(cfg.namespaceContainers) as [keyof typeof ids, string][]) {
      const c = await mgr.get(name).catch((e: unknown) => {
        throw isBerthError(e, 'NotFound') ? invalidArgument(`looking up container to share the ${kind} namespace with: no such container ${name}`) : e;
      });
      ids[kind] = c.id;
    }
    cfg = { ...cfg, namespaceContainers: ids };
  }
  const name = joinedContainerOf(f);
  if (name === undefined) return cfg;
  const shared = await mgr.networkOf(name);
  return { ...cfg, ...shared, network: shared.network ?? { mode: 'none' }, mounts: [...(cfg.mounts ?? []), ...(shared.mounts ?? [])] };
}

/** Creates the container of a run/create and writes its --cidfile (the container goes again when that fails). */
async function createFromFlags(mgr: ContainerManager, f: FlagValues, cfg: ContainerSpec, foreground?: boolean): Promise<Container> {
  // --replace: a container of that name goes first (stopped if it runs), as podman's does.
  if (f.replace && cfg.name) {
    await mgr.remove(cfg.name, { force: true }).catch((e) => {
      if (!isBerthError(e, 'NotFound')) throw e;
    });
  }
  const c = await mgr.create(await withJoined(mgr, f, cfg), foreground === undefined ? undefined : { foreground });
  if (cfg.cidFile) {
    try {
      writeCidFile(cfg.cidFile, c.id);
    } catch (e) {
      await mgr.remove(c.id, { force: true }).catch(() => {});
      throw e;
    }
  }
  return c;
}

/** The --detach-keys given (validated: a bad one is refused before any work). */
function detachKeysOf(f: FlagValues): string | undefined {
  const keys = f['detach-keys'] as string | undefined;
  if (keys !== undefined) parseDetachKeys(keys);
  return keys;
}

/** Raw mode on this terminal for a TTY session that reads stdin; returns the undo. */
function rawTerminal(tty: boolean, stdin: boolean): () => void {
  if (!(tty && stdin && process.stdin.isTTY)) return () => {};
  process.stdin.setRawMode(true);
  return () => process.stdin.setRawMode(false);
}

/**
 * Connects this terminal to a container: raw mode and window size for a TTY, signal
 * forwarding otherwise. Resolves once the container's output has ended (or on detach).
 */
async function attachTerminal(
  mgr: ContainerManager,
  id: string,
  o: { tty: boolean; stdin: boolean; detachKeys?: string; sigProxy: boolean; streams?: Set<'stdin' | 'stdout' | 'stderr'> },
  beforeStart?: () => Promise<void>,
): Promise<'exited' | 'detached'> {
  const out = stdout();
  const onResize = () => {
    if (out.rows && out.columns) mgr.resize(id, { rows: out.rows, cols: out.columns }).catch(() => {});
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const forward = (sig: NodeJS.Signals) => void mgr.kill(id, sig.slice(3)).catch(() => {});
  if (!o.tty && o.sigProxy) for (const s of signals) process.on(s, forward);
  const restoreTerminal = rawTerminal(o.tty, o.stdin);
  try {
    // -a: the streams not named are not shown (their output is dropped, stdin stays closed).
    const shown = (name: 'stdin' | 'stdout' | 'stderr') => !o.streams || o.streams.has(name);
    const dropped = () => new Writable({ write: (_chunk, _enc, done) => done() });
    const session = await mgr.attach(id, {
      stdin: o.stdin && shown('stdin') ? process.stdin : undefined,
      stdout: shown('stdout') ? out : dropped(),
      stderr: shown('stderr') ? process.stderr : dropped(),
      detachKeys: o.detachKeys,
    });
    // The PTY exists once the container is created: size it before the process starts.
    if (o.tty && out.isTTY) {
      onResize();
      out.on('resize', onResize);
    }
    // Connected before the start, so no output is missed and a quick exit is seen.
    if (beforeStart) await beforeStart();
    return await session.done;
  } finally {
    restoreTerminal();
    out.off('resize', onResize);
    for (const s of signals) process.off(s, forward);
  }
}

const createCommand: Command = {
  name: 'create',
  usage: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create a new container',
  flags: createFlags,
  minArgs: 1,
  stopAfter: 1,
  async run(ctx, f, args) {
    const cfg = await configFromFlags(f, args);
    cfg.image = await ensureImage(ctx, cfg.image, f);
    const mgr = await ctx.containers();
    const c = await createFromFlags(mgr, f, cfg);
    writeOut(c.id + '\n');
  },
};

const runCommand: Command = {
  name: 'run',
  usage: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Run a command in a new container',
  flags: [...createFlags, ...runOnlyFlags],
  minArgs: 1,
  stopAfter: 1,
  async run(ctx, f, args) {
    // Checked before anything is created or started.
    detachKeysOf(f);
    const streams = attachedStreams(f);
    const cfg = await configFromFlags(f, args);
    // A foreground `run -i` without a TTY passes its input's end on (`echo x | berth run -i … cat` ends).
    if (!f.detach && cfg.stdin && !cfg.tty) cfg.stdinOnce = true;
    cfg.image = await ensureImage(ctx, cfg.image, f);
    const mgr = await ctx.containers();
    const c = await createFromFlags(mgr, f, cfg, !f.detach);
    if (f.detach) {
      await mgr.start(c.id);
      writeOut(c.id + '\n');
      return 0;
    }
    const how = await attachTerminal(
      mgr,
      c.id,
      { tty: !!cfg.tty, stdin: !!cfg.stdin, detachKeys: detachKeysOf(f), sigProxy: f['sig-proxy'] !== false, streams },
      async () => void (await mgr.start(c.id)),
    );
    if (how === 'detached') return 0;
    return mgr.wait(c.id);
  },
};

const startCommand: Command = {
  name: 'start',
  usage: 'start [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Start one or more stopped containers',
  flags: [
    { name: 'attach', short: 'a', type: 'bool', desc: "Attach STDOUT/STDERR and forward signals" },
    { name: 'interactive', short: 'i', type: 'bool', desc: "Attach container's STDIN" },
    { name: 'detach-keys', type: 'string', value: 'KEYS', desc: 'Key sequence for detaching a container' },
    { name: 'all', type: 'bool', desc: 'Start all containers that are not running (with --filter: those matching)' },
    { name: 'filter', type: 'strings', value: 'KEY=VALUE', desc: "With --all: ps's filters (restart-policy=POLICY, name=NAME, label=KEY[=VALUE], ...)" },
  ],
  async run(ctx, f, args) {
    // Checked before anything is created or started.
    detachKeysOf(f);
    const mgr = await ctx.containers();
    if (f.all) {
      if (args.length > 0) throw invalidArgument('--all and container names cannot be given together');
      const picked = await containerFilter(mgr, (f.filter as string[]) ?? []);
      args = (await mgr.list({ all: true })).filter((c) => c.state !== 'running' && picked(c)).map((c) => c.name);
    } else if (args.length === 0) throw invalidArgument('"berth start" requires at least 1 argument (or --all); usage: berth start [OPTIONS] CONTAINER [CONTAINER...]');
    if (f.attach) {
      if (args.length > 1) throw invalidArgument('you cannot start and attach multiple containers at once');
      const c = await mgr.recreate(args[0]);
      const started = c.state === 'running';
      const how = await attachTerminal(
        mgr,
        c.id,
        { tty: !!c.config.tty, stdin: !!f.interactive && !!c.config.stdin, detachKeys: detachKeysOf(f), sigProxy: true },
        started ? undefined : async () => void (await mgr.start(c.id)),
      );
      return how === 'detached' ? 0 : mgr.wait(c.id);
    }
    let failed = 0;
    for (const ref of args) {
      try {
        await mgr.start(ref);
        writeOut(ref + '\n');
      } catch (e) {
        failed++;
        printError(e, false);
      }
    }
    return failed ? 125 : 0;
  },
};

const attachCommand: Command = {
  name: 'attach',
  usage: 'attach [OPTIONS] CONTAINER',
  summary: "Attach local standard input, output, and error streams to a running container",
  flags: [
    { name: 'no-stdin', type: 'bool', desc: 'Do not attach STDIN' },
    { name: 'detach-keys', type: 'string', value: 'KEYS', desc: 'Key sequence for detaching a container' },
    { name: 'sig-proxy', type: 'bool', default: true, desc: 'Proxy all received signals to the process' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, f, args) {
    // Checked before anything is created or started.
    detachKeysOf(f);
    const mgr = await ctx.containers();
    const c = await mgr.get(args[0]);
    const how = await attachTerminal(mgr, c.id, {
      tty: !!c.config.tty,
      stdin: !f['no-stdin'] && !!c.config.stdin,
      detachKeys: detachKeysOf(f),
      sigProxy: f['sig-proxy'] !== false,
    });
    return how === 'detached' ? 0 : mgr.wait(c.id);
  },
};

const execCommand: Command = {
  name: 'exec',
  usage: 'exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  summary: 'Run a command in a running container',
  flags: [
    { name: 'detach', short: 'd', type: 'bool', desc: 'Detached mode: run command in the background' },
    ...createFlags.filter((d) => ['interactive', 'tty', 'env', 'env-file', 'user', 'workdir', 'privileged'].includes(d.name)),
    { name: 'detach-keys', type: 'string', value: 'KEYS', desc: 'Key sequence for detaching' },
  ],
  minArgs: 2,
  stopAfter: 2,
  async run(ctx, f, args) {
    // Checked before anything is created or started.
    detachKeysOf(f);
    const mgr = await ctx.containers();
    const c = await mgr.get(args[0]);
    const req = {
      command: args.slice(1),
      env: parseEnv((f.env as string[]) ?? [], (f['env-file'] as string[]) ?? []),
      user: f.user as string | undefined,
      workdir: f.workdir as string | undefined,
      tty: !!f.tty,
      stdin: !!f.interactive,
      detach: !!f.detach,
      privileged: !!f.privileged,
      consoleSize: f.tty ? terminalSize() : undefined,
    };
    if (req.detach) {
      await mgr.exec(c.id, req);
      return 0;
    }
    const restoreTerminal = rawTerminal(req.tty, req.stdin);
    const sizes = req.tty ? terminalResizes() : undefined;
    try {
      const r = await mgr.exec(c.id, req, {
        stdin: req.stdin ? process.stdin : undefined,
        stdout: stdout(),
        stderr: process.stderr,
        detachKeys: detachKeysOf(f),
        resize: sizes?.emitter,
      });
      return r.exitCode ?? 0;
    } finally {
      sizes?.stop();
      restoreTerminal();
    }
  },
};

export const stdioCommands: Command[] = [runCommand, createCommand, startCommand, attachCommand, execCommand];
