// ImageService/PullImage: pulls with the kubelet's credentials for this one pull
// (username/password, auth = base64 "user:password", an identity token to exchange, or a
// registry token to send as it is); answers the image ID.
import { invalidArgument } from '../errors/index.js';
import type { Credentials } from '../registry/index.js';
import { imageRef, type CallContext } from './context.js';
import { imageId } from './image-view.js';
import type { AuthConfig, PullImageRequest, PullImageResponse } from './types.js';

export async function pullImage(ctx: CallContext, req: PullImageRequest): Promise<PullImageResponse> {
  const ref = imageRef(req.image, 'pull image');
  const images = await ctx.engine.images();
  const registry = await ctx.engine.registry({ credentials: credentials(req.auth) });
  try {
    const { image } = await images.pull(ref, registry, { signal: ctx.signal });
    return { image_ref: imageId(image) };
  } finally {
    registry.close();
  }
}

function credentials(auth: AuthConfig | null): Credentials | undefined {
  if (!auth) return undefined;
  if (auth.registry_token) return { username: '', password: '', registryToken: auth.registry_token };
  if (auth.identity_token) return { username: auth.username, password: '', identityToken: auth.identity_token };
  if (auth.username || auth.password) return { username: auth.username, password: auth.password };
  if (auth.auth) {
    const text = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) throw invalidArgument('pull image: AuthConfig.auth is not base64 of "username:password"');
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  return undefined;
}
