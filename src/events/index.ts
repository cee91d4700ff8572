// The event log: one sequence-numbered table of what happened to containers and pods,
// written in the same transaction as the change it reports, by whichever process made
// it (a CLI command, conmon's exit command, the daemon). So `berth events` and the CRI's
// GetContainerEvents read one history, and a reader that reconnects resumes after the
// last sequence number it saw and loses nothing.
import type { Database } from 'better-sqlite3';
import { setTimeout as delay } from 'node:timers/promises';
import type { Store } from '../store/index.js';

export type EventType = 'container' | 'pod' | 'volume';

export interface BerthEvent {
  /** Increasing across the whole store; never reused. */
  seq: number;
  /** ms since the epoch. */
  time: number;
  namespace: string;
  type: EventType;
  /** container: create, start, pause, unpause, die, rename, destroy; pod: create, stop, remove; volume: create, remove. */
  action: string;
  id: string;
  attributes: Record<string, string>;
}

/** Events kept: older ones are dropped as new ones come. */
const RETAINED = 100_000;
/** How often a follower looks for what other processes wrote. */
const FOLLOW_POLL_MS = 200;

/** Appends an event; call it inside the write that makes the change it reports. */
export function recordEvent(db: Database, e: Omit<BerthEvent, 'seq' | 'time'> & { time?: number }): void {
  const seq = db
    .prepare('INSERT INTO events (time, namespace, type, action, id, attributes) VALUES (?, ?, ?, ?, ?, ?)')
    .run(e.time ?? Date.now(), e.namespace, e.type, e.action, e.id, JSON.stringify(e.attributes)).lastInsertRowid as number;
  if (seq % 1000 === 0) db.prepare('DELETE FROM events WHERE seq <= ?').run(seq - RETAINED);
}

interface Row {
  seq: number;
  time: number;
  namespace: string;
  type: EventType;
  action: string;
  id: string;
  attributes: string;
}

const fromRow = (r: Row): BerthEvent => ({ ...r, attributes: JSON.parse(r.attributes) as Record<string, string> });

export interface EventQuery {
  /** Only events after this sequence number. */
  afterSeq?: number;
  /** Only events at or after this time (ms). */
  since?: number;
  /** Only events at or before this time (ms). */
  until?: number;
  /** One namespace's; default all. */
  namespace?: string;
}

export class EventLog {
  constructor(private readonly store: Store) {}

  /** The newest sequence number (0 when there is none). */
  lastSeq(): number {
    return (this.store.db.prepare('SELECT max(seq) AS seq FROM events').get() as { seq: number | null }).seq ?? 0;
  }

  /** Recorded events, oldest first. */
  list(q: EventQuery = {}, limit = 10_000): BerthEvent[] {
    const rows = this.store.db
      .prepare(
        `SELECT * FROM events WHERE seq > ? AND time >= ? AND time <= ? AND (? IS NULL OR namespace = ?) ORDER BY seq LIMIT ?`,
      )
      .all(q.afterSeq ?? 0, q.since ?? 0, q.until ?? Number.MAX_SAFE_INTEGER, q.namespace ?? null, q.namespace ?? null, limit) as Row[];
    return rows.map(fromRow);
  }

  /** The events matching q, then every new one as it is recorded, until the signal. */
  async *follow(q: EventQuery = {}, signal?: AbortSignal): AsyncGenerator<BerthEvent> {
    let after = q.afterSeq ?? 0;
    while (!signal?.aborted) {
      const batch = this.list({ ...q, afterSeq: after });
      for (const e of batch) {
        after = e.seq;
        yield e;
      }
      if (q.until !== undefined && Date.now() > q.until) return;
      if (batch.length === 0) await delay(FOLLOW_POLL_MS, undefined, { signal }).catch(() => undefined);
    }
  }
}
