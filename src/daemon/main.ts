// berthd: the CRI daemon. Reads berth.toml's [daemon] and [cri] (flags override), serves
// RuntimeService and ImageService on a unix socket (mode 0660, root's), and the Docker
// Engine API on another when docker_socket is set; logs JSON lines to stderr, keeps
// serving whatever one request throws, reloads on SIGHUP and shuts down on SIGTERM
// without touching a container (conmon keeps them; a restart finds them).
import { chmodSync, chownSync, rmSync, statSync } from 'node:fs';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { createCriServer, type DaemonState } from '../cri/index.js';
import { networkConfDir } from '../config/index.js';
import { createEngine, version, type Engine, type EngineOptions } from '../engine/index.js';
import { findInstalled, type Config } from '../config/index.js';
import { exitStatusOf, invalidArgument } from '../errors/index.js';
import { log, setLogLevel } from '../log/index.js';
import { StreamServer } from '../stream/index.js';
import { claimSocketPath } from './socket.js';
import { streamRuntime } from './streams.js';

/** The store namespace of what the CRI makes: containerd's name for the kubelet's. */
const CRI_NAMESPACE = 'k8s.io';

/** The Docker API's: the CLI's default, so docker users' containers are the ones `berth ps` shows. */
const DOCKER_NAMESPACE = 'default';

/** How long SIGTERM waits for calls in flight before ending them. */
const SHUTDOWN_GRACE_MS = 10_000;

const options = {
  root: { type: 'string' },
  runroot: { type: 'string' },
  'config-dir': { type: 'string' },
  runtime: { type: 'string' },
  socket: { type: 'string' },
  'docker-socket': { type: 'string' },
  'stream-address': { type: 'string' },
  'cgroup-driver': { type: 'string' },
  'cni-conf-dir': { type: 'string' },
  'cni-plugin-dir': { type: 'string', multiple: true },
  'sandbox-image': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

const usageText = `Usage: berthd [OPTIONS]   (also: berth daemon [OPTIONS])

The Kubernetes CRI (runtime.v1) daemon of berth, on a unix socket; with --docker-socket
(or [daemon] docker_socket), the Docker Engine API on another, for the CLI's containers.

Options (each overrides berth.toml's [daemon] or [cri] setting):
  --root DIR               Persistent state (default /var/lib/berth, env BERTH_ROOT)
  --runroot DIR            Runtime state (default /run/berth, env BERTH_RUNROOT)
  --config-dir DIR         Directory of berth.toml (default /etc/berth, env BERTH_CONFIG_DIR)
  --runtime PATH           OCI runtime binary (default runc)
  --socket PATH            CRI socket (default <runroot>/berth.sock)
  --docker-socket PATH     Docker Engine API socket, absolute (default: none, not served;
                           "" turns berth.toml's off)
  --stream-address ADDR    host:port of the streaming server (default 127.0.0.1:0)
  --cgroup-driver DRIVER   cgroupfs (default) or systemd
  --cni-conf-dir DIR       CNI network configs (default [network] cni_conf_dir)
  --cni-plugin-dir DIR     CNI plugin dir; repeat for several
  --sandbox-image IMAGE    Infra image for pods (default: none)
  --log-level LEVEL        debug, info (default), warn, error
  -h, --help               Show this help
  -v, --version            Show the version`;

/** Runs berthd until SIGTERM/SIGINT; resolves with the exit status. */
/** prog: how the user started it ('berthd', or 'berth daemon' through the CLI). */
export async function runDaemon(argv: string[], prog = 'berthd'): Promise<number> {
  const usage = prog === 'berthd' ? usageText : usageText.replace(/^Usage: berthd \[OPTIONS\]   \(also: berth daemon \[OPTIONS\]\)/, `Usage: ${prog} [OPTIONS]   (also: berthd [OPTIONS])`);
  let flags;
  try {
    flags = parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values;
  } catch (e) {
    process.stderr.write(`berthd: ${(e as Error).message}\n${usage}\n`);
    return 125;
  }
  if (flags.help) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  if (flags.version) {
    process.stdout.write(`berthd version ${version}\n`);
    return 0;
  }
  try {
    return await serve(flags);
  } catch (e) {
    log.error('berthd failed to start', { error: (e as Error).message });
    process.stderr.write(`berthd: ${(e as Error).message}\n`);
    return exitStatusOf(e);
  }
}

async function serve(flags: Record<string, string | string[] | boolean | undefined>): Promise<number> {
  const str = (name: string) => flags[name] as string | undefined;
  const cgroupDriver = str('cgroup-driver');
  if (cgroupDriver !== undefined && cgroupDriver !== 'cgroupfs' && cgroupDriver !== 'systemd') throw invalidArgument(`--cgroup-driver must be cgroupfs or systemd, not "${cgroupDriver}"`);
  const dockerSocketFlag = str('docker-socket');
  if (dockerSocketFlag && !isAbsolute(dockerSocketFlag)) throw invalidArgument(`--docker-socket must be an absolute path, not "${dockerSocketFlag}"`);
  // Logs go out from the first line; the configured level applies once the config is read.
  setLogLevel(str('log-level') ?? 'info');
  const overrides: EngineOptions = {
    root: str('root'),
    runRoot: str('runroot'),
    configDir: str('config-dir'),
    runtime: str('runtime'),
    cniConfDir: str('cni-conf-dir'),
    cniPluginDirs: flags['cni-plugin-dir'] as string[] | undefined,
    daemon: {
      socket: str('socket'),
      dockerSocket: dockerSocketFlag,
      streamAddress: str('stream-address'),
      cgroupDriver,
      logLevel: str('log-level'),
      sandboxImage: str('sandbox-image'),
    },
  };
  const engine = createEngine({
    ...overrides,
    // CRI pods and containers live apart from the CLI's (`berth --namespace k8s.io ps` shows them).
    namespace: CRI_NAMESPACE,
    cleanupCommand: selfCommand('container-cleanup', CRI_NAMESPACE),
    serving: true,
  });
  const config = await engine.config();
  // The daemon serves pod networks from its start: a bad CNI conf dir is reported now.
  networkConfDir(config.network);
  setLogLevel(config.daemon.logLevel);
  installProcessPolicy();

  const { socket, dockerSocket } = config.daemon;
  if (dockerSocket && resolvePath(dockerSocket) === resolvePath(socket)) throw invalidArgument(`the Docker API socket and the CRI socket are both ${socket}: choose another --docker-socket`);
  await claimSocketPath(socket);
  if (dockerSocket) await claimSocketPath(dockerSocket, { flag: '--docker-socket', server: 'another server' });
  // Containers of the CLI's namespace: the same engine as `berth system service` runs.
  const dockerEngine = dockerSocket
    ? createEngine({
        ...overrides,
        namespace: DOCKER_NAMESPACE,
        cleanupCommand: selfCommand('container-cleanup', DOCKER_NAMESPACE),
        healthcheckCommand: selfCommand('container-healthcheck', DOCKER_NAMESPACE),
        serving: true,
      })
    : undefined;
  const state: DaemonState = {};
  const streams = await StreamServer.listen(streamRuntime(engine), { address: config.daemon.streamAddress });
  const cri = createCriServer((signal) => ({ engine, config, state, streams, signal }));
  await new Promise<void>((resolve, reject) =>
    cri.server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  // The kubelet runs as root; nobody else may talk to the runtime.
  chownSync(socket, 0, 0);
  chmodSync(socket, 0o660);
  const ino = statSync(socket).ino;
  let docker;
  try {
    docker = dockerEngine && (await serveDockerSocket(dockerEngine, dockerSocket!));
  } catch (e) {
    // A start that fails leaves no CRI socket behind.
    cri.server.forceShutdown();
    await streams.close();
    rmSync(socket, { force: true });
    throw e;
  }
  // Exits are recorded as conmon writes them, not on the next query that looks.
  const exits = (await engine.containers()).watchExits((c) => log.debug('container exited', { id: c.id, exitCode: c.exitCode }));
  log.info('berthd serving', { version, socket, dockerSocket, streaming: streams.baseUrl, namespace: engine.namespace, root: config.paths.root, runRoot: config.paths.runRoot, cgroupDriver: config.daemon.cgroupDriver });

  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading');
    Promise.all([engine.reload(), dockerEngine?.reload()]).then(
      () => log.info('reloaded'),
      (e: unknown) => log.error('reload failed', { error: (e as Error).message }),
    );
  });

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info('shutting down', { signal, inFlight: cri.inFlight() });
  // Stop accepting; calls in flight finish (or are ended after the grace period).
  const forced = setTimeout(() => {
    log.warn('calls still in flight after the grace period: ending them', { inFlight: cri.inFlight() });
    cri.server.forceShutdown();
  }, SHUTDOWN_GRACE_MS);
  cri.endStreams();
  // Its own grace period for answers under way; its streams end now, as the CRI's.
  const dockerClosed = docker?.close();
  await streams.close();
  await new Promise<void>((resolve) => cri.server.tryShutdown(() => resolve()));
  await cri.drain();
  await dockerClosed;
  clearTimeout(forced);
  exits.close();
  await Promise.all([engine.close(), dockerEngine?.close()]);
  // Remove the socket only if it is still the one this process made.
  try {
    if (statSync(socket).ino === ino) rmSync(socket, { force: true });
  } catch {
    // already gone
  }
  log.info('stopped');
  return 0;
}

