// The SQLite store shared by every berth process (CLI commands and berthd) on one root
// dir. WAL mode, a busy timeout and BEGIN IMMEDIATE keep concurrent writers correct;
// transactions are short and never span a runc or conmon call.
//
// better-sqlite3 is synchronous: while another process holds the write lock, tx() waits
// inside SQLite's busy handler and the event loop stands still. write() waits instead on
// timers (SQLITE_BUSY retried with backoff), for a process that serves others meanwhile;
// such a process also opens the store with a short busyTimeoutMs for everything else.
import { accessSync, constants } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, fromSystemError } from '../errors/index.js';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { migrations } from './schema.js';
import { findInstalled } from '../config/index.js';
import { loadAddon, makeDirsSync } from '../sys/index.js';

export type Database = Sqlite.Database;

export interface Store {
  readonly db: Database;
  /** Runs fn inside BEGIN IMMEDIATE … COMMIT (rolled back if fn throws). */
  tx<T>(fn: () => T): T;
  /**
   * tx(), waiting for the write lock without blocking the event loop: a busy database is
   * tried again after a growing pause, until timeoutMs (default the store's busy timeout)
   * or the signal. Only taking the lock is retried: fn runs once.
   */
  write<T>(fn: () => T, opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<T>;
  close(): void;
}

export interface StoreOptions {
  /** How long a statement waits in SQLite for a lock another process holds (default 30 s). */
  busyTimeoutMs?: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 30_000;
/** The WAL is checkpointed into the database when it holds this many pages (see openStore). */
const WAL_CHECKPOINT_PAGES = 128;
/** write()'s pauses between attempts: doubling from the first to the last. */
const WRITE_RETRY_FIRST_MS = 1;
const WRITE_RETRY_MAX_MS = 50;

export function openStore(root: string, opts: StoreOptions = {}): Store {
  try {
    makeDirsSync(root, 0o700);
    accessSync(root, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
      throw new BerthError('PermissionDenied', `cannot use the store at ${root}: permission denied (berth runs as root, or give --root a directory you own)`);
    throw fromSystemError(e, `store ${root}`);
  }
  // The addon is loaded by its path: the `bindings` lookup better-sqlite3 does by default
  // searches a dozen paths on every command. (better-sqlite3 takes the loaded addon as well
  // as a path; its types name only the path.)
  const nativeBinding = loadAddon<string>(findInstalled(join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')));
  const busyTimeoutMs = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const db = new Sqlite(join(root, 'berth.db'), { timeout: busyTimeoutMs, nativeBinding });
  cacheStatements(db);
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // Every command's first statement rebuilds the WAL index from the WAL's frames (no
  // connection outlives a command), about 1 us a frame: with SQLite's default checkpoint at
  // 1000 pages that was up to 1.5 ms of each command. At 128 it stays under 0.2 ms; writers
  // checkpoint (the database's changed pages and an fsync) every 128 pages instead.
  db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
  // A full disk names the database, not just SQLite's "database or disk is full".
  const full = (e: unknown) =>
    (e as { code?: string }).code === 'SQLITE_FULL' ? new BerthError('ResourceExhausted', `writing the store's database ${join(root, 'berth.db')}: no space left on device`, { cause: e }) : e;
  const tx = <T>(fn: () => T): T => {
    try {
      return db.transaction(fn).immediate();
    } catch (e) {
      throw full(e);
    }
  };
  try {
    migrate(db, tx, root);
  } catch (e) {
    db.close();
    throw e;
  }
  const write = <T>(fn: () => T, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<T> =>
    writeWithoutBlocking(db, fn, busyTimeoutMs, o.timeoutMs ?? busyTimeoutMs, o.signal).catch((e) => {
      throw full(e);
    });
  return { db, tx, write, close: () => db.close() };
}

/** More distinct statements than berth's SQL has: past it, statements are compiled each time. */
const MAX_CACHED_STATEMENTS = 500;

/**
 * db.prepare() compiles its SQL on every call, which was most of a daemon's listing time:
 * each SQL text is compiled once and its statement reused (better-sqlite3 statements are
 * reusable; nothing in berth changes one's mode with pluck/raw/expand).
 */
function cacheStatements(db: Database): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Sqlite.Statement>();
  db.prepare = ((sql: string) => {
    let s = cache.get(sql);
    if (!s) {
      s = prepare(sql);
      if (cache.size < MAX_CACHED_STATEMENTS) cache.set(sql, s);
    }
    return s;
  }) as Database['prepare'];
}

async function writeWithoutBlocking<T>(db: Database, fn: () => T, busyTimeoutMs: number, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  // Inside a transaction already (a caller's tx): the lock is ours.
  if (db.inTransaction) return db.transaction(fn)();
  const deadline = Date.now() + timeoutMs;
  let started = false;
  const once = db.transaction(() => {
    started = true;
    db.pragma(`busy_timeout = ${busyTimeoutMs}`); // the lock is ours: fn's statements wait as usual
    return fn();
  });
  for (let pause = WRITE_RETRY_FIRST_MS; ; pause = Math.min(pause * 2, WRITE_RETRY_MAX_MS)) {
    signal?.throwIfAborted();
    db.pragma('busy_timeout = 0'); // BEGIN IMMEDIATE fails at once instead of waiting in SQLite
    try {
      return once.immediate();
    } catch (e) {
      if (started || (e as { code?: string }).code !== 'SQLITE_BUSY') throw e;
      if (Date.now() >= deadline) throw new BerthError('Unavailable', `the store's database is locked by another process (waited ${Math.round(timeoutMs / 1000)}s)`);
    } finally {
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    }
    // An abort ends the pause early; the check at the top then throws its reason.
    await sleep(Math.min(pause, Math.max(1, deadline - Date.now())), undefined, { signal }).catch(() => {});
  }
}

function migrate(db: Database, tx: <T>(fn: () => T) => T, root: string): void {
  const found = db.pragma('user_version', { simple: true }) as number;
  if (found === migrations.length) return;
  if (found > migrations.length) throw newerStore(root, found);
  // WAL mode is a property of the database file: set once, when it is created or migrated,
  // not on every open (that costs a lock and I/O per command). Switching needs the
  // database to itself and SQLite does not wait for that (no busy handler): when several
  // processes open a new store at once, retry briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      db.pragma('journal_mode = WAL');
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY' || attempt >= 500) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
  // Re-read inside the write lock: another process may have migrated meanwhile.
  tx(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > migrations.length) throw newerStore(root, version);
    for (let v = version; v < migrations.length; v++) db.exec(migrations[v]);
    db.pragma(`user_version = ${migrations.length}`);
  });
}

/** An older berth must not write a store a newer one made: it would undo the schema version. */
function newerStore(root: string, version: number): BerthError {
  return new BerthError('FailedPrecondition', `the store in ${root} has schema version ${version}, newer than this berth knows (${migrations.length}): use a newer berth`);
}
