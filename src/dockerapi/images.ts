// /images/…: list, inspect, pull (/images/create, with docker's JSON-lines progress that
// the docker CLI draws as bars; with fromSrc an import), tag, remove.
import { imageInspectView } from '../cli/image-views.js';
import { invalidArgument, isBerthError, notFound } from '../errors/index.js';
import { normalizeReference, type Image, type ImageStore, type PullProgress } from '../image/index.js';
import type { Credentials } from '../registry/index.js';
import { importImage } from './image-io.js';
import { boolParam, filterParam, labelsMatch, type Reply, type Request, type Router } from './server.js';

export function resolveImage(images: ImageStore, ref: string): Image {
  try {
    return images.resolve(ref);
  } catch (e) {
    if (isBerthError(e, 'NotFound')) throw notFound(`No such image: ${ref}`);
    throw e;
  }
}

function repoDigests(img: Image): string[] {
  return [...new Set(img.names.map((n) => `${n.replace(/:[^:/]+$/, '')}@${img.digest}`))];
}

export function listView(img: Image, containers: number) {
  return {
    Id: `sha256:${img.id}`,
    ParentId: '',
    RepoTags: img.names,
    RepoDigests: repoDigests(img),
    Created: Math.floor(new Date(img.config.created ?? img.addedAt).getTime() / 1000),
    Size: img.size,
    SharedSize: -1,
    VirtualSize: img.size,
    Labels: img.config.config?.Labels ?? {},
    Containers: containers,
  };
}

/** X-Registry-Auth: base64url JSON {username, password, serveraddress, identitytoken}. */
export function registryAuth(req: Request): Credentials | undefined {
  const header = req.headers['x-registry-auth'];
  if (typeof header !== 'string' || !header) return undefined;
  let auth: { username?: string; password?: string; identitytoken?: string; registrytoken?: string };
  try {
    auth = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    throw invalidArgument('invalid X-Registry-Auth header');
  }
  if (!auth?.username && !auth?.identitytoken && !auth?.registrytoken) return undefined;
  return { username: auth.username ?? '', password: auth.password ?? '', identityToken: auth.identitytoken || undefined, registryToken: auth.registrytoken || undefined };
}

/** docker's layer id in progress lines: the first 12 hex digits. */
export const shortDigest = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);

async function pull(req: Request, reply: Reply): Promise<void> {
  const q = req.query;
  const from = q.get('fromImage');
  if (!from) return importImage(req, reply);
  const tag = q.get('tag');
  const ref = tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from.includes(':') || from.includes('@') ? from : `${from}:latest`;
  const images = await req.engine.images();
  const registry = await req.engine.registry({ credentials: registryAuth(req) });
  const out = reply.stream(200, { 'Content-Type': 'application/json' });
  const line = (v: unknown) => out.write(JSON.stringify(v) + '\r\n');
  const seen = new Set<string>();
  let had: Image | undefined;
  try {
    had = images.resolve(ref);
  } catch {
    had = undefined;
  }
  const onProgress = (e: PullProgress) => {
    // docker names the repository path, without the registry.
    if (e.type === 'manifest') line({ status: `Pulling from ${normalizeReference(ref).path}`, id: tag ?? 'latest' });
    else if (e.type === 'waiting') line({ status: 'Waiting', progressDetail: {}, id: shortDigest(e.digest) });
    else if (e.type === 'blob' && e.kind === 'layer') {
      const id = shortDigest(e.digest);
      if (e.status === 'exists') return line({ status: 'Already exists', progressDetail: {}, id });
      if (!seen.has(id)) {
        seen.add(id);
        line({ status: 'Pulling fs layer', progressDetail: {}, id });
      }
      if (e.status === 'downloading') line({ status: 'Downloading', progressDetail: { current: e.bytes, total: e.size }, id });
      else {
        line({ status: 'Download complete', progressDetail: {}, id });
        line({ status: 'Pull complete', progressDetail: {}, id });
      }
    }
  };
  try {
    const { image } = await images.pull(ref, registry, { onProgress, signal: req.signal });
    line({ status: `Digest: ${image.digest}` });
    line({ status: had?.id === image.id ? `Status: Image is up to date for ${ref}` : `Status: Downloaded newer image for ${ref}` });
  } catch (e) {
    const message = (e as Error).message;
    line({ errorDetail: { message }, error: message });
  } finally {
    registry.close();
    out.end();
  }
}

export function imageRoutes(router: Router): void {
  router
    .add('GET', '/images/json', async (req, reply) => {
      const images = await req.engine.images();
      const mgr = await req.engine.containers();
      const filters = filterParam(req.query);
      const users = new Map<string, number>();
      for (const c of await mgr.list({ all: true })) if (c.imageId) users.set(c.imageId, (users.get(c.imageId) ?? 0) + 1);
      const list = images.list().filter((img) =>
        filters.every(([k, v]) => {
          if (k === 'dangling') return (img.names.length === 0) === (v === 'true' || v === '1');
          if (k === 'label') return labelsMatch(img.config.config?.Labels ?? {}, v);
          if (k === 'reference') return img.names.some((n) => n === v || n.endsWith(`/${v}`) || n.endsWith(`/${v}:latest`));
          throw invalidArgument(`invalid filter '${k}'`);
        }),
      );
      reply.json(200, list.map((img) => listView(img, users.get(img.id) ?? 0)));
    })
    .add('POST', '/images/create', pull)
    .add('GET', '/images/{name*}/json', async (req, reply) => {
      const img = resolveImage(await req.engine.images(), req.params[0]);
      const view = imageInspectView(img);
      reply.json(200, { ...view, ContainerConfig: view.Config, DockerVersion: '', GraphDriver: { Name: 'overlay', Data: null }, Metadata: { LastTagTime: '0001-01-01T00:00:00Z' } });
    })
    .add('POST', '/images/{name*}/tag', async (req, reply) => {
      const images = await req.engine.images();
      const img = resolveImage(images, req.params[0]);
      const repo = req.query.get('repo');
      if (!repo) throw invalidArgument('repository name must be given');
      const tag = req.query.get('tag') || 'latest';
      await images.tag(img.id, `${repo}:${tag}`);
      reply.empty(201);
    })
    .add('DELETE', '/images/{name*}', async (req, reply) => {
      const images = await req.engine.images();
      const name = req.params[0];
      resolveImage(images, name);
      const { untagged, deleted } = await images.remove(name, { force: boolParam(req.query, 'force') });
      reply.json(200, [...untagged.map((u) => ({ Untagged: u })), ...(deleted ? [{ Deleted: `sha256:${deleted}` }] : [])]);
    });
}
