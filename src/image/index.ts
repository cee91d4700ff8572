// The image store: names and metadata in SQLite (images, image_names), bytes in the content
// store, unpacked layers in the snapshotter. The code that moves bytes (import, load,
// save, pull, push) loads on first use: resolving an image must stay cheap for `run`. Images come from local sources here (import,
// load); a registry puller records its images through the same path.
import type { Readable, Writable } from 'node:stream';
import type { ContentStore } from '../content/index.js';
import { BerthError, failedPrecondition, invalidArgument, isBerthError, notFound } from '../errors/index.js';
import type { Store } from '../store/index.js';
import { ImageRecords, type Image, type ImageUsers } from './records.js';
import { candidateNames, formatReference, matchesShortName, normalizeLocalName, normalizeReference, parseReference, repositoryMatchesShort, repositoryOf, type Reference } from './reference.js';
import { normalizePlatform, parsePlatform } from './platform.js';
import type { ArchiveFormat, SaveItem } from './save.js';
import type { PullOptions, RegistryAccess } from './pull.js';
import type { PushOptions } from './push.js';
import type { CommitOptions } from './commit.js';
import { collectGarbage, imageDiskUsage, Leases, type CollectableSnapshots, type GcOptions, type GcReport, type ImageDiskUsage } from './gc.js';

export type { Image, ImageLayer, ImageUsers } from './records.js';
export type { ArchiveFormat } from './save.js';
export type { LayerSnapshots } from './unpack.js';
export { Leases, type Lease, type LeaseResources, type CollectableSnapshots, type GcOptions, type GcReport, type ImageDiskUsage } from './gc.js';
export type { Platform, OciDescriptor, ContainerDefaults } from './types.js';
export { candidateNames, formatReference, normalizeLocalName, normalizeReference, parseReference, repositoryOf, splitName } from './reference.js';
export { applyChanges } from './changes.js';
export type { PullOptions, PullProgress, RegistryAccess } from './pull.js';
export type { PushOptions, PushProgress } from './push.js';
export type { CommitFormat, CommitOptions } from './commit.js';

export interface RemoveOptions {
  /** Untag an image a container uses; remove by ID an image with several names. */
  force?: boolean;
  /** By ID: remove every name without force (the CRI's RemoveImage). */
  allNames?: boolean;
}

export class ImageStore {
  private readonly records: ImageRecords;
  private readonly leases: Leases;

  constructor(
    private readonly store: Store,
    readonly content: ContentStore,
    private readonly snapshots: CollectableSnapshots,
    /** Which images containers use (their owner answers; this store never reads their table).
     *  Loaded on first need: listing and pulling never load the containers' code. */
    private readonly users: () => Promise<ImageUsers>,
    /** registries.conf's unqualified-search registries, read only when a short name matches images in several. */
    private readonly searchRegistries: () => string[] = () => [],
  ) {
    this.records = new ImageRecords(store);
    this.leases = new Leases(store);
  }

  /** How many images the store holds. */
  count(): number {
    return this.records.count();
  }

  /** All images, newest first. */
  list(): Image[] {
    return this.records.all();
  }

  /** Finds an image by name, short name, ID, ID prefix, sha256:ID or name@digest. */
  resolve(ref: string): Image {
    return this.lookup(ref).image;
  }

  /** Throws InvalidArgument for a platform that is not 'os/arch[/variant]'. */
  checkPlatform(platform: string): void {
    parsePlatform(platform);
  }

  /** Is the image built for platform ('os/arch[/variant]'; without a variant, any of the architecture's)? */
  hasPlatform(image: Image, platform: string): boolean {
    const asked = parsePlatform(platform);
    const want = normalizePlatform(asked);
    const have = normalizePlatform({ os: image.config.os, architecture: image.config.architecture, variant: image.config.variant });
    return want.os === have.os && want.architecture === have.architecture && (!asked.variant || want.variant === have.variant);
  }

  /** The snapshot holding the image's full rootfs; null for an image without layers. */
  topChainId(image: Image): string | null {
    return image.layers.at(-1)?.chainId ?? null;
  }

  async importRootfs(input: Readable, name: string | undefined, opts: { message?: string; changes?: string[]; signal?: AbortSignal } = {}): Promise<Image> {
    const names = name ? [this.newName(name)] : [];
    const { importRootfs } = await import('./import.js');
    await this.sweepAbandoned();
    const made = await this.leases.with(() => importRootfs(this.content, this.snapshots, this.records, input, { ...opts, names }));
    return this.mustGet(made.id);
  }

