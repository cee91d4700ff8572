// `berth stats`: live resource usage of running containers, as docker and podman show it.
// CPU % is the share of one CPU over the last interval (with --no-stream: since the
// container started, as podman does); memory is the working set against the limit (or the
// host's memory).
import { totalmem } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { Container, ContainerManager, ContainerStats } from '../container/index.js';
import { formatFlag, type Command } from './command.js';
import { humanSize, printList, shortId, table } from './format.js';
import { isBerthError } from '../errors/index.js';
import { stdout, writeOut } from './stdout.js';

const INTERVAL_MS = 1000;

/** Binary sizes as docker prints memory: 1.5MiB, 23.4GiB, 512B. */
export function binarySize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(2).replace(/\.?0+$/, '') || '0'}${units[i]}`;
}

/** Bytes received and sent on the container's interfaces (loopback aside). */
async function netIo(pid: number | null): Promise<{ rx: number; tx: number }> {
  // Loaded here: command modules are imported by every command at start-up.
  const ifs = pid ? await (await import('../container/index.js')).networkInterfaces(pid) : [];
  return { rx: ifs.reduce((n, i) => n + i.rxBytes, 0), tx: ifs.reduce((n, i) => n + i.txBytes, 0) };
}

interface Sample {
  c: Container;
  stats: ContainerStats;
  net: { rx: number; tx: number };
}

/** docker's `stats --format` fields. */
function view(s: Sample, prev: Sample | undefined) {
  const hostMem = totalmem();
  const cpuSince = prev ? prev.stats.cpuNanos : 0;
  const wallSince = prev ? prev.stats.timestamp : (s.c.startedAt ?? s.c.createdAt);
  const wallNanos = Math.max(1, (s.stats.timestamp - wallSince) * 1e6);
  const cpu = (100 * Math.max(0, s.stats.cpuNanos - cpuSince)) / wallNanos;
  const limit = s.stats.memory.limitBytes !== undefined && s.stats.memory.limitBytes < hostMem ? s.stats.memory.limitBytes : hostMem;
  const used = s.stats.memory.workingSetBytes;
  return {
    ID: shortId(s.c.id),
    Container: shortId(s.c.id),
    Name: s.c.name,
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${binarySize(used)} / ${binarySize(limit)}`,
    MemPerc: `${((100 * used) / limit).toFixed(2)}%`,
    NetIO: `${humanSize(s.net.rx)} / ${humanSize(s.net.tx)}`,
    BlockIO: `${humanSize(s.stats.blockIo.readBytes)} / ${humanSize(s.stats.blockIo.writeBytes)}`,
    PIDs: String(s.stats.pids.current),
  };
}

/** The row of a container that is not running: zeros, as docker and podman print it. */
function idleView(c: Container) {
  return { ID: shortId(c.id), Container: shortId(c.id), Name: c.name, CPUPerc: '0.00%', MemUsage: '0B / 0B', MemPerc: '0.00%', NetIO: '0B / 0B', BlockIO: '0B / 0B', PIDs: '0' };
}

async function sample(mgr: ContainerManager, c: Container): Promise<Sample | undefined> {
  try {
    const [stats, net] = await Promise.all([mgr.stats(c.id), netIo(c.pid)]);
    return { c, stats, net };
  } catch (e) {
    // It stopped between the listing and the read.
    if (isBerthError(e, 'FailedPrecondition') || isBerthError(e, 'NotFound')) return undefined;
    throw e;
  }
}

export const statsCommand: Command = {
  name: 'stats',
  usage: 'stats [OPTIONS] [CONTAINER...]',
  summary: 'Display a live stream of container resource usage statistics',
  flags: [
    { name: 'all', short: 'a', type: 'bool', desc: 'Show all containers (default shows just running)' },
    { name: 'no-stream', type: 'bool', desc: 'Disable streaming stats and only pull the first result' },
    { name: 'no-trunc', type: 'bool', desc: 'Do not truncate output' },
    formatFlag,
  ],
  async run(ctx, f, args) {
    const mgr = await ctx.containers();
    const pick = async () => {
      if (args.length === 0) return mgr.list({ all: !!f.all });
      return Promise.all(args.map((ref) => mgr.get(ref)));
    };
    // Named containers must exist (a missing one is an error, as in docker); they are followed by id.
    const ids = (await pick()).map((c) => c.id);
    const tty = stdout().isTTY && !f['no-stream'];
    let prev = new Map<string, Sample>();
    for (;;) {
      const now = args.length > 0 ? await Promise.all(ids.map((id) => mgr.get(id).catch(() => undefined))) : await pick();
      const listed = now.filter((c): c is Container => !!c);
      const sampled = await Promise.all(listed.map((c) => (c.state === 'running' || c.state === 'created' ? sample(mgr, c) : undefined)));
      const samples = sampled.filter((s): s is Sample => !!s);
      const rows = listed.map((c, i) => {
        const s = sampled[i];
        return { ...(s ? view(s, prev.get(c.id)) : idleView(c)), ...(f['no-trunc'] ? { ID: c.id, Container: c.id } : {}) };
      });
      if (tty) writeOut('\x1b[2J\x1b[H');
      await printList(
        rows,
        f.format as string | undefined,
        (items) =>
          table(
            ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'],
            items.map((r) => [r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.BlockIO, r.PIDs]),
          ),
        (r) => r,
        { type: 'stats', headers: { ID: 'CONTAINER ID', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O' } },
      );
      if (f['no-stream']) return;
      prev = new Map(samples.map((s) => [s.c.id, s]));
      await delay(INTERVAL_MS);
    }
  },
};
