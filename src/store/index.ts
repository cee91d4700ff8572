// The SQLite store shared by every berth process (CLI commands and berthd) on one root
// dir. WAL mode, a busy timeout and BEGIN IMMEDIATE keep concurrent writers correct;
// transactions are short and never span a runc or conmon call.
import { createRequire } from 'node:module';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { BerthError, fromSystemError } from '../errors/index.js';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { migrations } from './schema.js';
import { findInstalled } from '../config/index.js';

export type Database = Sqlite.Database;

export interface Store {
  readonly db: Database;
  /** Runs fn inside BEGIN IMMEDIATE … COMMIT (rolled back if fn throws). */
  tx<T>(fn: () => T): T;
  close(): void;
}

export function openStore(root: string): Store {
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    accessSync(root, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
      throw new BerthError('PermissionDenied', `cannot use the store at ${root}: permission denied (berth runs as root, or give --root a directory you own)`);
    throw fromSystemError(e, `store ${root}`);
  }
  // The addon is loaded by its path: the `bindings` lookup better-sqlite3 does by default
  // searches a dozen paths on every command.
  const nativeBinding = createRequire(import.meta.url)(findInstalled(join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')));
  const db = new Sqlite(join(root, 'berth.db'), { timeout: 30_000, nativeBinding });
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  const tx = <T>(fn: () => T): T => db.transaction(fn).immediate();
  migrate(db, tx);
  return { db, tx, close: () => db.close() };
}

function migrate(db: Database, tx: <T>(fn: () => T) => T): void {
  if ((db.pragma('user_version', { simple: true }) as number) === migrations.length) return;
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
    for (let v = version; v < migrations.length; v++) db.exec(migrations[v]);
    db.pragma(`user_version = ${migrations.length}`);
  });
}
