// The containers and exit_codes tables: rows ↔ Container objects. Every statement on
// them lives here; each write is one short transaction. Other folders learn what they
// need (which images containers use) through imageUsers(), which the composition root
// hands them.
import type { Store } from '../store/index.js';
import { recordEvent } from '../events/index.js';
import { alreadyExists, invalidArgument, notFound } from '../errors/index.js';
import type { NetworkStatus } from '../network/index.js';
import type { ImageUsers } from '../image/index.js';
import type { Container, ContainerState } from './types.js';
import type { ContainerSpec } from './spec.js';
import { fromFlagShaped, isFlagShaped } from './legacy.js';

/** How long the exit code of a removed container stays available to `wait` (as podman). */
const EXIT_CODE_RETENTION_MS = 5 * 60_000;

interface Row {
  id: string;
  name: string;
  pod_id: string | null;
  image_id: string | null;
  image_name: string | null;
  config: string;
  state: ContainerState;
  pid: number | null;
  conmon_pid: number | null;
  conmon_token: string | null;
  exit_code: number | null;
  oom_killed: number;
  error: string | null;
  network: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  released: number;
  cleanup_owner: string | null;
  restart_count: number;
  stopped_by_user: number;
  paused: number;
}

function specOf(r: Row): ContainerSpec {
  const cfg = JSON.parse(r.config) as ContainerSpec;
  return isFlagShaped(cfg) ? fromFlagShaped(cfg as Parameters<typeof fromFlagShaped>[0], r.id) : cfg;
}

const fromRow = (r: Row): Container => ({
  id: r.id,
  name: r.name,
  podId: r.pod_id,
  imageId: r.image_id,
  imageName: r.image_name,
  config: specOf(r),
  state: r.state,
  pid: r.pid,
  conmonPid: r.conmon_pid,
  conmonToken: r.conmon_token,
  exitCode: r.exit_code,
  oomKilled: r.oom_killed === 1,
  error: r.error,
  network: r.network ? JSON.parse(r.network) : null,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  released: r.released !== 0,
  cleanupOwner: r.cleanup_owner,
  restartCount: r.restart_count ?? 0,
  stoppedByUser: r.stopped_by_user === 1,
  paused: r.paused === 1,
});

export interface NewContainer {
  id: string;
  name: string;
  podId?: string;
  imageId: string;
  imageName: string | null;
  config: ContainerSpec;
  /** The creating process: owns the 'creating' row until it is 'created'. */
  creator: string; // its processToken
  createdAt: number;
}

/** The pid a processToken names. */
const pidOf = (token: string) => Number.parseInt(token, 10);

/**
 * One namespace's view of the table: listings, name lookups, counts and inserts are the
 * namespace's; lookups by full id, existence and image use span all (ids are unique, and
 * a network sweep or rmi must see every namespace's containers).
 */
export class ContainerRecords {
  constructor(
    private readonly store: Store,
    readonly namespace = 'default',
  ) {}

  /** Newest first; with podId, only that pod's. */
  all(podId?: string): Container[] {
    if (podId) return (this.store.db.prepare('SELECT * FROM containers WHERE namespace = ? AND pod_id = ? ORDER BY created_at DESC').all(this.namespace, podId) as Row[]).map(fromRow);
    // A daemon lists again and again while nothing changes: reading and parsing every row
    // was most of a listing's time. The rows are read again once anything was committed.
    const mark = this.changeMark();
    if (this.listed?.mark !== mark) {
      const rows = this.store.db.prepare('SELECT * FROM containers WHERE namespace = ? ORDER BY created_at DESC').all(this.namespace) as Row[];
      this.listed = { mark, rows: rows.map(fromRow) };
    }
    return [...this.listed.rows];
  }

  /** The namespace's rows as last read, and the store's change mark then (callers do not modify them). */
  private listed?: { mark: string; rows: Container[] };

  /** Changes whenever a commit happened: this connection's (total_changes) or another's (data_version). */
  private changeMark(): string {
    const db = this.store.db;
    const { t } = db.prepare('SELECT total_changes() AS t').get() as { t: number };
    const { data_version: v } = db.prepare('PRAGMA data_version').get() as { data_version: number };
    return `${t}/${v}`;
  }

  /** The namespace's created and running containers' monitors. */
  monitored(): { id: string; conmonPid: number; conmonToken: string | null }[] {
    const rows = this.store.db
      .prepare("SELECT id, conmon_pid, conmon_token FROM containers WHERE namespace = ? AND state IN ('created', 'running') AND conmon_pid IS NOT NULL")
      .all(this.namespace) as { id: string; conmon_pid: number; conmon_token: string | null }[];
    return rows.map((r) => ({ id: r.id, conmonPid: r.conmon_pid, conmonToken: r.conmon_token }));
  }

