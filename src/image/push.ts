// `berth push`: the image's stored manifest, config and layers go to a registry unchanged
// (so the digests stay the same): a HEAD per blob skips what the registry already has, the
// rest is uploaded monolithically (POST, then PUT ?digest=), the manifest last.
import type { ContentStore } from '../content/index.js';
import { invalidArgument } from '../errors/index.js';
import { pushSource } from '../registry/index.js';
import type { RegistryAccess } from './pull.js';
import type { Image } from './records.js';
import { formatReference, normalizeReference, repositoryOf } from './reference.js';
import type { Manifest, OciDescriptor } from './types.js';

export interface PushOptions {
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (e: PushProgress) => void;
}

export type PushProgress =
  | { type: 'blob'; digest: string; size: number; status: 'exists' | 'uploading' | 'done' }
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

  const repo = registry.client.repository(pushSource(registry.conf, repositoryOf(ref)), { push: true });
  const blobs: OciDescriptor[] = [];
  for (const d of [manifest.config, ...manifest.layers]) if (!blobs.some((b) => b.digest === d.digest)) blobs.push(d);

  let next = 0;
  let stop = false;
  const worker = async () => {
    while (!stop && next < blobs.length) {
      const { digest, size } = blobs[next++];
      if (await repo.hasBlob(digest, opts.signal)) {
        progress({ type: 'blob', digest, size, status: 'exists' });
        continue;
      }
      progress({ type: 'blob', digest, size, status: 'uploading' });
      try {
        await repo.uploadBlob(digest, content.size(digest), () => content.read(digest), opts.signal);
      } catch (e) {
        stop = true;
        throw e;
      }
      progress({ type: 'blob', digest, size, status: 'done' });
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
