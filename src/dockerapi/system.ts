// /_ping, /version, /info: what clients ask first (the docker CLI negotiates its API
// version from /_ping's API-Version header).
import { arch, cpus, hostname, release, totalmem } from 'node:os';
import { version } from '../engine/index.js';
import { API_VERSION, MIN_API_VERSION, type Router } from './server.js';

/** Go's names for Node's architectures. */
const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

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
      reply.json(200, {
        ID: '',
        Containers: counts.total,
        ContainersRunning: counts.running,
        ContainersPaused: 0,
        ContainersStopped: counts.stopped,
        Images: images,
        Driver: 'overlay',
        DockerRootDir: cfg.paths.root,
        Name: hostname(),
        NCPU: cpus().length,
        MemTotal: totalmem(),
        OperatingSystem: 'linux',
        OSType: 'linux',
        Architecture: GO_ARCH[arch()] ?? arch(),
        KernelVersion: release(),
        ServerVersion: version,
        CgroupDriver: 'cgroupfs',
        DefaultRuntime: 'runc',
        Runtimes: { runc: { path: cfg.runtime.path } },
        SecurityOptions: ['name=seccomp,profile=default'],
        Warnings: [],
      });
    });
}
