// The overlay snapshotter: one directory per unpacked layer (<dir>/<chainIdHex>/fs), keyed
// by chain ID in the `snapshots` table, stacked with overlayfs into container rootfses.
//
// Several processes share one store. An extraction claims its work with a temp dir named
// after its pid (.tmp-<hex>-<pid>-<rand>) that lives until the row is committed; others
// wait while that pid lives, and sweep() only removes what dead processes left behind.
import { upperChanges, type Change } from './diff.js';
import { existsSync, mkdirSync, realpathSync, renameSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { failedPrecondition, fromSystemError, invalidArgument, isBerthError, notFound, unavailable } from '../errors/index.js';
import type { Store } from '../store/index.js';
import { isMountPoint, mountAt, unmount, processIoBytes, processToken, tokenAlive, MNT_DETACH } from '../sys/index.js';
import { applyLayer } from './apply.js';
import { removeTree, type LayerFile } from './worker.js';

const TMP_PREFIX = '.tmp-';
const REMOVING_PREFIX = '.rm-';
const EMPTY_LOWER = 'empty';
/** How often a process waiting for another one's extraction looks again. */
const WAIT_POLL_MS = 50;
/** A waiter gives up once the extracting process has done no I/O for this long. */
const WAIT_STALL_MS = 60_000;

export interface EnsureOptions {
  signal?: AbortSignal;
  /** Called once when another living process unpacks the snapshot and this one waits. */
  onWait?: (extractorPid: number) => void;
  /** How long that process may do no I/O before the waiter gives up. */
  stallMs?: number;
  /** The layer's uncompressed tar must hash to its diffId (else DataLoss). */
  verify?: boolean;
}

interface SnapshotRow {
  chain_id: string;
  parent: string | null;
  diff_id: string;
  size: number;
  state: 'extracting' | 'committed';
  created_at: number;
}

function hexOf(chainId: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(chainId);
  if (!m) throw invalidArgument(`invalid chain ID "${chainId}" (want sha256:<64 hex>)`);
  return m[1];
}

/** A work dir's name: ".tmp-<hex>-<processToken>-<rand>" (".rm-…"), so a reused pid is not taken for its owner. */
function workDirName(prefix: string, hex: string): string {
  return `${prefix}${hex}-${processToken()}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Parses workDirName's names, and older ones with a bare pid. */
function parseWorkDir(name: string): { kind: 'tmp' | 'rm'; hex: string; owner: string } | null {
  const m = /^\.(tmp|rm)-([0-9a-f]{64})-([0-9]+(?:-[0-9]+)?)-[0-9a-z]+$/.exec(name);
  return m ? { kind: m[1] as 'tmp' | 'rm', hex: m[2], owner: m[3] } : null;
}

export class Snapshotter {
  private readonly dir: string;
  private readonly store: Store;
  /** Extractions in flight in this process, so callers here share one. */
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(dir: string, store: Store) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.dir = realpathSync(dir);
    this.store = store;
  }

  private row(chainId: string): SnapshotRow | undefined {
    return this.store.db.prepare('SELECT * FROM snapshots WHERE chain_id = ?').get(chainId) as SnapshotRow | undefined;
  }

  private fsDir(hex: string): string {
    return join(this.dir, hex, 'fs');
  }

  /** Committed row and directory present. */
  has(chainId: string): boolean {
    const row = this.row(chainId);
    return row?.state === 'committed' && existsSync(this.fsDir(hexOf(chainId)));
  }

  /**
   * Makes sure snapshot chainId exists, unpacking the layer that open() yields (a tar,
   * plain or compressed: a stream or a file) when it does not; with verify, the tar must
   * hash to diffId.
   */
  ensure(chainId: string, parent: string | null, diffId: string, open: () => Promise<Readable | LayerFile>, opts: EnsureOptions = {}): Promise<void> {
    hexOf(chainId);
    if (parent !== null) hexOf(parent);
    const running = this.inflight.get(chainId);
    if (running) return running;
    const p = this.ensureOnce(chainId, parent, diffId, open, opts).finally(() => this.inflight.delete(chainId));
    this.inflight.set(chainId, p);
    return p;
  }

  private async ensureOnce(chainId: string, parent: string | null, diffId: string, open: () => Promise<Readable | LayerFile>, o: EnsureOptions): Promise<void> {
    const { signal } = o;
    const hex = hexOf(chainId);
    const stallMs = o.stallMs ?? WAIT_STALL_MS;
    let watched: { owner: string; io: number | undefined; since: number } | undefined;
    for (;;) {
      if (this.has(chainId)) return;
      // Another process is unpacking it: wait for its result while it makes progress.
      const owner = await this.liveExtractor(hex);
      if (owner === undefined) break;
      const pid = Number.parseInt(owner, 10);
      const io = processIoBytes(pid);
      const now = Date.now();
      if (watched?.owner !== owner || io !== watched.io) {
        if (!watched) o.onWait?.(pid);
        watched = { owner, io, since: now };
      } else if (now - watched.since >= stallMs) {
        throw unavailable(`gave up waiting for another process (pid ${pid}) unpacking layer ${diffId}: it made no progress for ${Math.round(stallMs / 1000)} s`);
      }
      signal?.throwIfAborted();
      await sleep(WAIT_POLL_MS);
    }

    // The row comes first, so a crash at any later point leaves something sweep() finds.
    await this.store.write(() =>
      this.store.db
        .prepare(`INSERT INTO snapshots (chain_id, parent, diff_id, size, state, created_at)
                  VALUES (?, ?, ?, 0, 'extracting', ?) ON CONFLICT (chain_id) DO NOTHING`)
        .run(chainId, parent, diffId, Date.now()),
    );
    const tmp = join(this.dir, workDirName(TMP_PREFIX, hex));
    mkdirSync(tmp);
    try {
      const staging = join(tmp, 'fs');
      mkdirSync(staging, 0o755);
      const layer = await open();
      let size: number;
      try {
        ({ size } = await applyLayer(layer, staging, { signal, diffId: o.verify ? diffId : undefined }));
      } finally {
        layer.destroy();
      }
      const final = this.fsDir(hex);
      mkdirSync(join(this.dir, hex), { recursive: true, mode: 0o700 });
      try {
        // Fails when another process got there first (its fs is never empty … except for
        // an empty layer, where replacing it changes nothing); then theirs is kept.
        if (!existsSync(final)) renameSync(staging, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      }
      // Upsert: a sweep may have dropped the row while we worked.
      await this.store.write(() => {
        this.store.db
          .prepare(`INSERT INTO snapshots (chain_id, parent, diff_id, size, state, created_at)
                    VALUES (?, ?, ?, ?, 'committed', ?)
                    ON CONFLICT (chain_id) DO UPDATE SET state = 'committed', size = excluded.size,
                      parent = excluded.parent, diff_id = excluded.diff_id`)
          .run(chainId, parent, diffId, size, Date.now());
      });
    } catch (e) {
      await this.store.write(() => this.store.db.prepare(`DELETE FROM snapshots WHERE chain_id = ? AND state = 'extracting'`).run(chainId));
      if ((e as Error).name === 'AbortError') throw e;
      throw fromSystemError(e, `unpacking layer ${diffId}`);
    } finally {
      await removeTree(tmp);
    }
  }

  /** The token of a living process (this one included) that holds a temp dir for hex. */
  private async liveExtractor(hex: string): Promise<string | undefined> {
    for (const name of await readdir(this.dir)) {
      const w = parseWorkDir(name);
      if (w?.kind === 'tmp' && w.hex === hex && tokenAlive(w.owner)) return w.owner;
    }
    return undefined;
  }

  /** Overlay-mounts a container rootfs at containerDir/rootfs with upper/work dirs beside it;
   *  topChainId null mounts an empty rootfs. Returns the rootfs path. Idempotent. */
  /** The overlay lower dirs of a rootfs on topChainId, top first, relative to the snapshot dir. */
  lowerDirs(topChainId: string | null): string[] {
    if (topChainId === null) {
      mkdirSync(join(this.dir, EMPTY_LOWER), { recursive: true, mode: 0o755 });
      return [EMPTY_LOWER];
    }
    const lowers: string[] = [];
    const seen = new Set<string>();
    for (let id: string | null = topChainId; id !== null; ) {
      if (seen.has(id)) throw failedPrecondition(`snapshot chain of ${topChainId} has a cycle`);
      seen.add(id);
      const row = this.row(id);
      if (!row || !this.has(id)) throw notFound(`no such snapshot: ${id}`);
      lowers.push(`${hexOf(id)}/fs`);
      id = row.parent;
    }
    return lowers;
  }

  /** What a container changed on top of its image (docker's diff), from its upper dir. */
  async changes(topChainId: string | null, containerDir: string): Promise<Change[]> {
    return upperChanges(join(containerDir, 'upper'), this.lowerDirs(topChainId).map((l) => join(this.dir, l)));
  }

  async mountRootfs(topChainId: string | null, containerDir: string, opts: { volatile?: boolean } = {}): Promise<string> {
    const rootfs = join(containerDir, 'rootfs');
    const upper = join(containerDir, 'upper');
    const work = join(containerDir, 'work');
    for (const d of [containerDir, rootfs, upper, work]) mkdirSync(d, { recursive: true, mode: 0o755 });
    if (await isMountPoint(realpathSync(rootfs))) return rootfs;

    const lowers = this.lowerDirs(topChainId);
    // Lower dirs are relative to the snapshot dir, so ~50 layers still fit the one-page
    // limit of mount data; the kernel resolves them against the mounting thread's working
    // directory (mountAt's own thread: the process's cwd stays as it is).
    // volatile: no syncs of the upper dir (mount and unmount get much cheaper), for
    // containers whose writes need not survive a crash; overlayfs then refuses to reuse the
    // upper dir after a crash, which suits a container that is removed when it exits.
    const data = `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}${opts.volatile ? ',volatile' : ''}`;
    if (Buffer.byteLength(data) >= 4096) {
      throw invalidArgument(`too many layers to mount (${lowers.length}): overlay options exceed one page`);
    }
    try {
      await mountAt(this.dir, 'overlay', rootfs, 'overlay', 0, data);
    } catch (e) {
      throw fromSystemError(e, `mounting rootfs at ${rootfs}`);
    }
    return rootfs;
  }

  /**
   * Unmounts containerDir/rootfs; no error if it is not mounted. Lazily (MNT_DETACH), as
   * containers/storage does: the container is gone, and the kernel finishes tearing the
   * overlay down without making the caller wait for it.
   */
  unmountRootfs(containerDir: string): void {
    const rootfs = join(containerDir, 'rootfs');
    try {
      unmount(rootfs, MNT_DETACH);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EBUSY') throw failedPrecondition(`rootfs ${rootfs} is busy`);
      throw fromSystemError(e, `unmounting ${rootfs}`);
    }
  }

  /** Removes a snapshot; FailedPrecondition while a child snapshot exists. */
  async remove(chainId: string): Promise<void> {
    await this.store.write(() => this.unlink(chainId));
    await this.removeDirs([chainId]);
  }

  /**
   * Removes snapshots in one write, then their directories. A snapshot with a child stays
   * (with its error); until: 'blocked' stops at the first such one (a chain from the top,
   * whose lower layers are then shared too), 'done' retries the rest while any goes (a
   * child may come later in the list). Returns what stayed.
   */
  async removeAll(chainIds: string[], until: 'blocked' | 'done'): Promise<Map<string, unknown>> {
    const removed: string[] = [];
    const kept = await this.store.write(() => {
      let pending = chainIds;
      for (;;) {
        const left = new Map<string, unknown>();
        for (const chainId of pending) {
          if (until === 'blocked' && left.size > 0) break;
          try {
            this.unlink(chainId);
            removed.push(chainId);
          } catch (e) {
            if (!isBerthError(e)) throw e;
            left.set(chainId, e);
          }
        }
        if (until === 'blocked' || left.size === 0 || left.size === pending.length) return left;
        pending = [...left.keys()];
      }
    });
    await this.removeDirs(removed);
    return kept;
  }

  /**
   * Deletes a snapshot's row, inside the caller's transaction (a collection unlinks many in
   * one); removeDirs() then removes the directories, after the commit. The row goes first:
   * a crash in between leaves orphan dirs, which sweep() removes.
   */
  unlink(chainId: string): void {
    const hex = hexOf(chainId);
    const child = this.store.db.prepare('SELECT chain_id FROM snapshots WHERE parent = ? LIMIT 1').get(chainId) as { chain_id: string } | undefined;
    if (child) throw failedPrecondition(`snapshot ${chainId} has a child snapshot ${child.chain_id}`);
    const r = this.store.db.prepare('DELETE FROM snapshots WHERE chain_id = ?').run(chainId);
    if (r.changes === 0 && !existsSync(join(this.dir, hex))) throw notFound(`no such snapshot: ${chainId}`);
  }

  /** Removes the directories of unlinked snapshots: renamed aside at once, deleted off the main thread. */
  async removeDirs(chainIds: string[]): Promise<void> {
    const aside = chainIds.map((c) => this.moveAside(hexOf(c))).filter((p): p is string => p !== null);
    await Promise.all(aside.map((p) => removeTree(p)));
  }

  /** Renames the dir out of the way, so a half-removed tree is never mistaken for a snapshot. */
  private moveAside(hex: string): string | null {
    const doomed = join(this.dir, workDirName(REMOVING_PREFIX, hex));
    try {
      renameSync(join(this.dir, hex), doomed);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return doomed;
  }

  list(): { chainId: string; parent: string | null; size: number }[] {
    const rows = this.store.db
      .prepare(`SELECT chain_id, parent, size FROM snapshots WHERE state = 'committed' ORDER BY created_at, chain_id`)
      .all() as Pick<SnapshotRow, 'chain_id' | 'parent' | 'size'>[];
    return rows.map((r) => ({ chainId: r.chain_id, parent: r.parent, size: r.size }));
  }

  /** Removes crash leftovers: 'extracting' rows, temp dirs and snapshot dirs without a
   *  committed row, unless a living process is still working on them. */
  async sweep(): Promise<void> {
    const names = await readdir(this.dir);
    const busy = new Set<string>();
    const dead: string[] = [];
    for (const name of names) {
      const w = parseWorkDir(name);
      if (!w) continue;
      if (tokenAlive(w.owner)) {
        if (w.kind === 'tmp') busy.add(w.hex);
      } else {
        dead.push(join(this.dir, name));
      }
    }
    await Promise.all(dead.map((p) => removeTree(p)));
    const committed = new Set<string>();
    const stale: string[] = [];
    for (const r of this.store.db.prepare('SELECT chain_id, state FROM snapshots').all() as Pick<SnapshotRow, 'chain_id' | 'state'>[]) {
      const hex = /^sha256:([0-9a-f]{64})$/.exec(r.chain_id)?.[1];
      if (!hex) continue;
      if (r.state === 'committed') committed.add(hex);
      else if (!busy.has(hex)) stale.push(r.chain_id);
    }
    for (const chainId of stale) {
      this.store.db.prepare(`DELETE FROM snapshots WHERE chain_id = ? AND state = 'extracting'`).run(chainId);
    }
    const orphans = names.filter((name) => /^[0-9a-f]{64}$/.test(name) && !committed.has(name) && !busy.has(name));
    await this.removeDirs(orphans.map((hex) => `sha256:${hex}`));
  }
}
