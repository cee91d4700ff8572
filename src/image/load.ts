// `berth load`: docker-archive (manifest.json; legacy <id>/layer.tar or blobs/sha256 layout)
// and oci-archive (oci-layout + index.json, nested indexes), optionally compressed as a
// whole. One pass: every file of the archive is hashed into the ingest dir as it streams
// by (manifest.json may come last); then the images are checked, their blobs named, their
// layers unpacked and the rows written in one transaction. On any failure nothing remains.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { posix } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { isDigest, type ContentStore, type Descriptor, type StagedBlob } from '../content/index.js';
import { dataLoss, invalidArgument, isBerthError } from '../errors/index.js';
import { decompressed, detectCompression, readTar, type Compression } from '../snapshot/index.js';
import { formatPlatform, parsePlatform, selectPlatform } from './platform.js';
import { formatReference, normalizeReference } from './reference.js';
import type { ImageRecords, NewImage } from './records.js';
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  isIndexMediaType,
  isManifestMediaType,
  MediaType,
  type ImageConfigFile,
  type Index,
  type Manifest,
  type OciDescriptor,
} from './types.js';
import { chainSize, Leftovers, unpackLayers, type LayerSnapshots } from './unpack.js';

const bad = (msg: string) => invalidArgument(`invalid image archive: ${msg}`);

/** The archive's files, staged (hashed, unnamed) in the content store's ingest dir. */
class StagedArchive {
  readonly files = new Map<string, StagedBlob>();
  readonly links = new Map<string, string>();
  private readonly committed = new Map<StagedBlob, Descriptor>();

  constructor(private readonly content: ContentStore) {}

  /** Where the blob's bytes are now: its temp file, or its name once committed. */
  pathOf(f: StagedBlob): string {
    const d = this.committed.get(f);
    return d ? this.content.path(d.digest) : f.tempPath;
  }

  /** The staged file at path, following links inside the archive. */
  file(path: string): StagedBlob | undefined {
    let p = clean(path);
    for (let hops = 0; hops < 16; hops++) {
      const f = this.files.get(p);
      if (f) return f;
      const next = this.links.get(p);
      if (next === undefined) return undefined;
      p = next;
    }
    return undefined;
  }

  need(path: string, what: string): StagedBlob {
    const f = this.file(path);
    if (!f) throw bad(`${what} "${path}" is missing`);
    return f;
  }

  json<T>(path: string, what: string): T {
    const f = this.need(path, what);
    if (f.size > 64 << 20) throw bad(`${what} "${path}" is too large`);
    try {
      return JSON.parse(readFileSync(this.pathOf(f), 'utf8')) as T;
    } catch {
      throw bad(`${what} "${path}" is not valid JSON`);
    }
  }

  /** Names a staged blob in the content store (once, however many images share it). */
  async commit(f: StagedBlob, leftovers: Leftovers, expected?: Partial<Descriptor>): Promise<Descriptor> {
    const done = this.committed.get(f);
    if (done) {
      if (expected?.digest && expected.digest !== done.digest) throw dataLoss(`digest mismatch: expected ${expected.digest} got ${done.digest}`);
      return done;
    }
    const d = await leftovers.commit(f, expected);
    this.committed.set(f, d);
    return d;
  }

  discard(): void {
    for (const f of this.files.values()) if (!this.committed.has(f)) f.discard();
  }
}

/** One image found in the archive, its parts still staged. */
interface Found {
  config: StagedBlob;
  /** The archive's own manifest (oci-archive); docker-archive images get one made. */
  manifest?: { blob: StagedBlob; mediaType: string; layers: OciDescriptor[] };
  layers: StagedBlob[];
  names: string[];
  where: string;
}

export async function loadArchive(
  content: ContentStore,
  snapshots: LayerSnapshots,
  records: ImageRecords,
  input: Readable,
  opts: { signal?: AbortSignal } = {},
): Promise<{ image: NewImage; names: string[] }[]> {
  const { signal } = opts;
  signal?.throwIfAborted();
  if (signal) addAbortSignal(signal, input); // an abort stops the reading
  const archive = new StagedArchive(content);
  const leftovers = new Leftovers(content, snapshots, records);
  try {
    const { stream } = await decompressed(input);
    for await (const { entry, body } of readTar(stream)) {
      const name = clean(entry.name);
      if (entry.type === 'file') {
        archive.files.get(name)?.discard();
        archive.files.set(name, await content.stage(body));
      } else if (entry.type === 'symlink') {
        archive.links.set(name, clean(posix.join(posix.dirname(name), entry.linkname)));
      } else if (entry.type === 'hardlink') {
        archive.links.set(name, clean(entry.linkname));
      }
    }
    let found: Found[];
    if (archive.file('manifest.json')) found = dockerArchive(archive);
    else if (archive.file('index.json')) found = ociArchive(archive);
    else throw bad('no manifest.json or index.json found (is it a docker-archive or oci-archive?)');
    if (found.length === 0) throw bad('it contains no images');

    const images = new Map<string, { image: NewImage; names: string[] }>();
    for (const f of found) {
      const image = await record(f, archive, content, snapshots, leftovers, signal);
      const prev = images.get(image.id);
      if (prev) prev.names.push(...image.names.filter((n) => !prev.names.includes(n)));
      else images.set(image.id, { image, names: [...image.names] });
    }
    const result = [...images.values()].map(({ image, names }) => ({ image: { ...image, names }, names }));
    await records.insert(result.map((r) => r.image));
    return result;
  } catch (e) {
    await leftovers.cleanup();
    if (signal?.aborted) throw signal.reason;
    if (isBerthError(e)) throw e;
    throw invalidArgument(`loading image archive: ${(e as Error).message}`);
  } finally {
    archive.discard();
  }
}

