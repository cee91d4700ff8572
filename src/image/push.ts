// `berth push`: the image's stored manifest, config and layers go to a registry unchanged
// (so the digests stay the same): a HEAD per blob skips what the registry already has; a
// blob the image's own repositories on the same registry hold (its names) is mounted from
// there; the rest is uploaded, in one PUT or (above chunkSize) in PATCH chunks; the
// manifest last.
import type { ContentStore } from '../content/index.js';
import { invalidArgument } from '../errors/index.js';
import { pushSource, type Source } from '../registry/index.js';
import type { RegistryAccess } from './pull.js';
import type { Image } from './records.js';
import { formatReference, normalizeReference, repositoryOf } from './reference.js';
import type { Manifest, OciDescriptor } from './types.js';

/** Blobs above this size are uploaded in chunks of this size by default. */
const DEFAULT_CHUNK_SIZE = 64 << 20;

export interface PushOptions {
  concurrency?: number;
  /** Blobs larger than this go up in PATCH chunks of this many bytes; 0: always one PUT. */
  chunkSize?: number;
  signal?: AbortSignal;
  onProgress?: (e: PushProgress) => void;
}

export type PushProgress =
  | { type: 'blob'; digest: string; size: number; bytes: number; status: 'exists' | 'uploading' | 'done' }
  | { type: 'blob'; digest: string; size: number; bytes: number; status: 'mounted'; from: string }
  | { type: 'manifest'; digest: string; destination: string };

/** Pushes image to dest ('[host/]repo[:tag]'); returns the manifest digest. */
export async function pushImage(content: ContentStore, registry: RegistryAccess, image: Image, dest: string, opts: PushOptions = {}): Promise<{ digest: string; destination: string }> {
  const ref = normalizeReference(dest.replace(/^docker:\/\//, ''));
  if (ref.digest && ref.tag) throw invalidArgument(`push destination "${dest}": give a tag or a digest, not both`);
  const progress = opts.onProgress ?? (() => {});
  const bytes = content.readBytes(image.digest);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
  } catch {
    throw invalidArgument(`image ${image.id.slice(0, 12)}: its stored manifest is not valid JSON`);
  }
  if (!manifest?.config || !Array.isArray(manifest.layers)) throw invalidArgument(`image ${image.id.slice(0, 12)}: its stored manifest lacks config or layers`);
  if (ref.digest && ref.digest !== image.digest) throw invalidArgument(`push destination "${dest}": the image's manifest digest is ${image.digest}`);

  const target = pushSource(registry.conf, repositoryOf(ref));
  const repo = registry.client.repository(target, { push: true });
  const mountFrom = mountCandidates(registry, image, target);
  const blobs: OciDescriptor[] = [];
  // Non-distributable layers (with URLs of their own) are not uploaded: the manifest keeps
  // their URLs, as the image spec asks and podman and skopeo do.
  const uploaded = manifest.layers.filter((l) => !(isNonDistributable(l.mediaType) && l.urls?.length));
  for (const d of [manifest.config, ...uploaded]) if (!blobs.some((b) => b.digest === d.digest)) blobs.push(d);

  let next = 0;
  let stop = false;
  const worker = async () => {
    while (!stop && next < blobs.length) {
      const { digest, size } = blobs[next++];
      try {
        if (await repo.hasBlob(digest, opts.signal)) {
          progress({ type: 'blob', digest, size, bytes: size, status: 'exists' });
          continue;
        }
        progress({ type: 'blob', digest, size, bytes: 0, status: 'uploading' });
        const { mountedFrom } = await repo.pushBlob(digest, content.size(digest), () => content.read(digest), {
          mountFrom,
          chunkSize: opts.chunkSize ?? DEFAULT_CHUNK_SIZE,
          onBytes: (bytes) => progress({ type: 'blob', digest, size, bytes, status: 'uploading' }),
          signal: opts.signal,
        });
        if (mountedFrom !== undefined) progress({ type: 'blob', digest, size, bytes: size, status: 'mounted', from: mountedFrom });
        else progress({ type: 'blob', digest, size, bytes: size, status: 'done' });
      } catch (e) {
        stop = true;
        throw e;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 3, blobs.length)) }, worker);
  const results = await Promise.allSettled(workers);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;

  const digest = await repo.putManifest(ref.digest ?? ref.tag!, bytes, image.manifestMediaType, opts.signal);
  const destination = formatReference({ ...ref, digest: undefined, tag: ref.digest ? undefined : ref.tag });
  progress({ type: 'manifest', digest, destination });
  return { digest, destination };
}

/**
 * Repositories on the destination's registry the image came from or was pushed to (its
 * names), which likely hold its blobs: the registry can mount them instead of an upload.
 */
function mountCandidates(registry: RegistryAccess, image: Image, target: Source): string[] {
  const found: string[] = [];
  for (const name of image.names) {
    let source: Source;
    try {
      source = pushSource(registry.conf, repositoryOf(normalizeReference(name)));
    } catch {
      continue; // a blocked or unusable name: no candidate
    }
    if (source.host === target.host && source.path !== target.path && !found.includes(source.path)) found.push(source.path);
  }
  // Each failed mount costs a request: a few candidates at most.
  return found.slice(0, 3);
}

function isNonDistributable(mediaType: string): boolean {
  return mediaType.includes('.nondistributable.') || mediaType.includes('.foreign.');
}
