// ImageService/ImageFsInfo: what the image store uses of its filesystem.
import { nowNanos, type CallContext } from './context.js';
import type { ImageFsInfoRequest, ImageFsInfoResponse } from './types.js';

export async function imageFsInfo(ctx: CallContext, _req: ImageFsInfoRequest): Promise<ImageFsInfoResponse> {
  const usage = await ctx.engine.imageFsUsage({ signal: ctx.signal });
  return {
    image_filesystems: [{ timestamp: nowNanos(), fs_id: { mountpoint: usage.mountpoint }, used_bytes: { value: usage.bytes }, inodes_used: { value: usage.inodes } }],
    container_filesystems: [],
  };
}
