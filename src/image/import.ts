// `berth import`: a rootfs tarball (plain, gzip or zstd) becomes a one-layer image. One
// pass over the input: decompress → hash → stage; then unpack from the stored blob.
import { addAbortSignal, type Readable } from 'node:stream';
import type { ContentStore } from '../content/index.js';
import { invalidArgument } from '../errors/index.js';
import { applyChanges } from './changes.js';
import { decompressed } from '../snapshot/index.js';
import type { ImageRecords, NewImage } from './records.js';
import { hostArchitecture, MediaType, type ImageConfigFile, type Manifest } from './types.js';
import { chainSize, Leftovers, unpackLayers, type LayerSnapshots } from './unpack.js';

export interface ImportOptions {
  message?: string;
  changes?: string[];
  /** Names to give the image, already normalised. */
  names: string[];
  signal?: AbortSignal;
}

export async function importRootfs(
  content: ContentStore,
  snapshots: LayerSnapshots,
  records: ImageRecords,
  input: Readable,
  opts: ImportOptions,
): Promise<NewImage> {
  // Validate the changes before reading possibly gigabytes of input.
  const defaults = applyChanges({}, opts.changes ?? []);
  const { signal } = opts;
  signal?.throwIfAborted();
  if (signal) addAbortSignal(signal, input); // an abort stops the reading
  const leftovers = new Leftovers(content, snapshots, records);
  try {
    const { stream } = await decompressed(input);
    const staged = await content.stage(stream);
    if (staged.size === 0) {
      staged.discard();
      throw invalidArgument('import: the input is empty (expected a tar archive)');
    }
    const layer = await leftovers.commit(staged);
    const diffId = layer.digest;
    const [chainId] = await unpackLayers(content, snapshots, [{ digest: diffId, diffId }], leftovers, signal);

    const created = new Date().toISOString();
    const config: ImageConfigFile = {
      created,
      architecture: hostArchitecture(),
      os: 'linux',
      config: defaults,
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: 'berth import', ...(opts.message ? { comment: opts.message } : {}) }],
    };
    const configText = JSON.stringify(config);
    const configDesc = await leftovers.putBytes(Buffer.from(configText));
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDesc.digest, size: configDesc.size },
      layers: [{ mediaType: MediaType.ociLayer, digest: diffId, size: layer.size }],
    };
    const manifestDesc = await leftovers.putBytes(Buffer.from(JSON.stringify(manifest)));
    const image: NewImage = {
      id: configDesc.digest.slice('sha256:'.length),
      manifestDigest: manifestDesc.digest,
      manifestMediaType: MediaType.ociManifest,
      configText,
      layers: [{ digest: diffId, mediaType: MediaType.ociLayer, size: layer.size, diffId, chainId }],
      size: chainSize(snapshots, [chainId]),
      names: opts.names,
    };
    await records.insert([image]);
    return image;
  } catch (e) {
    await leftovers.cleanup();
    throw signal?.aborted ? signal.reason : e;
  }
}
