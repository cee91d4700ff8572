// GET /events (the store's event log, the one the CLI writes, streamed as docker sends it)
// and GET /system/df (what images, containers and volumes hold on disk).
import { statusText } from '../cli/container.js';
import { statusWord } from '../cli/container-filter.js';
import { diskUsageDetail } from '../cli/df.js';
import type { BerthEvent } from '../events/index.js';
import { invalidArgument } from '../errors/index.js';
import { listView as containerView } from './containers.js';
import { listView as imageView } from './images.js';
import { filterParam, labelsMatch, type Reply, type Request, type Router } from './server.js';

/** docker's since/until: Unix seconds with a fraction ("1700000000.000000000"), or RFC 3339. */
function timeParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid value for ${name}: ${v}`);
  return t;
}

function view(e: BerthEvent) {
  const attributes = Object.fromEntries(Object.entries(e.attributes).map(([k, v]) => [k, String(v)]));
  return {
    // The old fields docker still sends for containers.
    ...(e.type === 'container' ? { status: e.action, id: e.id, from: attributes.image ?? '' } : {}),
    Type: e.type,
    Action: e.action,
    Actor: { ID: e.id, Attributes: attributes },
    scope: 'local',
    time: Math.floor(e.time / 1000),
    timeNano: e.time * 1e6,
  };
}

const FILTERS = ['type', 'event', 'container', 'image', 'label', 'volume', 'pod'];

function matcher(filters: [string, string][]): (e: BerthEvent) => boolean {
  const by = new Map<string, string[]>();
  for (const [k, v] of filters) {
    if (!FILTERS.includes(k)) throw invalidArgument(`invalid filter '${k}'`);
    by.set(k, [...(by.get(k) ?? []), v]);
  }
  const any = (k: string, test: (v: string) => boolean) => !by.has(k) || by.get(k)!.some(test);
  return (e) =>
    any('type', (v) => v === e.type) &&
    any('event', (v) => v === e.action) &&
    any('container', (v) => e.type === 'container' && (e.id.startsWith(v) || e.attributes.name === v)) &&
    any('volume', (v) => e.type === 'volume' && e.id === v) &&
    any('pod', (v) => (e.type === 'pod' && (e.id.startsWith(v) || e.attributes.name === v)) || !!e.attributes.pod?.startsWith(v)) &&
    any('image', (v) => e.attributes.image === v || e.attributes.image?.endsWith(`/${v}`) || e.attributes.image === `${v}:latest` || e.attributes.image?.endsWith(`/${v}:latest`)) &&
    any('label', (v) => labelsMatch(e.attributes, v));
}

async function events(req: Request, reply: Reply): Promise<void> {
  const since = timeParam(req.query, 'since');
  const until = timeParam(req.query, 'until');
  const keep = matcher(filterParam(req.query));
  const log = await req.engine.events();
  // Without since, only what happens from now on (docker's rule).
  const query = { namespace: req.engine.namespace, afterSeq: since === undefined ? log.lastSeq() : 0, since, until };
  const out = reply.stream(200, { 'Content-Type': 'application/json' });
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  req.signal.addEventListener('abort', onAbort, { once: true });
  const timer = until !== undefined ? setTimeout(onAbort, Math.max(0, until - Date.now() + 250)) : undefined;
  try {
    for await (const e of log.follow(query, stop.signal)) if (keep(e)) out.write(JSON.stringify(view(e)) + '\n');
  } finally {
    clearTimeout(timer);
    req.signal.removeEventListener('abort', onAbort);
    out.end();
  }
}

async function df(req: Request, reply: Reply): Promise<void> {
  const [images, snapshots, mgr, volumes] = await Promise.all([req.engine.images(), req.engine.snapshots(), req.engine.containers(), req.engine.volumes()]);
  const detail = await diskUsageDetail(req.engine, (c) => statusText(mgr, c));
  const containers = await mgr.list({ all: true });
  const users = new Map<string, number>();
  for (const c of containers) if (c.imageId) users.set(c.imageId, (users.get(c.imageId) ?? 0) + 1);
  const shared = new Map(detail.Images.map((i) => [i.ImageID, i.SharedSize]));
  const sizeOf = new Map(detail.Containers.map((c) => [c.ContainerID, c.Size]));
  const all = images.list();
  const byId = new Map(all.map((i) => [i.id, i]));
  const vols = await volumes.list();
  const volUse = new Map(detail.Volumes.map((v) => [v.VolumeName, v]));
  reply.json(200, {
    LayersSize: snapshots.list().reduce((n, s) => n + s.size, 0),
    Images: all.map((img) => ({ ...imageView(img, users.get(img.id) ?? 0), SharedSize: shared.get(img.id.slice(0, 12)) ?? 0 })),
    Containers: containers.map((c) => {
      const img = c.imageId ? byId.get(c.imageId) : undefined;
      return { ...containerView(mgr, c), State: statusWord(c), SizeRw: sizeOf.get(c.id.slice(0, 12)) ?? 0, SizeRootFs: (sizeOf.get(c.id.slice(0, 12)) ?? 0) + (img?.size ?? 0) };
    }),
    Volumes: vols.map((v) => ({
      Name: v.name,
      Driver: 'local',
      Mountpoint: volumes.mountpoint(v.name),
      CreatedAt: new Date(v.createdAt).toISOString(),
      Labels: v.labels,
      Scope: 'local',
      Options: v.options,
      UsageData: { Size: volUse.get(v.name)?.Size ?? -1, RefCount: volUse.get(v.name)?.Links ?? 0 },
    })),
    BuildCache: [],
  });
}

export function eventRoutes(router: Router): void {
  router.add('GET', '/events', events).add('GET', '/system/df', df);
}
