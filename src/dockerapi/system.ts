// /_ping, /version, /info: what clients ask first (the docker CLI negotiates its API
// version from /_ping's API-Version header).
import { readFile, statfs } from 'node:fs/promises';
import { arch, cpus, hostname, release, totalmem } from 'node:os';
import { cgroupV2 } from '../container/index.js';
import { version, type Engine } from '../engine/index.js';
import { API_VERSION, MIN_API_VERSION, type Router } from './server.js';

/** Go's names for Node's architectures. */
const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

/** The host's name for itself, as docker's OperatingSystem: os-release's PRETTY_NAME. */
async function readOperatingSystem(): Promise<string> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const m = /^PRETTY_NAME=(?:"([^"]*)"|(.*))$/m.exec(text);
  return m?.[1] ?? m?.[2] ?? 'linux';
}

/** docker's names for the file system under the root (statfs magic numbers). */
const FS_NAMES: Record<number, string> = { 0xef53: 'extfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x01021994: 'tmpfs', 0x794c7630: 'overlayfs', 0x2fc12fc1: 'zfs' };

async function backingFilesystem(dir: string): Promise<string> {
  const st = await statfs(dir).catch(() => undefined);
  return st ? (FS_NAMES[st.type] ?? `0x${st.type.toString(16)}`) : 'unknown';
}

/** "runc version 1.1.5+ds1" → "1.1.5+ds1"; empty when the runtime does not answer. */
async function readRuntimeVersion(engine: Engine): Promise<string> {
  try {
    const line = await (await engine.runtime()).version();
    return /version\s+(\S+)/.exec(line)?.[1] ?? line;
  } catch {
    return '';
  }
}

/** What does not change while the service runs, read on the first /info (not a runc run per call). */
let hostFacts: Promise<{ operatingSystem: string; runtimeVersion: string }> | undefined;
const facts = (engine: Engine) =>
  (hostFacts ??= Promise.all([readOperatingSystem(), readRuntimeVersion(engine)]).then(([operatingSystem, runtimeVersion]) => ({ operatingSystem, runtimeVersion })));

export function systemRoutes(router: Router): void {
  router
    .add('GET', '/_ping', async (req, reply) => {
      if (req.method === 'HEAD') return reply.empty(200);
      const out = reply.stream(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache' });
      out.end('OK');
    })
    .add('GET', '/version', async (_req, reply) => {
      reply.json(200, {
        Platform: { Name: 'berth' },
        Components: [{ Name: 'Engine', Version: version, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: GO_ARCH[arch()] ?? arch(), KernelVersion: release(), Experimental: 'false' } }],
        Version: version,
        ApiVersion: API_VERSION,
        MinAPIVersion: MIN_API_VERSION,
        GitCommit: '',
        GoVersion: '',
        Os: 'linux',
        Arch: GO_ARCH[arch()] ?? arch(),
        KernelVersion: release(),
        BuildTime: '',
      });
    })
    .add('GET', '/info', async (req, reply) => {
      const counts = (await req.engine.containers()).counts();
      const images = (await req.engine.images()).count();
      const cfg = await req.engine.config();
      const host = await facts(req.engine);
      reply.json(200, {
        ID: '',
        Containers: counts.total,
        ContainersRunning: counts.running,
        ContainersPaused: counts.paused,
        ContainersStopped: counts.stopped,
        Images: images,
        Driver: 'overlay',
        DriverStatus: [['Backing Filesystem', await backingFilesystem(cfg.paths.root)]],
        DockerRootDir: cfg.paths.root,
        Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'none'], Authorization: null, Log: ['k8s-file'] },
        MemoryLimit: true,
        SwapLimit: true,
        CpuCfsPeriod: true,
        CpuCfsQuota: true,
        CPUShares: true,
        CPUSet: true,
        PidsLimit: true,
        OomKillDisable: false,
        IPv4Forwarding: true,
        LoggingDriver: 'k8s-file',
        CgroupDriver: 'cgroupfs',
        CgroupVersion: cgroupV2() ? '2' : '1',
        Name: hostname(),
        NCPU: cpus().length,
        MemTotal: totalmem(),
        OperatingSystem: host.operatingSystem,
        OSType: 'linux',
        OSVersion: '',
        Architecture: GO_ARCH[arch()] ?? arch(),
        KernelVersion: release(),
        ServerVersion: version,
        IndexServerAddress: 'https://index.docker.io/v1/',
        RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: [], Mirrors: [] },
        Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
        DefaultRuntime: 'runc',
        Runtimes: { runc: { path: cfg.runtime.path } },
        RuncCommit: { ID: host.runtimeVersion, Expected: host.runtimeVersion },
        ContainerdCommit: { ID: '', Expected: '' },
        InitCommit: { ID: '', Expected: '' },
        LiveRestoreEnabled: true, // containers outlive the service: conmon keeps them
        SecurityOptions: ['name=seccomp,profile=default'],
        Warnings: [],
      });
    });
}
