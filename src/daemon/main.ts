// berthd: the CRI daemon. Reads berth.toml's [daemon] and [cri] (flags override), serves
// RuntimeService and ImageService on a unix socket (mode 0660, root's), logs JSON lines
// to stderr, keeps serving whatever one request throws, reloads on SIGHUP and shuts down
// on SIGTERM without touching a container (conmon keeps them; a restart finds them).
import { chmodSync, chownSync, rmSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { createCriServer, type DaemonState } from '../cri/index.js';
import { networkConfDir } from '../config/index.js';
import { createEngine, version } from '../engine/index.js';
import { findInstalled, type Config } from '../config/index.js';
import { exitStatusOf, invalidArgument } from '../errors/index.js';
import { log, setLogLevel } from '../log/index.js';
import { StreamServer } from '../stream/index.js';
import { claimSocketPath } from './socket.js';
import { streamRuntime } from './streams.js';

/** The store namespace of what the CRI makes: containerd's name for the kubelet's. */
const CRI_NAMESPACE = 'k8s.io';

/** How long SIGTERM waits for calls in flight before ending them. */
const SHUTDOWN_GRACE_MS = 10_000;

const options = {
  root: { type: 'string' },
  runroot: { type: 'string' },
  'config-dir': { type: 'string' },
  runtime: { type: 'string' },
  socket: { type: 'string' },
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

The Kubernetes CRI (runtime.v1) daemon of berth, on a unix socket.

Options (each overrides berth.toml's [daemon] or [cri] setting):
  --root DIR               Persistent state (default /var/lib/berth, env BERTH_ROOT)
  --runroot DIR            Runtime state (default /run/berth, env BERTH_RUNROOT)
  --config-dir DIR         Directory of berth.toml (default /etc/berth, env BERTH_CONFIG_DIR)
  --runtime PATH           OCI runtime binary (default runc)
  --socket PATH            CRI socket (default <runroot>/berth.sock)
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
  // Logs go out from the first line; the configured level applies once the config is read.
  setLogLevel(str('log-level') ?? 'info');
  const engine = createEngine({
    // CRI pods and containers live apart from the CLI's (`berth --namespace k8s.io ps` shows them).
    namespace: CRI_NAMESPACE,
    root: str('root'),
    runRoot: str('runroot'),
    configDir: str('config-dir'),
    runtime: str('runtime'),
    cniConfDir: str('cni-conf-dir'),
    cniPluginDirs: flags['cni-plugin-dir'] as string[] | undefined,
    daemon: {
      socket: str('socket'),
      streamAddress: str('stream-address'),
      cgroupDriver,
      logLevel: str('log-level'),
      sandboxImage: str('sandbox-image'),
    },
    cleanupCommand,
  });
  const config = await engine.config();
  // The daemon serves pod networks from its start: a bad CNI conf dir is reported now.
  networkConfDir(config.network);
  setLogLevel(config.daemon.logLevel);
  installProcessPolicy();

  const socket = config.daemon.socket;
  await claimSocketPath(socket);
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
  // Exits are recorded as conmon writes them, not on the next query that looks.
  const exits = (await engine.containers()).watchExits((c) => log.debug('container exited', { id: c.id, exitCode: c.exitCode }));
  log.info('berthd serving', { version, socket, streaming: streams.baseUrl, namespace: engine.namespace, root: config.paths.root, runRoot: config.paths.runRoot, cgroupDriver: config.daemon.cgroupDriver });

  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading');
    engine.reload().then(
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
  await streams.close();
  await new Promise<void>((resolve) => cri.server.tryShutdown(() => resolve()));
  await cri.drain();
  clearTimeout(forced);
  exits.close();
  engine.close();
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
 * conmon's exit hook: the CLI bundle beside this one, with the same dirs, records an exit
 * the moment it happens, whether or not a request is looking.
 */
function cleanupCommand({ paths, runtime }: Config): string[] {
  return [
    process.execPath, findInstalled('build/berth.cjs'),
    '--root', paths.root, '--runroot', paths.runRoot, '--config-dir', paths.configDir, '--runtime', runtime.path,
    '--namespace', CRI_NAMESPACE, 'container-cleanup',
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
