import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { BindValues, Database, QueryResult } from 'node-sqlite3-wasm';
import { SandboxError } from '../errors';
import { rollBackHotJournal } from './hotJournal';
import { SCHEMA_SQL, SCHEMA_VERSION } from './schema';

export const COLLECTOR_DB_FILE = 'collector.db';
/** How long a reader or the writer waits for the other's lock before giving up. */
const BUSY_WAIT_MS = 5_000;
/**
 * The WebAssembly SQLite locks with a directory beside the file (`collector.db.lock`), taken for
 * every read and write. Transactions here last milliseconds: one held longer was left by a
 * process killed while it held it.
 */
const STALE_LOCK_MS = 30_000;

/**
 * The WebAssembly SQLite, loaded on first use: requiring it compiles its 1.2 MB module, which
 * every CLI command and the extension's core would otherwise pay at start.
 */
function sqlite(): typeof import('node-sqlite3-wasm') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('node-sqlite3-wasm') as typeof import('node-sqlite3-wasm');
}

export function collectorDbFile(stateRoot: string): string {
  return path.join(stateRoot, COLLECTOR_DB_FILE);
}

type Row = Record<string, number | bigint | string | Uint8Array | null>;

/**
 * The collector's SQLite file, through a WebAssembly build (no native module: the same code runs
 * in plain Node.js, the daemon and VS Code's extension host). One writer, the collector; readers
 * open it read-only. Every statement waits out the other side's lock, and clears a lock left by a
 * killed process.
 */
export class CollectorDatabase {
  private constructor(
    private readonly db: Database,
    readonly file: string,
    readonly readOnly: boolean,
  ) {}

  /**
   * The writer's connection: makes the file (0600) and its tables when missing. The caller is the
   * one writer (it holds collector.lock), so a lock left by a writer killed mid-transaction is
   * cleared at once rather than after STALE_LOCK_MS.
   */
  static openForWriting(stateRoot: string): CollectorDatabase {
    const file = collectorDbFile(stateRoot);
    clearDeadWritersLock(file);
    // Played back under the file's lock, so no reader reads pages while they are put back, and
    // never skipped because a reader held the lock at this moment (nothing would replay it later).
    if (existsSync(`${file}-journal`)) withFileLock(file, () => rollBackHotJournal(file));
    const db = withBusyRetry(file, () => new (sqlite().Database)(file));
    const opened = new CollectorDatabase(db, file, false);
    try {
      opened.migrate();
    } catch (error) {
      db.close();
      throw error;
    }
    return opened;
  }

  /** A reader's connection, or undefined when the collector never ran for this state dir. */
  static openForReading(stateRoot: string): CollectorDatabase | undefined {
    const file = collectorDbFile(stateRoot);
    try {
      statSync(file);
    } catch {
      return undefined;
    }
    return new CollectorDatabase(
      withBusyRetry(file, () => new (sqlite().Database)(file, { readOnly: true })),
      file,
      true,
    );
  }

  all<T extends object = Row>(sql: string, values?: BindValues): T[] {
    return withBusyRetry(this.file, () => this.db.all(sql, values)) as unknown as T[];
  }

  get<T extends object = Row>(sql: string, values?: BindValues): T | undefined {
    return (withBusyRetry(this.file, () => this.db.get(sql, values)) ?? undefined) as T | undefined;
  }

  run(sql: string, values?: BindValues): void {
    withBusyRetry(this.file, () => this.db.run(sql, values));
  }

  /**
   * Runs `work` in one write transaction: all its rows land, or none (a kill midway leaves the
   * journal SQLite rolls back at the next open). Offsets of ingested files are written inside it,
   * with the rows they account for, so nothing is lost or doubled across a restart.
   */
  transaction<T>(work: () => T): T {
    withBusyRetry(this.file, () => this.db.exec('BEGIN IMMEDIATE'));
    try {
      const result = work();
      withBusyRetry(this.file, () => this.db.exec('COMMIT'));
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  /** Many rows of one statement, prepared once. */
  insertMany(sql: string, rows: BindValues[]): void {
    if (rows.length === 0) return;
    const statement = this.db.prepare(sql);
    try {
      for (const row of rows) withBusyRetry(this.file, () => statement.run(row));
    } finally {
      statement.finalize();
    }
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private migrate(): void {
    const version = Number((this.db.get('PRAGMA user_version') as QueryResult | null)?.user_version ?? 0);
    if (version > SCHEMA_VERSION) {
      throw new SandboxError(
        'wrong-state',
        `The collector's database ${this.file} was written by a newer version of Agent Sandboxes (schema ${version}); update, or move the file away to start a new one.`,
      );
    }
    if (version === SCHEMA_VERSION) return;
    // Set before the first table: retention then gives freed pages back without a full VACUUM.
    if (version === 0) this.db.exec('PRAGMA auto_vacuum = INCREMENTAL');
    this.transaction(() => {
      this.db.exec(SCHEMA_SQL);
      this.db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    });
  }
}

function isBusy(error: unknown): boolean {
  return error instanceof sqlite().SQLite3Error && /locked|busy/i.test(error.message);
}

/** Runs `work`, trying again while the other side holds the file's lock, up to BUSY_WAIT_MS. */
function withBusyRetry<T>(file: string, work: () => T): T {
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return work();
    } catch (error) {
      if (!isBusy(error)) throw error;
      if (clearStaleLock(file)) continue;
      if (Date.now() > deadline) {
        throw new SandboxError(
          'conflict',
          `The collector's database ${file} stayed locked for ${BUSY_WAIT_MS / 1000} s; try again, or remove ${file}.lock if no sandbox process runs.`,
        );
      }
      sleepSync(Math.min(5 * 2 ** attempt, 100));
    }
  }
}

/**
 * For a new writer: readers hold the lock for one statement each (a new directory each time), so
 * the same directory still there after READER_HOLD_MS was left by the writer before, killed.
 */
const READER_HOLD_MS = 2_000;
function clearDeadWritersLock(file: string): void {
  const lock = `${file}.lock`;
  const first = statSync(lock, { throwIfNoEntry: false });
  if (!first) return;
  const deadline = Date.now() + READER_HOLD_MS;
  while (Date.now() < deadline) {
    const now = statSync(lock, { throwIfNoEntry: false });
    if (!now || now.ino !== first.ino || now.mtimeMs !== first.mtimeMs) return;
    sleepSync(50);
  }
  try {
    rmdirSync(lock);
  } catch {
    // gone meanwhile
  }
}

/** Runs `work` holding the file's lock directory (readers hold it for a statement; waits them out). */
function withFileLock<T>(file: string, work: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (clearStaleLock(file)) continue;
      if (Date.now() > deadline) {
        throw new SandboxError(
          'conflict',
          `The collector's database ${file} stayed locked for ${BUSY_WAIT_MS / 1000} s; try again, or remove ${lock} if no sandbox process runs.`,
        );
      }
      sleepSync(Math.min(5 * 2 ** attempt, 100));
    }
  }
  try {
    return work();
  } finally {
    rmdirSync(lock);
  }
}

/** Removes the lock directory when it is older than any transaction: its holder was killed. */
function clearStaleLock(file: string): boolean {
  const lock = `${file}.lock`;
  try {
    if (Date.now() - statSync(lock).mtimeMs < STALE_LOCK_MS) return false;
    rmdirSync(lock);
    return true;
  } catch {
    return false;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
