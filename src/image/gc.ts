// Store-wide garbage collection: blobs and snapshots that no image references are removed,
// and so are the leftovers of crashed writers (ingest temp files, half-made snapshots).
//
// What an operation in progress relies on is protected by a lease (the leases table): a
// row written before it touches the store, naming the blobs and snapshots it will use, and
// also covering everything made after the lease began (so a load or import, which learns
// its layers as it reads, is safe too). A lease whose process died is dropped.
//
// The mark and the unlinking (blobs deleted, snapshot rows deleted) run in one short write
// transaction, and a lease is written in one too: an operation that sees a blob or
// snapshot present after writing its lease keeps it, because a collection either finished
// before the lease or sees it. Snapshot trees are removed after the commit, off the main
// thread; a crash before that leaves orphan dirs, which the next collection's sweep removes.
import { statSync } from 'node:fs';
import { abandonedIngest, INGEST_GRACE_MS, type ContentStore } from '../content/index.js';
import { internal, isBerthError } from '../errors/index.js';
import { log } from '../log/index.js';
import type { Store } from '../store/index.js';
import { nodeCrypto, processToken, tokenAlive } from '../sys/index.js';
import type { ImageRecords } from './records.js';
import type { LayerSnapshots } from './unpack.js';

/** Clock granularity and skew between a lease's start and the files made after it. */
const LEASE_MARGIN_MS = 2_000;

export interface LeaseResources {
  blobs?: string[];
  chainIds?: string[];
}

/** Held by an operation in progress; release() when done (a crash releases it too). */
export interface Lease {
  readonly id: string;
  /** Adds blobs and snapshots the operation is about to rely on. */
  add(resources: LeaseResources): Promise<void>;
  release(): Promise<void>;
}

interface LeaseRow {
  id: string;
  pid: number;
  owner: string | null; // its processToken; null in leases older than tokens
  created_at: number;
  blobs: string;
  chain_ids: string;
}

/** What the live leases protect. `since`: anything made at or after it (Infinity: none). */
export interface Protected {
  blobs: Set<string>;
  chainIds: Set<string>;
  since: number;
}

const holderAlive = (r: Pick<LeaseRow, 'pid' | 'owner'>) => tokenAlive(r.owner ?? String(r.pid));

export class Leases {
  constructor(private readonly store: Store) {}

  async acquire(): Promise<Lease> {
    const id = nodeCrypto().randomUUID();
    await this.store.write(() => this.insert(id));
    return this.handle(id);
  }

  private insert(id: string): void {
    this.store.db.prepare('INSERT INTO leases (id, pid, owner, created_at) VALUES (?, ?, ?, ?)').run(id, process.pid, processToken(), Date.now());
  }

  private handle(id: string): Lease {
    const db = this.store.db;
    let released = false;
    return {
      id,
      add: async (r) => {
        await this.store.write(() => {
          const row = db.prepare('SELECT blobs, chain_ids FROM leases WHERE id = ?').get(id) as Pick<LeaseRow, 'blobs' | 'chain_ids'> | undefined;
          if (!row) throw internal(`lease ${id} vanished`);
          const blobs = [...new Set([...(JSON.parse(row.blobs) as string[]), ...(r.blobs ?? [])])];
          const chainIds = [...new Set([...(JSON.parse(row.chain_ids) as string[]), ...(r.chainIds ?? [])])];
          db.prepare('UPDATE leases SET blobs = ?, chain_ids = ? WHERE id = ?').run(JSON.stringify(blobs), JSON.stringify(chainIds), id);
        });
      },
      release: async () => {
        if (released) return;
        released = true;
        await this.store.write(() => db.prepare('DELETE FROM leases WHERE id = ?').run(id));
      },
    };
  }

  /** Whether an operation died holding its lease (a killed pull, load, import or rmi). */
  anyAbandoned(): boolean {
    return (this.store.db.prepare('SELECT pid, owner FROM leases').all() as Pick<LeaseRow, 'pid' | 'owner'>[]).some((r) => !holderAlive(r));
  }