  /** A new image: base's layers plus layer (an OCI layer tar), with the given defaults (see commit.ts). */
  async commit(base: Image, layer: Readable, name: string | undefined, opts: Omit<CommitOptions, 'names'>): Promise<Image> {
    const names = name ? [this.newName(name)] : [];
    const { commitImage } = await import('./commit.js');
    await this.sweepAbandoned();
    const made = await this.leases.with(() => commitImage(this.content, this.snapshots, this.records, base, layer, { ...opts, names }));
    return this.mustGet(made.id);
  }

  async load(input: Readable, opts: { signal?: AbortSignal } = {}): Promise<{ image: Image; names: string[] }[]> {
    const { loadArchive } = await import('./load.js');
    await this.sweepAbandoned();
    const loaded = await this.leases.with(() => loadArchive(this.content, this.snapshots, this.records, input, opts));
    return loaded.map(({ image, names }) => ({ image: this.mustGet(image.id), names }));
  }

  /** Pulls ref from its registry (mirrors first); returns the image and the name it got. */
  async pull(ref: string, registry: RegistryAccess, opts: PullOptions = {}): Promise<{ image: Image; name?: string }> {
    // The lease keeps a concurrent garbage collection off what this pull relies on.
    const { pullImage } = await import('./pull.js');
    await this.sweepAbandoned();
    const { image, name } = await this.leases.with((lease) => pullImage(this.content, this.snapshots, this.records, registry, ref, { ...opts, lease }));
    return { image: this.mustGet(image.id), name };
  }

  /**
   * The name a pull of ref from the command line asks for: a short name that a local image
   * has under localhost/ (built, imported or tagged here) is pulled by that name instead of
   * being searched for in the registries, as podman does (`pull bb` with a local localhost/bb
   * fetches localhost/bb:latest); any other ref as it is.
   */
  pullTarget(ref: string): string {
    let local: string;
    try {
      if (parseReference(ref).domain) return ref;
      local = normalizeLocalName(ref);
    } catch {
      return ref;
    }
    return this.records.idByName(local) ? local : ref;
  }

  /** Pushes the image ref names to dest (default: ref's own name); returns the manifest digest. */
  async push(ref: string, registry: RegistryAccess, dest?: string, opts: PushOptions = {}): Promise<{ digest: string; destination: string }> {
    const { image, name } = this.lookup(ref);
    const target = dest ?? name;
    if (!target) throw invalidArgument(`push ${ref}: give a destination (the image was named by ID)`);
    const { pushImage } = await import('./push.js');
    return pushImage(this.content, registry, image, target, opts);
  }

  async save(refs: string[], out: Writable, format: ArchiveFormat): Promise<void> {
    if (format !== 'docker-archive' && format !== 'oci-archive')
      throw invalidArgument(`unsupported archive format "${format}": use docker-archive or oci-archive`);
    if (refs.length === 0) throw invalidArgument('save needs at least one image');
    const items: SaveItem[] = [];
    for (const ref of refs) {
      const { image, name } = this.lookup(ref);
      const item = items.find((i) => i.image.id === image.id);
      if (!item) items.push({ image, names: name ? [name] : [] });
      else if (name && !item.names.includes(name)) item.names.push(name);
    }
    // save stages files in the ingest dir too: the lease keeps a collection off them.
    const { saveArchive } = await import('./save.js');
    await this.leases.with(() => saveArchive(this.content, items, out, format));
  }

  /** Gives the image a new name (domain-less names go under localhost/, like podman). */
  async tag(ref: string, newName: string): Promise<void> {
    const image = this.resolve(ref);
    await this.records.setName(this.newName(newName), image.id);
  }

  /**
   * Removes names from the image ref means, or all its names when none are given (podman's
   * untag); the image stays, without a name. A name is taken as tag and rmi take it (short
   * names under localhost/, or matching one of the image's names); one the image does not
   * have is NotFound and nothing is untagged. Returns the names removed.
   */
  async untag(ref: string, names: string[] = []): Promise<string[]> {
    const image = this.resolve(ref);
    return this.records.write(() => {
      const have = this.records.namesOf(image.id);
      const gone = names.length === 0 ? have : names.map((n) => {
        const full = this.newName(n);
        const short = parseReference(n);
        const hit = have.includes(full) ? full : short.domain ? undefined : have.find((h) => matchesShortName(h, short));
        if (!hit) throw notFound(`${full}: tag not known`);
        return hit;
      });
      for (const n of gone) this.records.removeName(n);
      return [...new Set(gone)];
    });
  }

