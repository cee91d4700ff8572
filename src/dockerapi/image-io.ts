// /images/…: history, save (/images/get), load, import (/images/create?fromSrc=-), prune,
// and search (501: berth keeps no index of registries).
import type { Writable } from 'node:stream';
import { BerthError, invalidArgument, notFound } from '../errors/index.js';
import type { Image } from '../image/index.js';
import { parseTime } from '../cli/options.js';
import { created } from '../cli/image-views.js';
import { resolveImage } from './images.js';
import { filterParam, labelsMatch, type Reply, type Request, type Router } from './server.js';

function jsonLines(reply: Reply) {
  const out = reply.stream(200, { 'Content-Type': 'application/json' });
  return { out, line: (v: unknown) => out.write(JSON.stringify(v) + '\r\n') };
}

const errorLine = (e: unknown) => {
  const message = e instanceof Error ? e.message : String(e);
  return { errorDetail: { message }, error: message };
};

async function history(req: Request, reply: Reply): Promise<void> {
  const img = resolveImage(await req.engine.images(), req.params[0]);
  const sizes = new Map((await req.engine.snapshots()).list().map((s) => [s.chainId, s.size]));
  // Entries that made a layer take the layers in order; the others are metadata only.
  const layers = [...img.layers];
  const entries = img.config.history?.length ? img.config.history : layers.map(() => ({}) as NonNullable<Image['config']['history']>[number]);
  const rows = entries
    .map((h) => {
      const layer = h.empty_layer ? undefined : layers.shift();
      return {
        Created: Math.floor((h.created ? Date.parse(h.created) : img.addedAt) / 1000),
        CreatedBy: h.created_by ?? '',
        Size: layer ? (sizes.get(layer.chainId) ?? layer.size) : 0,
        Comment: h.comment ?? '',
      };
    })
    .reverse();
  // As docker: the image's own ID and tags on the newest entry, "<missing>" below it.
  reply.json(200, rows.map((r, i) => ({ Id: i === 0 ? `sha256:${img.id}` : '<missing>', Tags: i === 0 ? img.names : null, ...r })));
}

async function save(req: Request, reply: Reply): Promise<void> {
  const images = await req.engine.images();
  const refs = req.params.length ? [req.params[0]] : req.query.getAll('names');
  if (refs.length === 0) throw invalidArgument('no image names given');
  for (const r of refs) resolveImage(images, r); // a missing one is a 404, before any byte
  const out = reply.stream(200, { 'Content-Type': 'application/x-tar' });
  try {
    await images.save(refs, out as Writable, 'docker-archive');
  } finally {
    out.end();
  }
}

async function load(req: Request, reply: Reply): Promise<void> {
  const images = await req.engine.images();
  let loaded: Awaited<ReturnType<typeof images.load>>;
  try {
    loaded = await images.load(req.body, { signal: req.signal });
  } catch (e) {
    // Nothing sent yet: the client prints the message as docker's.
    if (e instanceof BerthError) throw e;
    throw invalidArgument((e as Error).message);
  }
  const { out, line } = jsonLines(reply);
  for (const { image, names } of loaded) {
    if (names.length === 0) line({ stream: `Loaded image ID: sha256:${image.id}\n` });
    for (const n of names) line({ stream: `Loaded image: ${n}\n` });
  }
  out.end();
}

/** POST /images/create?fromSrc=-: the body is a rootfs tar (docker import). */
export async function importImage(req: Request, reply: Reply): Promise<void> {
  const q = req.query;
  if (q.get('fromSrc') !== '-') throw new BerthError('Unimplemented', 'importing from a URL is not implemented: download the file and import it from stdin');
  const repo = q.get('repo') || undefined;
  const tag = q.get('tag');
  const name = repo && tag ? `${repo}:${tag}` : repo;
  const images = await req.engine.images();
  const img = await images.importRootfs(req.body, name, { message: q.get('message') || undefined, changes: q.getAll('changes'), signal: req.signal });
  const { out, line } = jsonLines(reply);
  line({ status: `sha256:${img.id}` });
  out.end();
}

async function prune(req: Request, reply: Reply): Promise<void> {
  let all = false;
  const tests: ((img: Image) => boolean)[] = [];
  for (const [k, v] of filterParam(req.query)) {
    if (k === 'dangling') all = v === 'false' || v === '0';
    else if (k === 'until') {
      const until = parseTime(v, 'until').getTime();
      tests.push((img) => created(img) < until);
    } else if (k === 'label' || k === 'label!') {
      const has = (img: Image) => labelsMatch(img.config.config?.Labels ?? {}, v);
      tests.push(k === 'label' ? has : (img) => !has(img));
    } else throw invalidArgument(`invalid filter '${k}'`);
  }
  const images = await req.engine.images();
  const { removed, report } = await images.prune({ all, only: (img) => tests.every((t) => t(img)) });
  reply.json(200, {
    ImagesDeleted: removed.length ? removed.flatMap((r) => [...r.untagged.map((u) => ({ Untagged: u })), { Deleted: `sha256:${r.id}` }]) : null,
    SpaceReclaimed: report.reclaimed,
  });
}

export function imageIoRoutes(router: Router): void {
  router
    .add('GET', '/images/{name*}/history', history)
    .add('GET', '/images/get', save)
    .add('GET', '/images/{name*}/get', save)
    .add('POST', '/images/load', load)
    .add('POST', '/images/prune', prune)
    // berth builds no images, so it keeps no build cache: `docker system prune` finds none.
    .add('POST', '/build/prune', async (_req, reply) => reply.json(200, { CachesDeleted: [], SpaceReclaimed: 0 }))
    // `docker inspect NAME` asks for a container first and for an image after a 404: a name
    // with a slash matches no container route, and no container has such a name.
    .add('GET', '/containers/{name*}/json', async (req) => {
      throw notFound(`No such container: ${req.params[0]}`);
    })
    .add('GET', '/images/search', async () => {
      throw new BerthError('Unimplemented', 'image search is not implemented by berth: browse the registry, or list a repository\'s tags with `skopeo list-tags`');
    });
}

export { errorLine, jsonLines };