/**
 * The Docker API on its socket (mode 0660, root's, as the CRI's), with no idle timeout;
 * close() stops accepting and resolves once the answers under way have finished.
 */
async function serveDockerSocket(engine: Engine, socketPath: string): Promise<{ close(): Promise<void> }> {
  const { serveDockerApi } = await import('../dockerapi/index.js');
  const stop = new AbortController();
  const service = await serveDockerApi(engine, { socketPath, idleSeconds: 0, graceMs: SHUTDOWN_GRACE_MS, signal: stop.signal });
  chownSync(socketPath, 0, 0);
  return {
    close() {
      stop.abort();
      return service.closed;
    },
  };
}

/**
 * How conmon (an exit: recorded the moment it happens, whether or not a request is
 * looking) and a health check timer call back: the CLI bundle beside this one, with the
 * same dirs and the engine's namespace.
 */
function selfCommand(command: string, namespace: string) {
  return ({ paths, runtime }: Config): string[] => [
    process.execPath, findInstalled('build/berth.cjs'),
    '--root', paths.root, '--runroot', paths.runRoot, '--config-dir', paths.configDir, '--runtime', runtime.path,
    '--namespace', namespace, command,
  ];
}

/** One failed request never takes the daemon down: log what escaped and keep serving. */
function installProcessPolicy(): void {
  process.on('unhandledRejection', (reason) => {
    log.error('unhandled rejection', { error: reason instanceof Error ? reason.message : String(reason), stack: (reason as Error)?.stack });
  });
  process.on('uncaughtException', (e) => {
    log.error('uncaught exception', { error: e.message, stack: e.stack });
  });
}