/** Verifies one found image, names its blobs, unpacks its layers. */
async function record(f: Found, archive: StagedArchive, content: ContentStore, snapshots: LayerSnapshots, leftovers: Leftovers, signal?: AbortSignal): Promise<NewImage> {
  const configText = readFileSync(archive.pathOf(f.config), 'utf8');
  let config: ImageConfigFile;
  try {
    config = JSON.parse(configText) as ImageConfigFile;
  } catch {
    throw bad(`${f.where}: the image config is not valid JSON`);
  }
  const diffIds = config?.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every(isDigest))
    throw bad(`${f.where}: the image config has no valid rootfs.diff_ids`);
  if (diffIds.length !== f.layers.length)
    throw bad(`${f.where}: ${f.layers.length} layers but the config lists ${diffIds.length} diff IDs`);

  const configDesc = await archive.commit(f.config, leftovers);
  const layers: { digest: string; size: number; mediaType: string; diffId: string }[] = [];
  for (const [i, blob] of f.layers.entries()) {
    const compression = compressionOf(archive.pathOf(blob));
    // An uncompressed layer is its own diff: check it now, before anything is unpacked.
    if (compression === 'none' && blob.digest !== diffIds[i])
      throw dataLoss(`${f.where}: layer ${i + 1}: digest mismatch: expected ${diffIds[i]} got ${blob.digest}`);
    const mediaType = f.manifest?.layers[i].mediaType ?? layerMediaType(compression);
    const d = await archive.commit(blob, leftovers, f.manifest ? { digest: f.manifest.layers[i].digest, size: f.manifest.layers[i].size } : undefined);
    layers.push({ digest: d.digest, size: d.size, mediaType, diffId: diffIds[i] });
  }

  let manifestDesc: Descriptor;
  let manifestMediaType: string;
  if (f.manifest) {
    manifestDesc = await archive.commit(f.manifest.blob, leftovers);
    manifestMediaType = f.manifest.mediaType;
  } else {
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDesc.digest, size: configDesc.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    manifestDesc = await leftovers.putBytes(Buffer.from(JSON.stringify(manifest)));
    manifestMediaType = MediaType.ociManifest;
  }

  const chains = await unpackLayers(content, snapshots, layers, leftovers, signal);
  return {
    id: configDesc.digest.slice('sha256:'.length),
    manifestDigest: manifestDesc.digest,
    manifestMediaType,
    configText,
    layers: layers.map((l, i) => ({ ...l, chainId: chains[i] })),
    size: chainSize(snapshots, chains),
    names: f.names,
  };
}

interface DockerManifestEntry {
  Config?: string;
  RepoTags?: string[] | null;
  Layers?: string[];
}

function dockerArchive(archive: StagedArchive): Found[] {
  const entries = archive.json<DockerManifestEntry[]>('manifest.json', 'manifest');
  if (!Array.isArray(entries)) throw bad('manifest.json is not a list of images');
  return entries.map((e, n) => {
    const where = `manifest.json entry ${n + 1}`;
    if (typeof e?.Config !== 'string' || !Array.isArray(e.Layers) || !e.Layers.every((l) => typeof l === 'string'))
      throw bad(`${where} lacks Config or Layers`);
    const config = archive.need(e.Config, 'image config');
    // Config files are named after their digest (<hex>.json or blobs/sha256/<hex>).
    const named = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(clean(e.Config));
    if (named && config.digest !== `sha256:${named[1]}`) throw dataLoss(`${e.Config}: digest mismatch: expected sha256:${named[1]} got ${config.digest}`);
    const layers = e.Layers.map((l) => {
      const blob = archive.need(l, 'layer');
      const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(clean(l));
      if (m && blob.digest !== `sha256:${m[1]}`) throw dataLoss(`${l}: digest mismatch: expected sha256:${m[1]} got ${blob.digest}`);
      return blob;
    });
    const names = (e.RepoTags ?? []).map((t) => formatReference(normalizeReference(t)));
    return { config, layers, names, where };
  });
}

