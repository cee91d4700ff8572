// ImageService/ImageStatus: the image by tag, digest or ID. A missing image is an empty
// response, not an error (the CRI's rule; the kubelet pulls on seeing it).
import { isBerthError } from '../errors/index.js';
import { imageRef, type CallContext } from './context.js';
import { imageId, toCriImage } from './image-view.js';
import type { ImageStatusRequest, ImageStatusResponse } from './types.js';

export async function imageStatus(ctx: CallContext, req: ImageStatusRequest): Promise<ImageStatusResponse> {
  const ref = imageRef(req.image, 'image status');
  const images = await ctx.engine.images();
  let image;
  try {
    image = images.resolve(ref);
  } catch (e) {
    if (isBerthError(e, 'NotFound')) return {};
    throw e;
  }
  const info: Record<string, string> = {};
  if (req.verbose) {
    info.info = JSON.stringify({
      id: imageId(image),
      names: image.names,
      manifestDigest: image.digest,
      manifestMediaType: image.manifestMediaType,
      chainID: images.topChainId(image),
      layers: image.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, diffID: l.diffId })),
      imageSpec: image.config,
    });
  }
  return { image: toCriImage(image), info };
}
