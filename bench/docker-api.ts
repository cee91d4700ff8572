// The Docker Engine API, berth's `system service` against `podman system service`, with the
// docker CLI as the client of both (DOCKER_HOST), measured in the same run, alternating:
//   docker run --rm IMAGE true         (N runs each, --network none)
//   docker ps -a                       (with M stopped containers in each)
//   docker exec CTR true               (N runs each, in a running container)
// and each service's RSS: idle (after its first request) and with K running containers.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BERTH, newInstance, type Instance } from '../test/helpers/index.js';
import { IMAGE, buildArchive, fmt, median, removeWorkDir, sh, timed, watchHostDirs } from './common.js';
import { PODMAN_HOST_DIRS, Podman } from './podman.js';

interface Options {
  runs: number;
  stopped: number;
  running: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '20' },
      stopped: { type: 'string', default: '100' },
      running: { type: 'string', default: '50' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('Usage: bench/docker-api [--runs N (20)] [--stopped N (100)] [--running N (50): containers for the RSS row]');
    process.exit(0);
  }
  const [runs, stopped, running] = [values.runs, values.stopped, values.running].map(Number);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(stopped) || stopped < 0 || !Number.isInteger(running) || running < 0) {
    console.error('docker-api: --runs must be >= 1, --stopped and --running >= 0');
    process.exit(2);
  }
  return { runs, stopped, running };
}

interface Service {
  name: string;
  child: ChildProcess;
  env: NodeJS.ProcessEnv;
}

async function startService(name: string, file: string, args: string[], env: NodeJS.ProcessEnv, socket: string, clientDir: string): Promise<Service> {
  const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  for (let i = 0; !existsSync(socket); i++) {
    if (i > 400 || child.exitCode !== null) throw new Error(`${name} service did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  mkdirSync(clientDir, { recursive: true });
  return { name, child, env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: clientDir } };
}

async function stopService(s: Service | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null) return;
  s.child.kill('SIGTERM');
  await new Promise((r) => s.child.once('exit', r));
}

/** The service process's resident set (podman's service is one process; berth's too). */
function rssMb(s: Service): number {
  const status = readFileSync(`/proc/${s.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function main(): Promise<void> {
  const opts = parseOptions();
  if (!existsSync(BERTH)) throw new Error(`${BERTH} missing: run make build`);
  const removeNewHostDirs = watchHostDirs(PODMAN_HOST_DIRS);
  const dir = mkdtempSync('/tmp/berth-test-bench-');
  let inst: Instance | undefined;
  const podman = new Podman(join(dir, 'podman'));
  const services: Service[] = [];
  try {
    console.log(`docker-api: ${opts.runs} runs each, ps -a with ${opts.stopped} stopped containers, RSS with ${opts.running} running`);
    const archive = buildArchive(dir);
    inst = await newInstance();
    sh(BERTH, ['load', '-q', '-i', archive], { env: inst.env });
    podman.run(['load', '-q', '-i', archive]);
    const berthSocket = join(inst.base, 'docker.sock');
    const podmanSocket = join(dir, 'podman.sock');
    services.push(await startService('berth', BERTH, ['system', 'service', '--time', '0', `unix://${berthSocket}`], inst.env, berthSocket, join(dir, 'client-berth')));
    services.push(await startService('podman', 'podman', podman.args(['system', 'service', '--time', '0', `unix://${podmanSocket}`]), podman.env, podmanSocket, join(dir, 'client-podman')));
    const docker = (s: Service, args: string[]) => sh('docker', args, { env: s.env });
    const time = (s: Service, args: string[]) => timed('docker', args, { env: s.env });

    const idle = new Map<string, number>();
    for (const s of services) {
      docker(s, ['version']);
      idle.set(s.name, rssMb(s));
      docker(s, ['run', '--rm', '--network', 'none', IMAGE, 'true']); // warm-up
    }
    const rows: { label: string; times: Map<string, number[]> }[] = [];
    const measure = (label: string, args: string[]) => {
      const times = new Map(services.map((s) => [s.name, [] as number[]]));
      for (let i = 0; i < opts.runs; i++) for (const s of services) times.get(s.name)!.push(time(s, args));
      rows.push({ label, times });
    };
    measure('run --rm IMAGE true', ['run', '--rm', '--network', 'none', IMAGE, 'true']);
    for (const s of services) docker(s, ['run', '-d', '--name', 'bench-exec', '--network', 'none', IMAGE, 'sleep', '100000']);
    measure('exec CTR true', ['exec', 'bench-exec', 'true']);
    for (const s of services) docker(s, ['rm', '-f', 'bench-exec']);
    for (let i = 0; i < opts.stopped; i++) for (const s of services) docker(s, ['create', '--network', 'none', IMAGE, 'true']);
    for (const s of services) {
      const n = docker(s, ['ps', '-aq']).split('\n').filter(Boolean).length;
      if (n !== opts.stopped) throw new Error(`${s.name}: docker ps -a lists ${n} containers, expected ${opts.stopped}`);
    }
    measure(`ps -a (${opts.stopped} containers)`, ['ps', '-a']);
    for (const s of services) docker(s, ['container', 'prune', '-f']);
    for (let i = 0; i < opts.running; i++) for (const s of services) docker(s, ['run', '-d', '--network', 'none', IMAGE, 'sleep', '100000']);
    const loaded = new Map(services.map((s) => [s.name, rssMb(s)]));

    console.log(`\nmedian of ${opts.runs}`.padEnd(33) + 'berth'.padStart(10) + 'podman'.padStart(10) + '  berth/podman');
    for (const r of rows) {
      const [b, p] = ['berth', 'podman'].map((n) => median(r.times.get(n)!));
      console.log(r.label.padEnd(32) + fmt(b) + fmt(p) + `  ${(b / p).toFixed(2)}`);
    }
    const mb = (v: number) => `${v.toFixed(1)} MB`.padStart(10);
    console.log('\nservice RSS'.padEnd(33) + 'berth'.padStart(10) + 'podman'.padStart(10));
    console.log('idle'.padEnd(32) + mb(idle.get('berth')!) + mb(idle.get('podman')!) + `  ${(idle.get('berth')! / idle.get('podman')!).toFixed(2)}`);
    console.log(`with ${opts.running} running`.padEnd(32) + mb(loaded.get('berth')!) + mb(loaded.get('podman')!) + `  ${(loaded.get('berth')! / loaded.get('podman')!).toFixed(2)}`);
  } finally {
    for (const s of services) await stopService(s);
    await inst?.cleanup();
    podman.cleanup();
    await removeWorkDir(dir);
    removeNewHostDirs();
  }
}

main().catch((e: Error) => {
  console.error(`docker-api: ${e.message}`);
  process.exitCode = 1;
});