function ociArchive(archive: StagedArchive): Found[] {
  const layout = archive.file('oci-layout') ? archive.json<{ imageLayoutVersion?: string }>('oci-layout', 'oci-layout') : undefined;
  if (layout && typeof layout.imageLayoutVersion !== 'string') throw bad('oci-layout lacks imageLayoutVersion');
  const index = archive.json<Index>('index.json', 'index');
  if (!Array.isArray(index?.manifests)) throw bad('index.json has no manifests');
  const found: Found[] = [];
  for (const desc of index.manifests) {
    const names = nameOf(desc);
    const manifestDesc = pickManifest(archive, desc, 0);
    const where = `manifest ${manifestDesc.digest}`;
    const blob = ociBlob(archive, manifestDesc);
    const manifest = archive.json<Manifest>(blobPath(manifestDesc.digest), 'manifest');
    if (!manifest?.config || !Array.isArray(manifest.layers)) throw bad(`${where} lacks config or layers`);
    for (const l of manifest.layers) if (l.urls?.length) throw bad(`${where}: foreign layers are not supported`);
    found.push({
      config: ociBlob(archive, manifest.config),
      manifest: { blob, mediaType: manifest.mediaType ?? manifestDesc.mediaType ?? MediaType.ociManifest, layers: manifest.layers },
      layers: manifest.layers.map((l) => ociBlob(archive, l)),
      names,
      where,
    });
  }
  return found;
}

/** Follows (nested) indexes down to the manifest for this machine's platform. */
function pickManifest(archive: StagedArchive, desc: OciDescriptor, depth: number): OciDescriptor {
  if (!desc || typeof desc.digest !== 'string') throw bad('index entry without a digest');
  if (isManifestMediaType(desc.mediaType) || desc.mediaType === undefined) return desc;
  if (!isIndexMediaType(desc.mediaType)) throw bad(`unsupported media type ${desc.mediaType}`);
  if (depth > 8) throw bad('indexes nested too deeply');
  ociBlob(archive, desc);
  const index = archive.json<Index>(blobPath(desc.digest), 'index');
  const children = Array.isArray(index?.manifests) ? index.manifests : [];
  const host = parsePlatform(undefined);
  // An archive holds what was saved: its only entry, or the first of entries that name no
  // platform, is taken whatever its platform.
  const pick = selectPlatform(children, host) ?? (children.length === 1 || children.every((c) => !c.platform) ? children[0] : undefined);
  if (!pick) throw bad(`no image for ${formatPlatform(host)} in index ${desc.digest}`);
  return pickManifest(archive, pick, depth + 1);
}

/** The staged blob a descriptor points at, checked against its digest and size. */
function ociBlob(archive: StagedArchive, desc: OciDescriptor): StagedBlob {
  if (!desc || !isDigest(desc.digest)) throw bad(`unsupported or missing digest ${desc?.digest}`);
  const blob = archive.need(blobPath(desc.digest), 'blob');
  if (blob.digest !== desc.digest) throw dataLoss(`${blobPath(desc.digest)}: digest mismatch: expected ${desc.digest} got ${blob.digest}`);
  if (typeof desc.size === 'number' && desc.size !== blob.size) throw dataLoss(`${blobPath(desc.digest)}: size mismatch: expected ${desc.size} bytes got ${blob.size}`);
  return blob;
}

const blobPath = (digest: string) => `blobs/${digest.replace(':', '/')}`;

/**
 * Names from an index entry: containerd's full-name annotation, else ref.name when it is
 * a reference (has '/' or ':'); a bare ref.name is only a tag and names nothing.
 */
function nameOf(desc: OciDescriptor): string[] {
  const full = desc?.annotations?.[ANNOTATION_CONTAINERD_NAME];
  const ref = desc?.annotations?.[ANNOTATION_REF_NAME];
  const name = full ?? (ref && /[/:]/.test(ref) ? ref : undefined);
  if (!name) return [];
  const r = normalizeReference(name);
  if (r.digest && !r.tag) return [];
  return [formatReference({ ...r, digest: undefined })];
}

function compressionOf(path: string): Compression {
  const head = Buffer.alloc(6);
  const fd = openSync(path, 'r');
  try {
    const n = readSync(fd, head, 0, 6, 0);
    return detectCompression(head.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

function layerMediaType(c: Compression): string {
  return c === 'gzip' ? MediaType.ociLayerGzip : c === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer;
}

/** Archive paths compared in one form: no leading './' or '/', no '.' components. */
function clean(p: string): string {
  return posix.normalize('/' + p).slice(1).replace(/\/$/, '');
}
