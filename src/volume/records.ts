// The volumes table: rows ↔ Volume objects. Every statement on it lives here; each write
// is one short transaction.
import type { Store } from '../store/index.js';
import { alreadyExists } from '../errors/index.js';
import { recordEvent } from '../events/index.js';
import type { Volume, VolumeState } from './types.js';

interface Row {
  name: string;
  state: VolumeState;
  owner: string | null;
  labels: string;
  options: string;
  anonymous: number;
  needs_copy_up: number;
  created_at: number;
}

const fromRow = (r: Row): Volume => ({
  name: r.name,
  state: r.state,
  owner: r.owner,
  labels: JSON.parse(r.labels),
  options: JSON.parse(r.options),
  anonymous: r.anonymous !== 0,
  needsCopyUp: r.needs_copy_up !== 0,
  createdAt: r.created_at,
});

export class VolumeRecords {
  constructor(
    private readonly store: Store,
    /** The namespace whose event log hears of volumes made and removed (volumes are shared by all). */
    private readonly namespace = 'default',
  ) {}

  private event(name: string, action: string): void {
    recordEvent(this.store.db, { namespace: this.namespace, type: 'volume', action, id: name, attributes: { name } });
  }

  all(): Volume[] {
    return (this.store.db.prepare('SELECT * FROM volumes ORDER BY name').all() as Row[]).map(fromRow);
  }

  byName(name: string): Volume | undefined {
    const r = this.store.db.prepare('SELECT * FROM volumes WHERE name = ?').get(name) as Row | undefined;
    return r && fromRow(r);
  }

  async insertCreating(v: Pick<Volume, 'name' | 'labels' | 'options' | 'anonymous' | 'createdAt'>, owner: string): Promise<void> {
    try {
      await this.store.write(() =>
        this.store.db
          .prepare("INSERT INTO volumes (name, state, owner, labels, options, anonymous, created_at) VALUES (?, 'creating', ?, ?, ?, ?, ?)")
          .run(v.name, owner, JSON.stringify(v.labels), JSON.stringify(v.options), v.anonymous ? 1 : 0, v.createdAt),
      );
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw alreadyExists(`volume with name ${v.name} already exists`);
      throw e;
    }
  }

  async setReady(name: string): Promise<void> {
    await this.store.write(() => {
      if (this.store.db.prepare("UPDATE volumes SET state = 'ready', owner = NULL WHERE name = ? AND state = 'creating'").run(name).changes > 0) this.event(name, 'create');
    });
  }

  async setCopiedUp(name: string): Promise<void> {
    await this.store.write(() => this.store.db.prepare('UPDATE volumes SET needs_copy_up = 0 WHERE name = ?').run(name));
  }

  /**
   * Marks the volume 'removing' by owner if it is ready and (unless force) no container uses
   * it, in one transaction with the users' check: false when it has users.
   */
  async markRemoving(name: string, owner: string, users: () => string[], force: boolean): Promise<boolean> {
    return this.store.write(() => {
      if (!force && users().length > 0) return false;
      this.store.db.prepare("UPDATE volumes SET state = 'removing', owner = ? WHERE name = ?").run(owner, name);
      return true;
    });
  }

  /** Takes over a row whose owner died (compare and swap on the owner seen). */
  async claim(v: Pick<Volume, 'name' | 'state' | 'owner'>, owner: string): Promise<boolean> {
    return this.store.write(
      () => this.store.db.prepare('UPDATE volumes SET owner = ? WHERE name = ? AND state = ? AND owner IS ?').run(owner, v.name, v.state, v.owner).changes > 0,
    );
  }

  async delete(name: string): Promise<void> {
    await this.store.write(() => {
      const was = this.store.db.prepare('SELECT state FROM volumes WHERE name = ?').get(name) as { state: string } | undefined;
      this.store.db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
      // One that never became ready was never announced.
      if (was?.state === 'removing') this.event(name, 'remove');
    });
  }
}