  /** Records a container event, inside the write that made the change (the row still exists). */
  private event(id: string, action: string, extra: Record<string, string> = {}, time?: number): void {
    const r = this.store.db.prepare('SELECT name, image_name, image_id, pod_id, namespace FROM containers WHERE id = ?').get(id) as
      | { name: string; image_name: string | null; image_id: string | null; pod_id: string | null; namespace: string }
      | undefined;
    if (!r) return;
    const attributes: Record<string, string> = { name: r.name, image: r.image_name ?? r.image_id ?? '', ...extra };
    if (r.pod_id) attributes.pod = r.pod_id;
    recordEvent(this.store.db, { namespace: r.namespace, type: 'container', action, id, attributes, time });
  }

  /** A health check's result (podman's health_status event). */
  async healthEvent(id: string, status: string): Promise<void> {
    await this.store.write(() => this.event(id, 'health_status', { health_status: status }));
  }

  byId(id: string): Container | undefined {
    const row = this.store.db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow(row);
  }

  exists(id: string): boolean {
    return this.store.db.prepare('SELECT 1 FROM containers WHERE id = ?').get(id) !== undefined;
  }

  /** By full id, name, or unique id prefix. */
  lookup(ref: string): Container {
    const db = this.store.db;
    let row = db.prepare('SELECT * FROM containers WHERE namespace = ? AND (id = ? OR name = ?)').get(this.namespace, ref, ref) as Row | undefined;
    if (!row && /^[0-9a-f]{1,63}$/.test(ref)) {
      const rows = db.prepare("SELECT * FROM containers WHERE namespace = ? AND id LIKE ? || '%' LIMIT 2").all(this.namespace, ref) as Row[];
      if (rows.length > 1) throw invalidArgument(`multiple containers found with ID prefix "${ref}"`);
      row = rows[0];
    }
    if (!row) throw notFound(`no such container: ${ref}`);
    return fromRow(row);
  }

  nameTaken(name: string): boolean {
    return this.store.db.prepare('SELECT 1 FROM containers WHERE name = ?').get(name) !== undefined;
  }

