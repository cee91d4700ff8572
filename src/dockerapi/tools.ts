// /containers/… beside the lifecycle: top, stats, update, pause/unpause, changes, export,
// prune, and /commit. Files in and out (archive) are in archive.ts.
import { cpus, totalmem } from 'node:os';
import type { Writable } from 'node:stream';
import { containerProcesses } from '../cli/container-tools.js';
import { cgroupDetail, cgroupPathOf, diskUsage, networkInterfaces, systemCpuNanos, type Container, type ContainerManager } from '../container/index.js';
import { failedPrecondition, invalidArgument, isBerthError } from '../errors/index.js';
import { lookup } from './containers.js';
import { resourceFlagsOf, restartFlag, type HostConfig } from './create.js';
import { parseRestart, resourcesFromFlags } from '../cli/options.js';
import { boolParam, filterParam, labelsMatch, pruneUntil, type Reply, type Request, type Router } from './server.js';

/** docker's args of ps: one string, split on spaces. */
async function top(req: Request, reply: Reply): Promise<void> {
  const { mgr, c } = await lookup(req.engine, req.params[0]);
  if (c.state !== 'running') throw failedPrecondition(`Container ${c.id} is not running`);
  const psArgs = (req.query.get('ps_args') ?? '').split(/\s+/).filter(Boolean);
  const { header, rows } = await containerProcesses(mgr, c.id, psArgs);
  const Titles = header.trim().split(/\s+/);
  // The last column (the command) keeps its spaces.
  const Processes = rows.map((r) => {
    const f = r.trim().split(/\s+/);
    return [...f.slice(0, Titles.length - 1), f.slice(Titles.length - 1).join(' ')];
  });
  reply.json(200, { Titles, Processes });
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

interface DockerStats {
  read: string;
  cpu_stats: Record<string, unknown>;
  [k: string]: unknown;
}

const emptyCpu = () => ({ cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } });

/** A stopped container's stats: docker's zero values. */
function emptyStats(c: Container): DockerStats {
  return {
    name: `/${c.name}`,
    id: c.id,
    read: ZERO_TIME,
    preread: ZERO_TIME,
    pids_stats: {},
    blkio_stats: { io_service_bytes_recursive: null, io_serviced_recursive: null },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: emptyCpu(),
    precpu_stats: emptyCpu(),
    memory_stats: {},
  };
}

/** One sample in docker's shape (precpu_stats/preread filled in by the caller). */
async function sample(mgr: ContainerManager, c: Container): Promise<DockerStats> {
  const cgroup = cgroupPathOf(c.config, c.id);
  const [s, d, system, ifs] = await Promise.all([mgr.stats(c), cgroupDetail(cgroup), systemCpuNanos(), c.pid ? networkInterfaces(c.pid) : []]);
  const hostMem = totalmem();
  const cpuUsage: Record<string, unknown> = { total_usage: s.cpuNanos, usage_in_kernelmode: d.cpuSystemNanos, usage_in_usermode: d.cpuUserNanos };
  if (d.perCpuNanos) cpuUsage.percpu_usage = d.perCpuNanos;
  const out: DockerStats = {
    name: `/${c.name}`,
    id: c.id,
    read: new Date(s.timestamp).toISOString(),
    preread: ZERO_TIME,
    pids_stats: { current: s.pids.current, ...(s.pids.limit !== undefined ? { limit: s.pids.limit } : {}) },
    blkio_stats: {
      // Totals over the devices (the clients add the devices up).
      io_service_bytes_recursive: [
        { major: 0, minor: 0, op: 'read', value: s.blockIo.readBytes },
        { major: 0, minor: 0, op: 'write', value: s.blockIo.writeBytes },
      ],
      io_serviced_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: {
      cpu_usage: cpuUsage,
      system_cpu_usage: system,
      online_cpus: cpus().length,
      throttling_data: { periods: d.throttling.periods, throttled_periods: d.throttling.throttledPeriods, throttled_time: d.throttling.throttledNanos },
    },
    precpu_stats: emptyCpu(),
    memory_stats: {
      usage: s.memory.usageBytes,
      stats: d.memoryStat,
      // No limit: the host's memory, as docker reports it.
      limit: s.memory.limitBytes !== undefined && s.memory.limitBytes < hostMem ? s.memory.limitBytes : hostMem,
    },
  };
  if (ifs.length)
    out.networks = Object.fromEntries(
      ifs.map((i) => [i.name, { rx_bytes: i.rxBytes, rx_packets: 0, rx_errors: i.rxErrors, rx_dropped: 0, tx_bytes: i.txBytes, tx_packets: 0, tx_errors: i.txErrors, tx_dropped: 0 }]),
    );
  return out;
}

function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => resolve(true), ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve(false)), { once: true });
  });
}

/** A sample, or undefined once the container no longer runs. */
async function sampleIfRunning(mgr: ContainerManager, id: string): Promise<DockerStats | undefined> {
  try {
    const c = await mgr.get(id);
    if (c.state !== 'running') return undefined;
    return await sample(mgr, c);
  } catch (e) {
    if (isBerthError(e, 'FailedPrecondition') || isBerthError(e, 'NotFound')) return undefined;
    throw e;
  }
}

/**
 * stream=true (the default): a sample a second, each with the one before as precpu_stats.
 * stream=false: one sample, taken a second after a first one (CPU % needs two) unless one-shot.
 */