  /**
   * Untags a name; deletes the image when no name remains or when it is removed by ID (an
   * image with several names only with force). An image a container uses is refused, or
   * with force only untagged (its layers stay under the container).
   */
  async remove(ref: string, opts: RemoveOptions = {}): Promise<{ untagged: string[]; deleted: string | null }> {
    const { image, name } = this.lookup(ref);
    // The lease outlives an rmi killed between the row's removal and its blobs': the next pull or load sweeps them.
    const lease = await this.leases.acquire();
    try {
      return await this.removeImage(image, name, opts);
    } finally {
      await lease.release();
    }
  }

  private async removeImage(image: Image, name: string | undefined, opts: RemoveOptions): Promise<{ untagged: string[]; deleted: string | null }> {
    const containers = await this.users();
    const result = await this.records.write(() => {
      const names = this.records.namesOf(image.id);
      if (name && names.length > 1) {
        this.records.removeName(name);
        return { untagged: [name], deleted: null };
      }
      // By ID (or digest) an image with several names goes only when forced (podman, docker).
      if (!name && names.length > 1 && !opts.force && !opts.allNames)
        throw failedPrecondition(`unable to delete image ${image.id.slice(0, 12)} (must be forced) - image is referenced in multiple repositories`);
      const users = containers.containersUsing(image.id);
      if (users.length > 0) {
        if (!opts.force) throw new BerthError('FailedPrecondition', `image is in use by container ${users[0].slice(0, 12)}`, { reason: 'in-use' });
        for (const n of names) this.records.removeName(n);
        return { untagged: names, deleted: null };
      }
      this.records.removeImage(image.id);
      return { untagged: names, deleted: image.id };
    });
    if (result.deleted) await this.collect(image);
    return result;
  }

  /**
   * Removes images no container uses: dangling ones (no name, not pulled by digest), or with all any
   * (of those, with only, the ones it accepts). Then
   * collects garbage; returns the removed images and the bytes freed.
   */
  async prune(opts: { all?: boolean; only?: (image: Image) => boolean; gc?: GcOptions } = {}): Promise<{ removed: { id: string; untagged: string[] }[]; report: GcReport }> {
    const containers = await this.users();
    const removed = await this.records.write(() => {
      const out: { id: string; untagged: string[] }[] = [];
      const inUse = containers.imagesInUse();
      for (const image of this.records.all()) {
        // Pulled by digest, an image without names is not dangling (podman's rule).
        if (!opts.all && (image.names.length > 0 || image.repoDigests.length > 0)) continue;
        if (inUse.has(image.id) || (opts.only && !opts.only(image))) continue;
        this.records.removeImage(image.id);
        out.push({ id: image.id, untagged: image.names });
      }
      return out;
    });
    return { removed, report: await this.gc(opts.gc) };
  }

  /** Store-wide garbage collection: see gc.ts. */
  gc(opts: GcOptions = {}): Promise<GcReport> {
    return collectGarbage(this.store, this.records, this.content, this.snapshots, opts);
  }

  /**
   * Collects what operations killed part-way left (their lease, or ingest files of a process
   * that is gone). Looking costs a query and a listing of the ingest dir; collecting
   * happens only after such a crash.
   */
  private async sweepAbandoned(): Promise<void> {
    if (this.leases.anyAbandoned() || this.content.hasAbandonedIngest()) await this.gc();
  }

  /** What the image store holds on disk and what unused images hold of it. */
  async diskUsage(): Promise<ImageDiskUsage> {
    return imageDiskUsage(this.store, this.records, (await this.users()).imagesInUse(), this.content, this.snapshots);
  }