  /** Runs fn under a fresh lease, released when fn settles. */
  async with<T>(fn: (lease: Lease) => Promise<T>): Promise<T> {
    const lease = await this.acquire();
    try {
      return await fn(lease);
    } finally {
      await lease.release();
    }
  }

  /** What live leases protect; the leases of dead processes are deleted (returns how many) unless readOnly. */
  live(o: { readOnly?: boolean } = {}): Protected & { dropped: number } {
    const out: Protected & { dropped: number } = { blobs: new Set(), chainIds: new Set(), since: Infinity, dropped: 0 };
    for (const row of this.store.db.prepare('SELECT * FROM leases').all() as LeaseRow[]) {
      if (!holderAlive(row)) {
        if (o.readOnly) continue;
        this.store.db.prepare('DELETE FROM leases WHERE id = ?').run(row.id);
        out.dropped++;
        continue;
      }
      for (const b of JSON.parse(row.blobs) as string[]) out.blobs.add(b);
      for (const c of JSON.parse(row.chain_ids) as string[]) out.chainIds.add(c);
      out.since = Math.min(out.since, row.created_at - LEASE_MARGIN_MS);
    }
    return out;
  }
}

/** The snapshotter as garbage collection uses it. */
export interface CollectableSnapshots extends LayerSnapshots {
  /** Deletes a snapshot's row inside the caller's transaction (FailedPrecondition while it has a child). */
  unlink(chainId: string): void;
  /** Removes the directories of unlinked snapshots. */
  removeDirs(chainIds: string[]): Promise<void>;
  /** Removes crash leftovers of dead processes. */
  sweep(): Promise<void>;
}

export interface GcOptions {
  /** Ingest files older than this are removed even while no lease explains them (default 1 min). */
  ingestGraceMs?: number;
}

export interface GcReport {
  /** Blobs removed, and their bytes. */
  blobs: number;
  blobBytes: number;
  /** Snapshots removed, and their unpacked bytes. */
  snapshots: number;
  snapshotBytes: number;
  /** Stale ingest files removed, and their bytes. */
  ingestFiles: number;
  ingestBytes: number;
  /** Leases of dead processes dropped. */
  leases: number;
  /** All bytes freed. */
  reclaimed: number;
}

/** Removes every blob and snapshot that neither an image nor a live lease needs. */
export async function collectGarbage(store: Store, records: ImageRecords, content: ContentStore, snapshots: CollectableSnapshots, opts: GcOptions = {}): Promise<GcReport> {
  const report: GcReport = { blobs: 0, blobBytes: 0, snapshots: 0, snapshotBytes: 0, ingestFiles: 0, ingestBytes: 0, leases: 0, reclaimed: 0 };
  let since = Infinity;
  const unlinked: string[] = [];
  // Listed before the transaction (a stat per blob): a blob made meanwhile is not on the
  // list, so it stays.
  const blobs = content.list();
  await store.write(() => {
    const leased = new Leases(store).live();
    report.leases = leased.dropped;
    since = leased.since;
    const refs = records.references();
    const keepBlob = (d: string) => refs.blobs.has(d) || leased.blobs.has(d);
    const keepChain = (c: string) => refs.chainIds.has(c) || leased.chainIds.has(c);

    for (const blob of blobs) {
      if (keepBlob(blob.digest) || madeSince(content.path(blob.digest), since)) continue;
      content.discard(blob.digest);
      report.blobs++;
      report.blobBytes += blob.size;
    }

    // Children before parents: a snapshot with a child cannot go.
    const all = snapshots.list();
    const createdAt = snapshotTimes(store);
    const parentOf = new Map(all.map((s) => [s.chainId, s.parent]));
    const depth = (c: string) => {
      let n = 0;
      for (let p = parentOf.get(c); p && n < all.length; p = parentOf.get(p)) n++;
      return n;
    };
    const doomed = all.filter((s) => !keepChain(s.chainId) && (createdAt.get(s.chainId) ?? 0) < since);
    doomed.sort((a, b) => depth(b.chainId) - depth(a.chainId));
    for (const s of doomed) {
      try {
        snapshots.unlink(s.chainId);
        unlinked.push(s.chainId);
        report.snapshots++;
        report.snapshotBytes += s.size;
      } catch (e) {
        // A kept snapshot (made under a lease) sits on it.
        if (!isBerthError(e, 'FailedPrecondition')) throw e;
      }
    }
  });
  await Promise.all([snapshots.removeDirs(unlinked), content.emptyTrash()]);

  // Leftovers of dead processes; both check liveness themselves.
  await snapshots.sweep();
  // Files of a dead writer go now; those of no known owner once older than the grace and every live lease.
  const cutoff = Math.min(since, Date.now() - (opts.ingestGraceMs ?? INGEST_GRACE_MS));
  const swept = await content.sweepIngest(Math.max(0, Date.now() - cutoff));
  report.ingestFiles = swept.files;
  report.ingestBytes = swept.bytes;
  report.reclaimed = report.blobBytes + report.snapshotBytes + report.ingestBytes;
  if (report.reclaimed > 0 || report.leases > 0) log.debug('garbage collected', { ...report });
  return report;
}

