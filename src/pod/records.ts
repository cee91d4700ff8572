// The pods table: rows ↔ Pod objects. Every statement on it lives here; each write is one
// short transaction.
import type { Store } from '../store/index.js';
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
    owner: r.owner,
    createdAt: r.created_at,
  };
};

export class PodRecords {
  constructor(private readonly store: Store) {}

  /** Newest first. */
  all(): Pod[] {
    return (this.store.db.prepare('SELECT * FROM pods ORDER BY created_at DESC').all() as Row[]).map(fromRow);
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
    let row = db.prepare('SELECT * FROM pods WHERE id = ? OR name = ?').get(ref, ref) as Row | undefined;
    if (!row && /^[0-9a-f]{1,63}$/.test(ref)) {
      const rows = db.prepare("SELECT * FROM pods WHERE id LIKE ? || '%' LIMIT 2").all(ref) as Row[];
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
          .prepare("INSERT INTO pods (id, name, state, config, owner, created_at) VALUES (?, ?, 'creating', ?, ?, ?)")
          .run(p.id, p.name, JSON.stringify(p.spec), p.owner, p.createdAt),
      );
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const other = this.store.db.prepare('SELECT id FROM pods WHERE name = ?').get(p.name) as { id: string } | undefined;
        throw alreadyExists(`the pod name "${p.name}" is already in use by ${other?.id ?? 'another pod'}`);
      }
      throw e;
    }
  }

  async setReady(id: string, network: NetworkStatus | null): Promise<void> {
    await this.store.write(() =>
      this.store.db.prepare("UPDATE pods SET state = 'ready', network = ?, owner = NULL WHERE id = ? AND state = 'creating'").run(network && JSON.stringify(network), id),
    );
  }

  async setNotReady(id: string): Promise<void> {
    await this.store.write(() => this.store.db.prepare("UPDATE pods SET state = 'notready', network = NULL WHERE id = ? AND state = 'ready'").run(id));
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
    await this.store.write(() => this.store.db.prepare('DELETE FROM pods WHERE id = ?').run(id));
  }
}