  /** Removes the blobs and snapshots of a deleted image that no other image (nor a live lease) uses. */
  private async collect(image: Image): Promise<void> {
    const refs = this.records.references();
    // Read only: a dead lease stays, the sign for the next pull or load to sweep.
    const leased = this.leases.live({ readOnly: true });
    for (const b of leased.blobs) refs.blobs.add(b);
    for (const c of leased.chainIds) refs.chainIds.add(c);
    const top: string[] = [];
    for (const layer of [...image.layers].reverse()) {
      if (refs.chainIds.has(layer.chainId)) break; // everything below is shared too
      top.push(layer.chainId);
    }
    // A snapshot a child still needs (another image's) stays, and so do its parents.
    const kept = await this.snapshots.removeAll(top, 'blocked');
    for (const e of kept.values()) if (!isBerthError(e, 'FailedPrecondition') && !isBerthError(e, 'NotFound')) throw e;
    const unused = [image.digest, `sha256:${image.id}`, ...image.layers.map((l) => l.digest)].filter((d) => !refs.blobs.has(d));
    await Promise.all(unused.map((d) => this.content.delete(d)));
  }

  private mustGet(id: string): Image {
    const image = this.records.byId(id);
    if (!image) throw notFound(`no such image: ${id}`);
    return image;
  }

  /** The normalised name a user's new name becomes. */
  private newName(name: string): string {
    if (/^[a-f0-9]{64}$/.test(name)) throw invalidArgument(`invalid reference format: "${name}": a 64-character hexadecimal name is reserved for image IDs`);
    return normalizeLocalName(name);
  }

  /**
   * The image ref means, and the stored name it matched (undefined when matched by ID or
   * digest). A short name resolves as podman's does: localhost/NAME, then NAME in each
   * unqualified-search registry in order, then docker.io's, then any stored name whose
   * repository ends in /NAME with the same tag (the oldest image first).
   */
  private lookup(ref: string): { image: Image; name?: string } {
    const byId = (hex: string) => {
      const ids = this.records.idsWithPrefix(hex);
      if (ids.length > 1) throw invalidArgument(`ambiguous image ID prefix "${hex}": more than one image matches`);
      return ids.length === 1 ? this.records.byId(ids[0]) : undefined;
    };
    if (ref.startsWith('sha256:')) {
      const hex = ref.slice('sha256:'.length);
      const image = /^[a-f0-9]{1,64}$/.test(hex) ? byId(hex) : undefined;
      if (image) return { image };
      throw notFound(`no such image: ${ref}`);
    }
    let parsed: Reference;
    try {
      parsed = parseReference(ref);
    } catch (e) {
      // Not a reference; maybe an ID prefix that is no valid name (none such exists today).
      const image = /^[a-f0-9]+$/.test(ref) ? byId(ref) : undefined;
      if (image) return { image };
      throw e;
    }
    const found = parsed.digest ? this.lookupDigest(parsed) : parsed.domain ? this.lookupName(formatReference(normalizeReference(ref))) : this.lookupShort(ref, parsed);
    if (found) return found;
    if (/^[a-f0-9]+$/.test(ref)) {
      const image = byId(ref);
      if (image) return { image };
    }
    throw notFound(`no such image: ${ref}`);
  }

  private lookupName(name: string): { image: Image; name: string } | undefined {
    const id = this.records.idByName(name);
    return id ? { image: this.mustGet(id), name } : undefined;
  }

  private lookupShort(ref: string, short: Reference): { image: Image; name: string } | undefined {
    const local = this.lookupName(normalizeLocalName(ref));
    if (local) return local;
    const matches = this.records.namesByAge().filter((n) => matchesShortName(n.name, short));
    if (matches.length <= 1) return matches[0] && { image: this.mustGet(matches[0].imageId), name: matches[0].name };
    // Several registries hold the name: registries.conf's order decides, then age.
    for (const c of candidateNames(ref, this.searchRegistries())) {
      const hit = matches.find((m) => m.name === formatReference(c));
      if (hit) return { image: this.mustGet(hit.imageId), name: hit.name };
    }
    return { image: this.mustGet(matches[0].imageId), name: matches[0].name };
  }

  /**
   * repository@digest: an image with that digest (its manifest's or one a registry served)
   * known under that repository (for a short name: one ending in it), or under no name at all.
   */
  private lookupDigest(r: Reference): { image: Image } | undefined {
    const wanted = r.domain ? repositoryOf(normalizeReference(formatReference(r))) : undefined;
    const fits = (repo: string) => (wanted ? repo === wanted : repositoryMatchesShort(repo, r.path));
    for (const id of this.records.idsByDigest(r.digest!)) {
      const image = this.records.byId(id)!;
      const repos = image.repoDigests.map((d) => d.slice(0, d.indexOf('@')));
      if (repos.length === 0 || repos.some(fits)) return { image };
    }
    return undefined;
  }
}
