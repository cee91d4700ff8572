// `berth commit`: a new image made of a base image's layers plus one layer (a container's
// changes, already as an OCI layer tar), with the given runtime defaults and a history entry.
// The layer is staged in one pass (hashed while written) and unpacked onto the base's chain.
import type { Readable } from 'node:stream';
import type { ContentStore } from '../content/index.js';
import { invalidArgument } from '../errors/index.js';
import type { Image, ImageRecords, NewImage } from './records.js';
import { MediaType, type ContainerDefaults, type ImageConfigFile, type Manifest } from './types.js';
import { chainSize, Leftovers, unpackLayers, type LayerSnapshots } from './unpack.js';

export type CommitFormat = 'oci' | 'docker';

export interface CommitOptions {
  defaults: ContainerDefaults;
  format?: CommitFormat;
  message?: string;
  author?: string;
  /** The history entry's created_by (what made the layer). */
  createdBy?: string;
  /** Names to give the image, already normalised. */
  names: string[];
}

const toDocker: Record<string, string> = {
  [MediaType.ociLayer]: MediaType.dockerLayer,
  [MediaType.ociLayerGzip]: MediaType.dockerLayerGzip,
  [MediaType.dockerLayer]: MediaType.dockerLayer,
  [MediaType.dockerLayerGzip]: MediaType.dockerLayerGzip,
};
const toOci: Record<string, string> = {
  [MediaType.dockerLayer]: MediaType.ociLayer,
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
};

/** A base layer's media type in the new manifest's format. */
function layerType(mediaType: string, format: CommitFormat): string {
  if (format === 'oci') return toOci[mediaType] ?? mediaType;
  const t = toDocker[mediaType];
  if (!t) throw invalidArgument(`cannot commit in docker format: the image has a layer of type ${mediaType}; use --format oci`);
  return t;
}

export async function commitImage(content: ContentStore, snapshots: LayerSnapshots, records: ImageRecords, base: Image, layer: Readable, opts: CommitOptions): Promise<NewImage> {
  const format = opts.format ?? 'oci';
  const baseLayers = base.layers.map((l) => ({ ...l, mediaType: layerType(l.mediaType, format) }));
  const leftovers = new Leftovers(content, snapshots, records);
  try {
    const staged = await content.stage(layer);
    const blob = await leftovers.commit(staged);
    const diffId = blob.digest;
    const chains = await unpackLayers(content, snapshots, [...base.layers, { digest: diffId, diffId }], leftovers);
    const created = new Date().toISOString();
    const config: ImageConfigFile = {
      ...structuredClone(base.config),
      created,
      config: opts.defaults,
      rootfs: { type: 'layers', diff_ids: [...base.config.rootfs.diff_ids, diffId] },
      history: [
        ...(base.config.history ?? []),
        {
          created,
          created_by: opts.createdBy ?? 'berth commit',
          ...(opts.author ? { author: opts.author } : {}),
          ...(opts.message ? { comment: opts.message } : {}),
        },
      ],
    };
    if (opts.author) config.author = opts.author;
    else delete config.author;
    const configText = JSON.stringify(config);
    const configDesc = await leftovers.putBytes(Buffer.from(configText));
    const newLayer = { mediaType: format === 'oci' ? MediaType.ociLayer : MediaType.dockerLayer, digest: diffId, size: blob.size };
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest,
      config: { mediaType: format === 'oci' ? MediaType.ociConfig : MediaType.dockerConfig, digest: configDesc.digest, size: configDesc.size },
      layers: [...baseLayers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })), newLayer],
    };
    const manifestText = JSON.stringify(manifest);
    const manifestDesc = await leftovers.putBytes(Buffer.from(manifestText));
    const image: NewImage = {
      id: configDesc.digest.slice('sha256:'.length),
      manifestDigest: manifestDesc.digest,
      manifestMediaType: manifest.mediaType!,
      configText,
      layers: [...baseLayers, { ...newLayer, diffId, chainId: chains.at(-1)! }],
      size: chainSize(snapshots, chains),
      names: opts.names,
    };
    await records.insert([image]);
    return image;
  } catch (e) {
    await leftovers.cleanup();
    throw e;
  }
}
