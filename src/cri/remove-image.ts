// ImageService/RemoveImage: removes the image the spec names with all its tags (the CRI's
// rule); an image already gone is success.
import { isBerthError } from '../errors/index.js';
import { imageRef, type CallContext } from './context.js';
import { imageId } from './image-view.js';
import type { RemoveImageRequest, RemoveImageResponse } from './types.js';

export async function removeImage(ctx: CallContext, req: RemoveImageRequest): Promise<RemoveImageResponse> {
  const ref = imageRef(req.image, 'remove image');
  const images = await ctx.engine.images();
  try {
    await images.remove(imageId(images.resolve(ref)), { allNames: true });
  } catch (e) {
    if (!isBerthError(e, 'NotFound')) throw e;
  }
  return {};
}