/** Bytes the image store holds, and how many of them only unused images need. */
export interface ImageDiskUsage {
  images: number;
  /** Images a container uses. */
  active: number;
  /** Blobs plus unpacked snapshots of the images. */
  size: number;
  /** What `image prune -a` and a collection would free. */
  reclaimable: number;
  /**
   * What no image references: blobs and snapshots of operations that never finished, and
   * ingest files (partial downloads). `active`: those a live operation holds.
   */
  leftovers: { items: number; active: number; size: number; reclaimable: number };
}

/** Reads only (a full disk must not stop it): dead leases are ignored, not deleted. */
export function imageDiskUsage(store: Store, records: ImageRecords, usedIds: Set<string>, content: ContentStore, snapshots: LayerSnapshots): ImageDiskUsage {
  const images = records.all();
  // What every image references, and what the images in use need: one read of the table.
  const refs = { blobs: new Set<string>(), chainIds: new Set<string>() };
  const needBlobs = new Set<string>();
  const needChains = new Set<string>();
  let active = 0;
  for (const img of images) {
    const used = usedIds.has(img.id);
    if (used) active++;
    for (const d of [img.digest, `sha256:${img.id}`, ...img.layers.map((l) => l.digest)]) {
      refs.blobs.add(d);
      if (used) needBlobs.add(d);
    }
    for (const l of img.layers) {
      refs.chainIds.add(l.chainId);
      if (used) needChains.add(l.chainId);
    }
  }
  const leased = new Leases(store).live({ readOnly: true });
  const leftovers = { items: 0, active: 0, size: 0, reclaimable: 0 };
  const leftover = (bytes: number, held: boolean) => {
    leftovers.items++;
    leftovers.size += bytes;
    if (held) leftovers.active++;
    else leftovers.reclaimable += bytes;
  };
  let size = 0;
  let needed = 0;
  for (const b of content.list()) {
    if (!refs.blobs.has(b.digest)) leftover(b.size, leased.blobs.has(b.digest) || madeSince(content.path(b.digest), leased.since));
    else {
      size += b.size;
      if (needBlobs.has(b.digest)) needed += b.size;
    }
  }
  const createdAt = snapshotTimes(store);
  for (const s of snapshots.list()) {
    if (!refs.chainIds.has(s.chainId)) leftover(s.size, leased.chainIds.has(s.chainId) || (createdAt.get(s.chainId) ?? 0) >= leased.since);
    else {
      size += s.size;
      if (needChains.has(s.chainId)) needed += s.size;
    }
  }
  const cutoff = Math.min(leased.since, Date.now() - INGEST_GRACE_MS);
  for (const e of content.ingestEntries()) leftover(e.size, !abandonedIngest(e, cutoff));
  return { images: images.length, active, size, reclaimable: size - needed, leftovers };
}

function madeSince(path: string, since: number): boolean {
  if (since === Infinity) return false;
  try {
    return statSync(path).mtimeMs >= since;
  } catch {
    return false;
  }
}

function snapshotTimes(store: Store): Map<string, number> {
  const rows = store.db.prepare('SELECT chain_id, created_at FROM snapshots').all() as { chain_id: string; created_at: number }[];
  return new Map(rows.map((r) => [r.chain_id, r.created_at]));
}
