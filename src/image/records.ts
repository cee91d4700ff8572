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
  /** Manifest digest 'sha256:…'. */
  digest: string;
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

function toImage(row: ImageRow, names: string[]): Image {
  return {
    id: row.id,
    names,
    digest: row.manifest_digest,
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
    return rows.map((r) => toImage(r, names.get(r.id) ?? []));
  }

  byId(id: string): Image | undefined {
    const row = this.store.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    return row && toImage(row, this.namesOf(id));
  }

  /** IDs starting with prefix (hex). */
  idsWithPrefix(prefix: string): string[] {
    const rows = this.store.db.prepare("SELECT id FROM images WHERE substr(id, 1, ?) = ? LIMIT 2").all(prefix.length, prefix) as { id: string }[];
    return rows.map((r) => r.id);
  }

  idByName(name: string): string | undefined {
    return (this.store.db.prepare('SELECT image_id FROM image_names WHERE name = ?').get(name) as { image_id: string } | undefined)?.image_id;
  }

  idsByManifestDigest(digest: string): string[] {
    return (this.store.db.prepare('SELECT id FROM images WHERE manifest_digest = ?').all(digest) as { id: string }[]).map((r) => r.id);
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
    await this.store.write(() => {
      for (const img of images) {
        addImage.run(img.id, img.manifestDigest, img.manifestMediaType, img.configText, JSON.stringify(img.layers), img.size, now);
        for (const n of img.names) addName.run(n, img.id);
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
