// `berth save`: images to a docker-archive (manifest.json, repositories, <config>.json,
// uncompressed <diffID>.tar layers) or an oci-archive (oci-layout, index.json with ref.name
// annotations, blobs/sha256/…), streamed to any Writable.
import type { Writable } from 'node:stream';
import type { ContentStore } from '../content/index.js';
import { dataLoss } from '../errors/index.js';
import { decompressed, TarWriter } from '../snapshot/index.js';
import { splitName } from './reference.js';
import type { Image } from './records.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, type Index, type OciDescriptor } from './types.js';

export type ArchiveFormat = 'docker-archive' | 'oci-archive';

/** An image to save and the names to write for it (none when it was asked for by ID). */
export interface SaveItem {
  image: Image;
  names: string[];
}

const fileEntry = (name: string, size: number) => ({ name, type: 'file' as const, mode: 0o644, size, mtime: 0 });
const dirEntry = (name: string) => ({ name, type: 'dir' as const, mode: 0o755, mtime: 0 });

export async function saveArchive(content: ContentStore, items: SaveItem[], out: Writable, format: ArchiveFormat): Promise<void> {
  const tar = new TarWriter(out);
  if (format === 'oci-archive') await writeOci(content, items, tar);
  else await writeDocker(content, items, tar);
  await tar.finish();
}

async function writeDocker(content: ContentStore, items: SaveItem[], tar: TarWriter): Promise<void> {
  const written = new Set<string>();
  const manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { image, names } of items) {
    const configFile = `${image.id}.json`;
    if (!written.has(configFile)) {
      const config = content.readBytes(`sha256:${image.id}`);
      await tar.add(fileEntry(configFile, config.length), config);
      written.add(configFile);
    }
    const layerFiles: string[] = [];
    for (const layer of image.layers) {
      const file = `${layer.diffId.slice('sha256:'.length)}.tar`;
      layerFiles.push(file);
      if (written.has(file)) continue;
      await addUncompressedLayer(content, tar, file, layer.digest, layer.diffId);
      written.add(file);
    }
    manifest.push({ Config: configFile, RepoTags: names.length ? names : null, Layers: layerFiles });
    const top = image.layers.at(-1)?.diffId.slice('sha256:'.length);
    for (const n of names) {
      const { repository, tag } = splitName(n);
      if (top) repositories[repository] = { ...repositories[repository], [tag]: top };
    }
  }
  const manifestJson = Buffer.from(JSON.stringify(manifest));
  await tar.add(fileEntry('manifest.json', manifestJson.length), manifestJson);
  const reposJson = Buffer.from(JSON.stringify(repositories));
  await tar.add(fileEntry('repositories', reposJson.length), reposJson);
}

/** docker-archive layers are plain tars: decompress a compressed blob through a temp file. */
async function addUncompressedLayer(content: ContentStore, tar: TarWriter, file: string, digest: string, diffId: string): Promise<void> {
  if (digest === diffId) {
    await tar.add(fileEntry(file, content.size(digest)), content.read(digest));
    return;
  }
  const { stream } = await decompressed(content.read(digest));
  const staged = await content.stage(stream);
  try {
    if (staged.digest !== diffId) throw dataLoss(`layer ${digest}: digest mismatch: expected ${diffId} got ${staged.digest}`);
    await tar.add(fileEntry(file, staged.size), staged.open());
  } finally {
    staged.discard();
  }
}

async function writeOci(content: ContentStore, items: SaveItem[], tar: TarWriter): Promise<void> {
  const layout = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await tar.add(fileEntry('oci-layout', layout.length), layout);
  await tar.add(dirEntry('blobs'));
  await tar.add(dirEntry('blobs/sha256'));
  const written = new Set<string>();
  const addBlob = async (digest: string) => {
    if (written.has(digest)) return;
    written.add(digest);
    await tar.add(fileEntry(`blobs/sha256/${digest.slice('sha256:'.length)}`, content.size(digest)), content.read(digest));
  };
  const index: Index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
  for (const { image, names } of items) {
    await addBlob(image.digest);
    await addBlob(`sha256:${image.id}`);
    for (const l of image.layers) await addBlob(l.digest);
    const desc: OciDescriptor = { mediaType: image.manifestMediaType, digest: image.digest, size: content.size(image.digest) };
    if (names.length === 0) index.manifests.push(desc);
    for (const n of names) index.manifests.push({ ...desc, annotations: { [ANNOTATION_CONTAINERD_NAME]: n, [ANNOTATION_REF_NAME]: n } });
  }
  const indexJson = Buffer.from(JSON.stringify(index));
  await tar.add(fileEntry('index.json', indexJson.length), indexJson);
}
