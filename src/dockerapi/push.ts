// POST /images/{name}/push (docker's JSON-lines progress) and POST /auth (credentials checked
// against the registry as `berth login` does; the client stores them and sends them back
// in X-Registry-Auth).
import { isBerthError, notFound } from '../errors/index.js';
import type { Image, PushProgress } from '../image/index.js';
import { splitName } from '../image/index.js';
import { errorLine, jsonLines } from './image-io.js';
import { registryAuth, shortDigest } from './images.js';
import type { Reply, Request, Router } from './server.js';

/** The stored names push sends: name:tag, or with no tag every tag of the repository. */
function pushNames(images: Image[], name: string, tag: string | null, resolve: (ref: string) => Image): string[] {
  if (tag) {
    const ref = `${name}:${tag}`;
    let img: Image;
    try {
      img = resolve(ref);
    } catch (e) {
      if (isBerthError(e, 'NotFound')) throw notFound(`An image does not exist locally with the tag: ${name}`);
      throw e;
    }
    // The stored spelling of that name (domain and library/ filled in).
    return [img.names.find((n) => n === ref || n.endsWith(`/${ref}`)) ?? ref];
  }
  const names = images.flatMap((img) => img.names).filter((n) => {
    const repo = splitName(n).repository;
    return repo === name || repo.endsWith(`/${name}`);
  });
  if (names.length === 0) throw notFound(`An image does not exist locally with the tag: ${name}`);
  return names;
}

async function push(req: Request, reply: Reply): Promise<void> {
  const images = await req.engine.images();
  const name = req.params[0];
  const names = pushNames(images.list(), name, req.query.get('tag'), (r) => images.resolve(r));
  const registry = await req.engine.registry({ credentials: registryAuth(req) });
  const { out, line } = jsonLines(reply);
  try {
    line({ status: `The push refers to repository [${splitName(names[0]).repository}]` });
    for (const ref of names) {
      const img = images.resolve(ref);
      const layers = new Set(img.layers.map((l) => l.digest));
      for (const l of [...img.layers].reverse()) line({ status: 'Preparing', progressDetail: {}, id: shortDigest(l.digest) });
      const onProgress = (e: PushProgress) => {
        if (e.type !== 'blob' || !layers.has(e.digest)) return; // the config is no layer to docker
        const id = shortDigest(e.digest);
        if (e.status === 'exists') line({ status: 'Layer already exists', progressDetail: {}, id });
        else if (e.status === 'mounted') line({ status: `Mounted from ${e.from}`, progressDetail: {}, id });
        else if (e.status === 'uploading') line({ status: 'Pushing', progressDetail: { current: e.bytes, total: e.size }, id });
        else line({ status: 'Pushed', progressDetail: {}, id });
      };
      const { digest } = await images.push(ref, registry, ref, { onProgress, signal: req.signal });
      const size = images.content.size(img.digest);
      const tag = splitName(ref).tag;
      line({ status: `${tag}: digest: ${digest} size: ${size}` });
      line({ progressDetail: {}, aux: { Tag: tag, Digest: digest, Size: size } });
    }
  } catch (e) {
    line(errorLine(e));
  } finally {
    registry.close();
    out.end();
  }
}

interface AuthBody {
  username?: string;
  password?: string;
  serveraddress?: string;
  identitytoken?: string;
}

async function auth(req: Request, reply: Reply): Promise<void> {
  const body = (await req.json<AuthBody>()) ?? {};
  const { canonicalRegistry, isInsecureHost } = await import('../registry/index.js');
  const host = canonicalRegistry(body.serveraddress || 'docker.io').split('/')[0];
  const access = await req.engine.registry({});
  const insecure = isInsecureHost(access.conf, host);
  try {
    await access.client.checkLogin(host, insecure, { username: body.username ?? '', password: body.password ?? '', identityToken: body.identitytoken || undefined });
  } catch (e) {
    // docker's words for a refused login, with docker's status.
    if (isBerthError(e, 'PermissionDenied')) return reply.json(401, { message: `login attempt to ${insecure ? 'http' : 'https'}://${host}/v2/ failed with status: 401 Unauthorized` });
    throw e;
  } finally {
    access.close();
  }
  reply.json(200, { Status: 'Login Succeeded', IdentityToken: '' });
}

export function pushRoutes(router: Router): void {
  router.add('POST', '/images/{name*}/push', push).add('POST', '/auth', auth);
}
