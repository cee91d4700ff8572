// The images and image_names tables: rows ↔ Image objects. Every write is one short
// transaction; nothing here touches blobs or snapshots.
import { notFound } from '../errors/index.js';
import type { Store } from '../store/index.js';
import type { ImageConfigFile } from './types.js';

export interface ImageLayer {
  digest: string;
  mediaType: string;
  size: number;
  diffId: string;
  chainId: string;
}

export interface Image {
  /** Config digest hex (64), the image ID. */
  id: string;
  /** Fully qualified names, e.g. 'docker.io/library/busybox:latest'. */
  names: string[];
  /** Manifest digest 'sha256:…' (of the platform's manifest, the blob this store keeps). */
  digest: string;
  /**
   * The digest the registry served when the image was pulled (an index's, when a tag or
   * digest named one), else the manifest's: podman's Digest and `images --digests`.
   */
  servedDigest: string;
  /**
   * 'repository@digest' for every repository the image is known under (its names', and the
   * one it was pulled from by digest) and every digest it has, sorted. An image without
   * names has these when it was pulled by digest: it is not dangling then.
   */
  repoDigests: string[];
  manifestMediaType: string;
  config: ImageConfigFile;
  layers: ImageLayer[];
  /** Unpacked bytes. */
  size: number;
  /** When it was added to this store, ms. */
  addedAt: number;
}

/**
 * What the image store needs to know about containers, from whoever owns them (the
 * composition root passes the container records' answer): an image in use is not removed.
 */
export interface ImageUsers {
  /** Containers (IDs) created from the image. */
  containersUsing(imageId: string): string[];
  /** Every image ID some container uses. */
  imagesInUse(): Set<string>;
}

/** What a loader or importer hands over to be recorded. */
export interface NewImage {
  id: string;
  manifestDigest: string;
  manifestMediaType: string;
  /** The config JSON exactly as stored in its blob. */
  configText: string;
  layers: ImageLayer[];
  size: number;
  names: string[];
  /** Digests the registry served besides the manifest's (an index's); repository '' when a name says it. */
  servedDigests?: { repository: string; digest: string }[];
}

interface ImageRow {
  id: string;
  manifest_digest: string;
  manifest_media_type: string;
  config: string;
  layers: string;
  size: number;
  created_at: number;
}

interface DigestRow {
  image_id: string;
  repository: string;
  digest: string;
}

/** The repository part of a stored 'repo:tag' name. */
const repositoryOfName = (name: string) => {
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
};

function toImage(row: ImageRow, names: string[], served: DigestRow[]): Image {
  const repos = new Set([...names.map(repositoryOfName), ...served.map((d) => d.repository).filter(Boolean)]);
  const digests = new Set([...served.map((d) => d.digest), row.manifest_digest]);
  const repoDigests = [...repos].flatMap((r) => [...digests].map((d) => `${r}@${d}`)).sort();
  return {
    id: row.id,
    names,
    digest: row.manifest_digest,
    servedDigest: served[0]?.digest ?? row.manifest_digest,
    repoDigests,
    manifestMediaType: row.manifest_media_type,
    config: JSON.parse(row.config) as ImageConfigFile,
    layers: JSON.parse(row.layers) as ImageLayer[],
    size: row.size,
    addedAt: row.created_at,
  };
}

export class ImageRecords {
  constructor(private readonly store: Store) {}