async function stats(req: Request, reply: Reply): Promise<void> {
  const { mgr, c } = await lookup(req.engine, req.params[0]);
  const stream = boolParam(req.query, 'stream', true);
  const oneShot = boolParam(req.query, 'one-shot');
  if (oneShot && stream) throw invalidArgument('cannot have stream=true and one-shot=true');
  const first = c.state === 'running' ? await sampleIfRunning(mgr, c.id) : undefined;
  const out = reply.stream(200, { 'Content-Type': 'application/json' });
  if (!first) return void out.end(JSON.stringify(emptyStats(c)) + '\n');
  const withPrev = (now: DockerStats, prev: DockerStats | undefined): DockerStats =>
    prev ? { ...now, preread: prev.read, precpu_stats: prev.cpu_stats } : now;
  if (!stream) {
    if (oneShot) return void out.end(JSON.stringify(first) + '\n');
    const second = (await delay(1000, req.signal)) ? await sampleIfRunning(mgr, c.id) : undefined;
    return void out.end(JSON.stringify(second ? withPrev(second, first) : first) + '\n');
  }
  let prev: DockerStats | undefined;
  let now: DockerStats | undefined = first;
  while (now) {
    if (!out.write(JSON.stringify(withPrev(now, prev)) + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
    prev = now;
    now = (await delay(1000, req.signal)) ? await sampleIfRunning(mgr, c.id) : undefined;
  }
  out.end();
}

const KIND = { C: 0, A: 1, D: 2 } as const;

function pruneFilter(c: Container, [k, v]: [string, string]): boolean {
  switch (k) {
    case 'until':
      return c.createdAt < pruneUntil(v);
    case 'label':
      return labelsMatch(c.config.labels ?? {}, v);
    case 'label!':
      return !labelsMatch(c.config.labels ?? {}, v);
    default:
      throw invalidArgument(`invalid filter '${k}'`);
  }
}

async function prune(req: Request, reply: Reply): Promise<void> {
  const mgr = await req.engine.containers();
  const filters = filterParam(req.query);
  const deleted: string[] = [];
  let reclaimed = 0;
  for (const c of await mgr.list({ all: true })) {
    // docker prunes every container not running: created ones too.
    if ((c.state !== 'stopped' && c.state !== 'created') || !filters.every((f) => pruneFilter(c, f))) continue;
    const size = (await diskUsage(`${mgr.paths(c).dir}/upper`)).usedBytes;
    try {
      await mgr.remove(c.id, { force: c.state === 'created' });
    } catch (e) {
      // Gone or started meanwhile: not pruned.
      if (isBerthError(e, 'NotFound') || isBerthError(e, 'FailedPrecondition')) continue;
      throw e;
    }
    deleted.push(c.id);
    reclaimed += size;
  }
  reply.json(200, { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed });
}

/** POST /containers/{id}/update: new limits (those given) and, when named, a new restart policy. */
async function update(req: Request, reply: Reply): Promise<void> {
  const { mgr, c } = await lookup(req.engine, req.params[0]);
  const body = ((await req.json()) ?? {}) as HostConfig;
  if (typeof body !== 'object') throw invalidArgument('the update config must be an object');
  const limits = resourceFlagsOf(body);
  if (Object.keys(limits).length > 0) await mgr.updateResources(c.id, resourcesFromFlags(limits, c.config.resources));
  // An unchanged policy comes as an empty name (the docker CLI always sends one).
  if (body.RestartPolicy?.Name) await mgr.setRestartPolicy(c.id, parseRestart(restartFlag(body)));
  reply.json(200, { Warnings: [] });
}

/** POST /commit: the image named repo:tag (no name: untagged), docker's format. */
async function commit(req: Request, reply: Reply): Promise<void> {
  const q = req.query;
  const { mgr, c } = await lookup(req.engine, q.get('container') ?? '');
  const repo = q.get('repo') ?? '';
  const tag = q.get('tag') ?? '';
  if (!repo && tag) throw invalidArgument('refusing to create a tag with no repo name');
  // Each `changes` value may hold several instructions, one a line (older clients send them so).
  const changes = q.getAll('changes').flatMap((v) => v.split('\n')).map((v) => v.trim()).filter(Boolean);
  await req.json(); // a container config to merge: not used (berth takes --change instructions)
  const img = await mgr.commit(c.id, {
    name: repo ? `${repo}${tag ? `:${tag}` : ''}` : undefined,
    changes,
    message: q.get('comment') || undefined,
    author: q.get('author') || undefined,
    format: 'docker',
    pause: boolParam(q, 'pause', true), // docker's default
  });
  reply.json(201, { Id: `sha256:${img.id}` });
}

export function toolRoutes(router: Router): void {
  router
    .add('GET', '/containers/{id}/top', top)
    .add('GET', '/containers/{id}/stats', stats)
    .add('POST', '/containers/{id}/pause', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      if (c.state !== 'running') throw failedPrecondition(`Container ${c.id} is not running`);
      if (c.paused) throw failedPrecondition(`Container ${c.id} is already paused`);
      await mgr.pause(c.id);
      reply.empty(204);
    })
    .add('POST', '/containers/{id}/unpause', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      if (c.state !== 'running' || !c.paused) throw failedPrecondition(`Container ${c.id} is not paused`);
      await mgr.unpause(c.id);
      reply.empty(204);
    })
    .add('GET', '/containers/{id}/changes', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      reply.json(200, (await mgr.changes(c.id)).map((ch) => ({ Path: ch.path, Kind: KIND[ch.kind] })));
    })
    .add('GET', '/containers/{id}/export', async (req, reply) => {
      const { mgr, c } = await lookup(req.engine, req.params[0]);
      const out = reply.stream(200, { 'Content-Type': 'application/x-tar' });
      await mgr.export(c.id, out as Writable);
      out.end();
    })
    .add('POST', '/containers/{id}/update', update)
    .add('POST', '/containers/prune', prune)
    .add('POST', '/commit', commit);
}
