// The pods table: rows ↔ Pod objects. Every statement on it lives here; each write is one
// short transaction.
import type { Store } from '../store/index.js';
import { recordEvent } from '../events/index.js';
import { alreadyExists, invalidArgument, notFound } from '../errors/index.js';
import type { NetworkStatus } from '../network/index.js';
import type { PodSpec } from './spec.js';
import type { Pod, PodState } from './types.js';

interface Row {
  id: string;
  name: string;
  state: PodState;
  config: string;
  network: string | null;
  infra: string | null;
  owner: string | null;
  created_at: number;
}

const fromRow = (r: Row): Pod => {
  const spec = JSON.parse(r.config) as PodSpec;
  return {
    id: r.id,
    name: r.name,
    spec,
    state: r.state,
    hostname: spec.hostname ?? '',
    network: r.network ? JSON.parse(r.network) : null,
    infra: r.infra ? JSON.parse(r.infra) : null,
    owner: r.owner,
    createdAt: r.created_at,
  };
};

/** One namespace's pods (see ContainerRecords): by full id and existence across all. */
export class PodRecords {
  constructor(
    private readonly store: Store,
    readonly namespace = 'default',
  ) {}

  /** Newest first. */
  all(): Pod[] {
    return (this.store.db.prepare('SELECT * FROM pods WHERE namespace = ? ORDER BY created_at DESC').all(this.namespace) as Row[]).map(fromRow);
  }

  /** Records a pod event inside the write that made the change. */
  private event(id: string, action: string): void {
    const r = this.store.db.prepare('SELECT name, namespace FROM pods WHERE id = ?').get(id) as { name: string; namespace: string } | undefined;
    if (r) recordEvent(this.store.db, { namespace: r.namespace, type: 'pod', action, id, attributes: { name: r.name } });
  }

  byId(id: string): Pod | undefined {
    const row = this.store.db.prepare('SELECT * FROM pods WHERE id = ?').get(id) as Row | undefined;
    return row && fromRow(row);
  }

  exists(id: string): boolean {
    return this.store.db.prepare('SELECT 1 FROM pods WHERE id = ?').get(id) !== undefined;
  }

  /** By full id, name, or unique id prefix. */
  lookup(ref: string): Pod {
    const db = this.store.db;
    let row = db.prepare('SELECT * FROM pods WHERE namespace = ? AND (id = ? OR name = ?)').get(this.namespace, ref, ref) as Row | undefined;
    if (!row && /^[0-9a-f]{1,63}$/.test(ref)) {
      const rows = db.prepare("SELECT * FROM pods WHERE namespace = ? AND id LIKE ? || '%' LIMIT 2").all(this.namespace, ref) as Row[];
      if (rows.length > 1) throw invalidArgument(`multiple pods found with ID prefix "${ref}"`);
      row = rows[0];
    }
    if (!row) throw notFound(`no such pod: ${ref}`);
    return fromRow(row);
  }

  /** A 'creating' row owned by owner (a processToken). */
  async insertCreating(p: { id: string; name: string; spec: PodSpec; owner: string; createdAt: number }): Promise<void> {
    try {
      await this.store.write(() =>
        this.store.db
          .prepare("INSERT INTO pods (id, name, state, config, owner, created_at, namespace) VALUES (?, ?, 'creating', ?, ?, ?, ?)")
          .run(p.id, p.name, JSON.stringify(p.spec), p.owner, p.createdAt, this.namespace),
      );
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const other = this.store.db.prepare('SELECT id FROM pods WHERE name = ?').get(p.name) as { id: string } | undefined;
        throw alreadyExists(`the pod name "${p.name}" is already in use by ${other?.id ?? 'another pod'}`);
      }
      throw e;
    }
  }

  async setReady(id: string, network: NetworkStatus | null, infra: Pod['infra']): Promise<void> {
    await this.store.write(() => {
      const changed = this.store.db
        .prepare("UPDATE pods SET state = 'ready', network = ?, infra = ?, owner = NULL WHERE id = ? AND state = 'creating'")
        .run(network && JSON.stringify(network), infra && JSON.stringify(infra), id).changes;
      if (changed) this.event(id, 'create');
    });
  }

  /** The infra process, recorded as soon as it runs (a crash before 'ready' must still end it). */
  async setInfra(id: string, infra: Pod['infra']): Promise<void> {
    await this.store.write(() => this.store.db.prepare('UPDATE pods SET infra = ? WHERE id = ?').run(infra && JSON.stringify(infra), id));
  }

  async setNotReady(id: string): Promise<void> {
    await this.store.write(() => {
      const changed = this.store.db.prepare("UPDATE pods SET state = 'notready', network = NULL, infra = NULL WHERE id = ? AND state = 'ready'").run(id).changes;
      if (changed) this.event(id, 'stop');
    });
  }

  /** 'removing' by owner; from 'creating' or 'removing' only when expectedOwner still holds it (compare and swap). */
  async claimRemoval(p: Pick<Pod, 'id' | 'state' | 'owner'>, owner: string): Promise<boolean> {
    return this.store.write(
      () =>
        this.store.db
          .prepare("UPDATE pods SET state = 'removing', owner = ? WHERE id = ? AND state = ? AND owner IS ?")
          .run(owner, p.id, p.state, p.owner).changes > 0,
    );
  }

  /** A removal that failed: the next look (of any process) tries again. */
  async dropOwner(id: string): Promise<void> {
    await this.store.write(() => this.store.db.prepare('UPDATE pods SET owner = NULL WHERE id = ?').run(id));
  }

  async delete(id: string): Promise<void> {
    await this.store.write(() => {
      // Only a pod that was ever ready had a 'create' (a failed creation leaves no trace).
      const created = this.store.db.prepare("SELECT 1 FROM events WHERE type = 'pod' AND action = 'create' AND id = ?").get(id) !== undefined;
      if (created) this.event(id, 'remove');
      this.store.db.prepare('DELETE FROM pods WHERE id = ?').run(id);
    });
  }
}