  count(): number {
    return (this.store.db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n;
  }

  all(): Image[] {
    const rows = this.store.db.prepare('SELECT * FROM images ORDER BY created_at DESC, id').all() as ImageRow[];
    const names = new Map<string, string[]>();
    for (const n of this.store.db.prepare('SELECT name, image_id FROM image_names ORDER BY name').all() as { name: string; image_id: string }[]) {
      names.set(n.image_id, [...(names.get(n.image_id) ?? []), n.name]);
    }
    const served = new Map<string, DigestRow[]>();
    for (const d of this.store.db.prepare('SELECT image_id, repository, digest FROM image_digests ORDER BY rowid').all() as DigestRow[]) {
      served.set(d.image_id, [...(served.get(d.image_id) ?? []), d]);
    }
    return rows.map((r) => toImage(r, names.get(r.id) ?? [], served.get(r.id) ?? []));
  }

  byId(id: string): Image | undefined {
    const row = this.store.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    return row && toImage(row, this.namesOf(id), this.servedOf(id));
  }

  private servedOf(id: string): DigestRow[] {
    return this.store.db.prepare('SELECT image_id, repository, digest FROM image_digests WHERE image_id = ? ORDER BY rowid').all(id) as DigestRow[];
  }

  /** Every name with its image, the oldest image's first (podman's order for matching short names). */
  namesByAge(): { name: string; imageId: string }[] {
    const rows = this.store.db
      .prepare('SELECT n.name, n.image_id FROM image_names n JOIN images i ON i.id = n.image_id ORDER BY i.created_at, i.id, n.name')
      .all() as { name: string; image_id: string }[];
    return rows.map((r) => ({ name: r.name, imageId: r.image_id }));
  }

  /** IDs starting with prefix (hex). */
  idsWithPrefix(prefix: string): string[] {
    const rows = this.store.db.prepare("SELECT id FROM images WHERE substr(id, 1, ?) = ? LIMIT 2").all(prefix.length, prefix) as { id: string }[];
    return rows.map((r) => r.id);
  }

  idByName(name: string): string | undefined {
    return (this.store.db.prepare('SELECT image_id FROM image_names WHERE name = ?').get(name) as { image_id: string } | undefined)?.image_id;
  }

  /** Images whose manifest has this digest or that a registry served under it (an index). */
  idsByDigest(digest: string): string[] {
    const rows = this.store.db
      .prepare('SELECT id FROM images WHERE manifest_digest = ? UNION SELECT image_id AS id FROM image_digests WHERE digest = ?')
      .all(digest, digest) as { id: string }[];
    return rows.map((r) => r.id);
  }

  namesOf(id: string): string[] {
    return (this.store.db.prepare('SELECT name FROM image_names WHERE image_id = ? ORDER BY name').all(id) as { name: string }[]).map((r) => r.name);
  }

  /** Records images; names move to their new image (the old one keeps its other names). */
  async insert(images: NewImage[], now = Date.now()): Promise<void> {
    const db = this.store.db;
    const addImage = db.prepare(
      'INSERT OR IGNORE INTO images (id, manifest_digest, manifest_media_type, config, layers, size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const addName = db.prepare('INSERT OR REPLACE INTO image_names (name, image_id) VALUES (?, ?)');
    const addDigest = db.prepare('INSERT OR IGNORE INTO image_digests (image_id, repository, digest) VALUES (?, ?, ?)');
    await this.store.write(() => {
      for (const img of images) {
        addImage.run(img.id, img.manifestDigest, img.manifestMediaType, img.configText, JSON.stringify(img.layers), img.size, now);
        for (const n of img.names) addName.run(n, img.id);
        for (const d of img.servedDigests ?? []) addDigest.run(img.id, d.repository, d.digest);
      }
    });
  }

  async setName(name: string, id: string): Promise<void> {
    await this.store.write(() => {
      if (!this.store.db.prepare('SELECT 1 FROM images WHERE id = ?').get(id)) throw notFound(`no such image: ${id}`);
      this.store.db.prepare('INSERT OR REPLACE INTO image_names (name, image_id) VALUES (?, ?)').run(name, id);
    });
  }

  removeName(name: string): void {
    this.store.db.prepare('DELETE FROM image_names WHERE name = ?').run(name);
  }

  removeImage(id: string): void {
    this.store.db.prepare('DELETE FROM image_names WHERE image_id = ?').run(id);
    this.store.db.prepare('DELETE FROM image_digests WHERE image_id = ?').run(id);
    this.store.db.prepare('DELETE FROM images WHERE id = ?').run(id);
  }

  /** Blob digests and chain IDs that any recorded image still references. */
  references(): { blobs: Set<string>; chainIds: Set<string> } {
    const blobs = new Set<string>();
    const chainIds = new Set<string>();
    for (const r of this.store.db.prepare('SELECT id, manifest_digest, layers FROM images').all() as ImageRow[]) {
      blobs.add(`sha256:${r.id}`);
      blobs.add(r.manifest_digest);
      for (const l of JSON.parse(r.layers) as ImageLayer[]) {
        blobs.add(l.digest);
        chainIds.add(l.chainId);
      }
    }
    return { blobs, chainIds };
  }

  /** fn in one write transaction, waiting for the lock without blocking. */
  write<T>(fn: () => T): Promise<T> {
    return this.store.write(fn);
  }
}
