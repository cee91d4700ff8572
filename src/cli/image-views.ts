// How images look to the user, shared by the image, container and system commands.
import { GoTime } from './go-time.js';
import type { Image } from '../image/index.js';
import { templateMap } from './format.js';

export const created = (img: Image) => {
  const t = img.config.created ? Date.parse(img.config.created) : NaN;
  return Number.isNaN(t) ? img.addedAt : t;
};

/** `image inspect`: docker's field names. */
export function imageInspectView(img: Image) {
  const history = img.config.history ?? [];
  return {
    Id: `sha256:${img.id}`,
    Digest: img.servedDigest,
    RepoTags: img.names,
    RepoDigests: img.repoDigests,
    Parent: '',
    Comment: history.at(-1)?.comment ?? '',
    Created: GoTime.parse(img.config.created ?? new Date(img.addedAt).toISOString()),
    Author: img.config.author ?? '',
    Architecture: img.config.architecture,
    Os: img.config.os,
    Variant: img.config.variant || undefined,
    Size: img.size,
    VirtualSize: img.size,
    // The image's own JSON: its keys vary from image to image.
    Config: templateMap(img.config.config ?? {}, { deep: true }),
    RootFS: { Type: 'layers', Layers: img.config.rootfs?.diff_ids ?? [] },
    History: history,
    Labels: templateMap(img.config.config?.Labels ?? null),
    ManifestType: img.manifestMediaType,
    Layers: img.layers.map((l) => ({ Digest: l.digest, MediaType: l.mediaType, Size: l.size, DiffID: l.diffId })),
  };
}

/** docker's listing of what a prune removed. */
export function prunedImagesText(removed: { id: string; untagged: string[] }[]): string {
  if (removed.length === 0) return '';
  const lines = ['Deleted Images:'];
  for (const r of removed) lines.push(...r.untagged.map((n) => `untagged: ${n}`), `deleted: sha256:${r.id}`);
  return lines.join('\n') + '\n\n';
}