  /** A 'creating' row whose pid is the creator's, so an interrupted creation can be told from one in progress. */
  async insertCreating(c: NewContainer): Promise<void> {
    try {
      await this.store.write(() =>
        this.store.db
          .prepare(
            `INSERT INTO containers (id, name, pod_id, image_id, image_name, config, state, pid, cleanup_owner, created_at, namespace)
             VALUES (?, ?, ?, ?, ?, ?, 'creating', ?, ?, ?, ?)`,
          )
          .run(c.id, c.name, c.podId ?? null, c.imageId, c.imageName, JSON.stringify(c.config), pidOf(c.creator), c.creator, c.createdAt, this.namespace),
      );
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const other = this.store.db.prepare('SELECT id FROM containers WHERE name = ?').get(c.name) as { id: string } | undefined;
        throw alreadyExists(
          `the container name "${c.name}" is already in use by ${other?.id ?? 'another container'}; remove or rename that container to reuse the name`,
        );
      }
      throw e;
    }
  }

  /** stopped (and released) → creating, owned by creator (a processToken: a restart); false when someone else got there first. */
  async claimForRecreate(id: string, creator: string): Promise<boolean> {
    return this.store.write(
      () =>
        this.store.db
          .prepare("UPDATE containers SET state = 'creating', pid = ?, cleanup_owner = ? WHERE id = ? AND state = 'stopped' AND released = 1")
          .run(pidOf(creator), creator, id).changes > 0,
    );
  }

  /** Back to stopped after a restart that failed or whose creator died. */
  async backToStopped(id: string, onlyIfCreating = false): Promise<void> {
    const sql = `UPDATE containers SET state = 'stopped', pid = NULL, cleanup_owner = NULL WHERE id = ?${onlyIfCreating ? " AND state = 'creating'" : ''}`;
    await this.store.write(() => this.store.db.prepare(sql).run(id));
  }

  /** The monitor (conmon, and its processToken) reported the container's pid: a new incarnation. */
  async setCreated(id: string, pid: number, conmon: { pid: number; token: string }): Promise<void> {
    await this.store.write(() => {
      // A container's first incarnation is its creation; later ones are restarts.
      const first = (this.store.db.prepare('SELECT started_at FROM containers WHERE id = ?').get(id) as { started_at: number | null } | undefined)?.started_at === null;
      this.store.db
        .prepare(
          `UPDATE containers SET state = 'created', pid = ?, conmon_pid = ?, conmon_token = ?, cleanup_owner = NULL, exit_code = NULL, error = NULL, paused = 0,
           start_requested_at = NULL WHERE id = ?`,
        )
        .run(pid, conmon.pid, conmon.token, id);
      if (first) this.event(id, 'create');
    });
  }

  /** A user stopped (true) or started (false) the container: its restart policy waits for a start. */
  async setStoppedByUser(id: string, stopped: boolean): Promise<void> {
    await this.store.write(() => this.store.db.prepare('UPDATE containers SET stopped_by_user = ? WHERE id = ?').run(stopped ? 1 : 0, id));
  }

  /**
   * The runtime froze (true) or thawed (false) the running container: records it with its
   * event (pause, unpause) when it changes anything.
   */
  async setPaused(id: string, paused: boolean): Promise<void> {
    await this.store.write(() => {
      const changed = this.store.db.prepare("UPDATE containers SET paused = ? WHERE id = ? AND state = 'running' AND paused = ?").run(paused ? 1 : 0, id, paused ? 0 : 1).changes;
      if (changed) this.event(id, paused ? 'pause' : 'unpause');
    });
  }

  /** One more restart by the container's policy. */
  async countRestart(id: string): Promise<void> {
    await this.store.write(() => this.store.db.prepare('UPDATE containers SET restart_count = restart_count + 1 WHERE id = ?').run(id));
  }

  /**
   * The runtime is about to start the created incarnation: from now on its exit implies its
   * start (recordExit records both, in order, when it comes before setRunning).
   */
  async setStartRequested(id: string, at: number): Promise<void> {
    await this.store.write(() => this.store.db.prepare("UPDATE containers SET start_requested_at = ? WHERE id = ? AND state = 'created'").run(at, id));
  }

  /** The runtime's start failed: the process never ran. */
  async clearStartRequested(id: string): Promise<void> {
    await this.store.write(() => this.store.db.prepare('UPDATE containers SET start_requested_at = NULL WHERE id = ?').run(id));
  }

  /** Running since the start was asked of the runtime (else startedAt): never after an exit the monitor timed. */
  async setRunning(id: string, startedAt: number): Promise<void> {
    await this.store.write(() => {
      const changed = this.store.db
        .prepare(
          "UPDATE containers SET state = 'running', started_at = coalesce(start_requested_at, ?), finished_at = NULL, start_requested_at = NULL WHERE id = ? AND state = 'created'",
        )
        .run(startedAt, id).changes;
      if (changed) this.event(id, 'start');
    });
  }

  /**
   * Records an exit for the incarnation whose monitor reported it, with the release still
   * to do and owner (a processToken) doing it: false when the row is not that
   * incarnation's any more (a restart made a new monitor) or already stopped.
   */
  async recordExit(
    id: string,
    e: { code: number; oomKilled: boolean; error?: string; monitorPid: number | null; at: number; owner: string },
  ): Promise<boolean> {
    return this.store.write(() => {
      const db = this.store.db;
      const before = db.prepare('SELECT state, start_requested_at FROM containers WHERE id = ?').get(id) as { state: string; start_requested_at: number | null } | undefined;
      // Started, but the exit came before the starter recorded it running: the start first.
      const startedAt = before?.state === 'created' ? before.start_requested_at : null;
      const changed =
        db
          .prepare(
            `UPDATE containers SET state = 'stopped', exit_code = ?, finished_at = ?, oom_killed = ?, error = ?, released = 0, cleanup_owner = ?, paused = 0,
             started_at = coalesce(?, started_at), start_requested_at = NULL
             WHERE id = ? AND state IN ('created', 'running') AND conmon_pid IS ?`,
          )
          .run(e.code, e.at, e.oomKilled ? 1 : 0, e.error ?? null, e.owner, startedAt, id, e.monitorPid).changes > 0;
      if (changed) {
        if (startedAt !== null) this.event(id, 'start', {}, startedAt);
        if (e.oomKilled) this.event(id, 'oom');
        this.event(id, 'die', { exitCode: String(e.code) });
      }
      return changed;
    });
  }

  /** The release after an exit is done. */
  async setReleased(id: string): Promise<void> {
    await this.store.write(() =>
      this.store.db.prepare("UPDATE containers SET released = 1, cleanup_owner = NULL WHERE id = ? AND state = 'stopped'").run(id),
    );
  }

  /**
   * Takes over an unfinished release or removal whose owner died (compare and swap on the
   * owner seen): false when another process got there first.
   */
  async claimCleanup(c: Pick<Container, 'id' | 'state' | 'cleanupOwner'>, owner: string): Promise<boolean> {
    return this.store.write(
      () =>
        this.store.db
          .prepare(
            `UPDATE containers SET cleanup_owner = ?
             WHERE id = ? AND state = ? AND cleanup_owner IS ? AND (state = 'removing' OR released = 0)`,
          )
          .run(owner, c.id, c.state, c.cleanupOwner).changes > 0,
    );
  }

  async setNetwork(id: string, status: NetworkStatus | null): Promise<void> {
    await this.store.write(() => this.store.db.prepare('UPDATE containers SET network = ? WHERE id = ?').run(status ? JSON.stringify(status) : null, id));
  }

  async setConfig(id: string, config: ContainerSpec): Promise<void> {
    await this.store.write(() => this.store.db.prepare('UPDATE containers SET config = ? WHERE id = ?').run(JSON.stringify(config), id));
  }

  async rename(id: string, name: string, config: ContainerSpec): Promise<void> {
    try {
      await this.store.write(() => {
        const old = this.store.db.prepare('SELECT name FROM containers WHERE id = ?').get(id) as { name: string } | undefined;
        this.store.db.prepare('UPDATE containers SET name = ?, config = ? WHERE id = ?').run(name, JSON.stringify(config), id);
        if (old) this.event(id, 'rename', { oldName: old.name });
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw alreadyExists(`the container name "${name}" is already in use`);
      throw e;
    }
  }

  /** A release or removal that failed: the next look tries again, in any process. */
  async dropCleanupOwner(id: string): Promise<void> {
    await this.store.write(() => this.store.db.prepare('UPDATE containers SET cleanup_owner = NULL WHERE id = ?').run(id));
  }

  /** Marks the row 'removing' by owner (a processToken), keeping a stopped container's exit code for late waiters. */
  async markRemoving(id: string, owner: string, now = Date.now()): Promise<void> {
    await this.store.write(() => {
      const db = this.store.db;
      const row = db.prepare("SELECT exit_code FROM containers WHERE id = ? AND state = 'stopped'").get(id) as { exit_code: number | null } | undefined;
      if (row?.exit_code != null) {
        db.prepare('DELETE FROM exit_codes WHERE recorded_at < ?').run(now - EXIT_CODE_RETENTION_MS);
        db.prepare('INSERT OR REPLACE INTO exit_codes (id, exit_code, recorded_at) VALUES (?, ?, ?)').run(id, row.exit_code, now);
      }
      db.prepare("UPDATE containers SET state = 'removing', cleanup_owner = ? WHERE id = ?").run(owner, id);
    });
  }

  async delete(id: string): Promise<void> {
    await this.store.write(() => {
      this.event(id, 'destroy');
      this.store.db.prepare('DELETE FROM containers WHERE id = ?').run(id);
    });
  }

  /** The exit code of a container removed recently. */
  removedExitCode(id: string): number | undefined {
    const row = this.store.db.prepare('SELECT exit_code FROM exit_codes WHERE id = ?').get(id) as { exit_code: number } | undefined;
    return row?.exit_code;
  }

  /** As docker counts: a paused container is not running; stopped is every other state. */
  counts(): { total: number; running: number; paused: number; stopped: number } {
    const rows = this.store.db.prepare('SELECT state, paused, count(*) AS n FROM containers WHERE namespace = ? GROUP BY state, paused').all(this.namespace) as { state: string; paused: number; n: number }[];
    const n = (test: (r: { state: string; paused: number }) => boolean) => rows.filter(test).reduce((a, r) => a + r.n, 0);
    const running = n((r) => r.state === 'running' && !r.paused);
    const paused = n((r) => r.state === 'running' && !!r.paused);
    const total = n(() => true);
    return { total, running, paused, stopped: total - running - paused };
  }

  /** The volume store's port: the containers (of every namespace) that mount a volume. */
  volumeUsers(): (name: string) => string[] {
    const q = this.store.db.prepare(
      `SELECT DISTINCT c.id FROM containers c, json_each(c.config, '$.mounts') m
       WHERE json_extract(m.value, '$.type') = 'volume' AND json_extract(m.value, '$.name') = ?`,
    );
    return (name) => (q.all(name) as { id: string }[]).map((r) => r.id);
  }

  /** The image store's port: which images containers use. */
  imageUsers(): ImageUsers {
    const db = this.store.db;
    return {
      containersUsing: (imageId) => (db.prepare('SELECT id FROM containers WHERE image_id = ?').all(imageId) as { id: string }[]).map((r) => r.id),
      imagesInUse: () =>
        new Set((db.prepare('SELECT DISTINCT image_id FROM containers WHERE image_id IS NOT NULL').all() as { image_id: string }[]).map((r) => r.image_id)),
    };
  }
}
