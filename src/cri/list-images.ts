// ImageService/ListImages: every image, or the one the filter's image spec names.
import { isBerthError } from '../errors/index.js';
import type { CallContext } from './context.js';
import { toCriImage } from './image-view.js';
import type { ListImagesRequest, ListImagesResponse } from './types.js';

export async function listImages(ctx: CallContext, req: ListImagesRequest): Promise<ListImagesResponse> {
  const images = await ctx.engine.images();
  const ref = req.filter?.image?.image?.trim();
  if (!ref) return { images: images.list().map((i) => toCriImage(i)) };
  try {
    return { images: [toCriImage(images.resolve(ref))] };
  } catch (e) {
    if (isBerthError(e, 'NotFound')) return { images: [] };
    throw e;
  }
}
