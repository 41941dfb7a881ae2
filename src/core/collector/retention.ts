import { statSync } from 'node:fs';
import type { CollectorPart } from './collector';
import type { CollectorConfig } from './config';
import type { CollectorDatabase } from './database';
import type { CollectorStore } from './store';

export const RETENTION_INTERVAL_MS = 5 * 60_000;
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Problems kept for `sandbox collector status`: the newest this many. */
const PROBLEMS_KEPT = 1000;
/** Past its bound, the file is trimmed to this share of it, so the next rounds do not trim again at once. */
const TRIM_TARGET = 0.85;
/** Rows deleted per step while trimming to the bound: small steps keep each transaction short. */
const TRIM_STEP_ROWS = 5_000;
/** Switching an older file to incremental vacuum takes one full VACUUM: at most this often. */
const FULL_VACUUM_EVERY_MS = HOUR_MS;

export type RetentionSettings = CollectorConfig['retention'];

/** What one round of retention did, for the log and the tests. */
export interface RetentionReport {
  downsampled: number;
  minuteRows: number;
  deleted: { samples: number; samplesMinute: number; events: number; logs: number; gauges: number };
  /** Rows removed, oldest first, to bring the file under its bound. */
  trimmed: { logs: number; events: number; samplesMinute: number; samples: number };
  fileBytes: number;
  vacuumed?: 'incremental' | 'full';
  durationMs: number;
}

/** What retention remembers between rounds. */
export interface RetentionState {
  lastFullVacuum?: number;
}

/**
 * One round of retention over the store, as of `now` (a parameter, so a month can be simulated):
 * raw samples older than rawHours become minute rows (averages, the maxima of CPU and memory,
 * the last value of the counters), minute rows past minuteDays, events and logs past eventDays
 * and gauges past minuteDays go, and past maxFileMiB the oldest log lines, then events, then
 * minute rows go until the file is under it; freed pages are given back to the file system.
 */
export function applyRetention(store: CollectorStore, settings: RetentionSettings, now: number, state: RetentionState = {}): RetentionReport {
  const started = Date.now();
  const db = store.db;
  const report: RetentionReport = {
    downsampled: 0,
    minuteRows: 0,
    deleted: { samples: 0, samplesMinute: 0, events: 0, logs: 0, gauges: 0 },
    trimmed: { logs: 0, events: 0, samplesMinute: 0, samples: 0 },
    fileBytes: 0,
    durationMs: 0,
  };
  // Whole minutes only: a minute is never split between two rounds.
  const rawCutoff = Math.floor((now - settings.rawHours * HOUR_MS) / MINUTE_MS) * MINUTE_MS;
  db.transaction(() => {
    report.downsampled = count(db, 'SELECT count(*) AS n FROM samples WHERE time < ?', [rawCutoff]);
    if (report.downsampled > 0) {
      report.minuteRows = count(db, "SELECT count(DISTINCT sandbox_id || ':' || (time / 60000)) AS n FROM samples WHERE time < ?", [rawCutoff]);
      db.run(
        `INSERT OR REPLACE INTO samples_minute (sandbox_id, time, count, cpu_percent, cpu_percent_max, memory_bytes, memory_bytes_max,
           memory_limit_bytes, disk_bytes, net_rx_bytes, net_tx_bytes, pids)
         SELECT m.sandbox_id, m.minute, m.n, m.cpu, m.cpu_max, m.memory, m.memory_max, last.memory_limit_bytes, m.disk,
           last.net_rx_bytes, last.net_tx_bytes, m.pids
         FROM (SELECT sandbox_id, (time / 60000) * 60000 AS minute, count(*) AS n, avg(cpu_percent) AS cpu, max(cpu_percent) AS cpu_max,
                 CAST(round(avg(memory_bytes)) AS INTEGER) AS memory, max(memory_bytes) AS memory_max,
                 CAST(round(avg(disk_bytes)) AS INTEGER) AS disk, CAST(round(avg(pids)) AS INTEGER) AS pids, max(time) AS last_time
               FROM samples WHERE time < ? GROUP BY sandbox_id, minute) m
         JOIN samples last ON last.sandbox_id = m.sandbox_id AND last.time = m.last_time`,
        [rawCutoff],
      );
      db.run('DELETE FROM samples WHERE time < ?', [rawCutoff]);
      report.deleted.samples = report.downsampled;
    }
    const minuteCutoff = now - settings.minuteDays * DAY_MS;
    const eventCutoff = now - settings.eventDays * DAY_MS;
    report.deleted.samplesMinute = deleteCounted(db, 'samples_minute', 'time < ?', [minuteCutoff]);
    report.deleted.gauges = deleteCounted(db, 'gauges', 'time < ?', [minuteCutoff]);
    report.deleted.events = deleteCounted(db, 'events', 'time < ?', [eventCutoff]);
    report.deleted.logs = deleteCounted(db, 'logs', 'time < ?', [eventCutoff]);
    db.run(`DELETE FROM problems WHERE id <= (SELECT max(id) FROM problems) - ${PROBLEMS_KEPT}`);
  });
  const bound = settings.maxFileMiB * 1024 * 1024;
  if (usedBytes(db) > bound * TRIM_TARGET || fileBytes(db) > bound) {
    // Oldest first, least valued first: command output, then events, then the minute history.
    const target = bound * TRIM_TARGET;
    report.trimmed.logs = trimOldest(db, 'logs', 'id', 'id', target);
    report.trimmed.events = trimOldest(db, 'events', 'id', 'id', target);
    report.trimmed.samplesMinute = trimOldest(db, 'samples_minute', '(sandbox_id, time)', 'time', target);
    report.trimmed.samples = trimOldest(db, 'samples', '(sandbox_id, time)', 'time', target);
  }
  report.vacuumed = reclaim(db, bound, now, state);
  report.fileBytes = fileBytes(db);
  report.durationMs = Date.now() - started;
  return report;
}

/** Retention as a part of the collector: one round every few minutes, logged when it did something. */
export function retentionPart(options: { settings: RetentionSettings; log: (line: string) => void; intervalMs?: number }): CollectorPart {
  const state: RetentionState = {};
  return {
    name: 'retention',
    intervalMs: options.intervalMs ?? RETENTION_INTERVAL_MS,
    collect(store: CollectorStore) {
      const report = applyRetention(store, options.settings, Date.now(), state);
      const trimmed = Object.values(report.trimmed).reduce((a, b) => a + b, 0);
      if (trimmed > 0 || report.vacuumed) {
        options.log(
          `Collector: retention trimmed ${trimmed} rows to keep the store under ${options.settings.maxFileMiB} MiB` +
            `${report.vacuumed ? ` (${report.vacuumed} vacuum)` : ''}; it is ${(report.fileBytes / 1024 / 1024).toFixed(1)} MiB.`,
        );
      }
      return Promise.resolve({});
    },
  };
}

function count(db: CollectorDatabase, sql: string, values: number[]): number {
  return Number(db.get<{ n: number }>(sql, values)?.n ?? 0);
}

function deleteCounted(db: CollectorDatabase, table: string, where: string, values: number[]): number {
  const n = count(db, `SELECT count(*) AS n FROM ${table} WHERE ${where}`, values);
  if (n > 0) db.run(`DELETE FROM ${table} WHERE ${where}`, values);
  return n;
}

function pragma(db: CollectorDatabase, name: string): number {
  const row = db.get<Record<string, number>>(`PRAGMA ${name}`);
  return Number(row ? Object.values(row)[0] : 0);
}

function fileBytes(db: CollectorDatabase): number {
  try {
    return statSync(db.file).size;
  } catch {
    return pragma(db, 'page_count') * pragma(db, 'page_size');
  }
}

/** The bytes of the pages holding data: the file less its free pages. */
function usedBytes(db: CollectorDatabase): number {
  return (pragma(db, 'page_count') - pragma(db, 'freelist_count')) * pragma(db, 'page_size');
}

/** Deletes the oldest rows of a table, a step at a time, until the data fits `target` or the table is empty. */
function trimOldest(db: CollectorDatabase, table: string, key: string, order: string, target: number): number {
  let removed = 0;
  while (usedBytes(db) > target) {
    const rows = count(db, `SELECT count(*) AS n FROM ${table}`, []);
    if (rows === 0) break;
    const step = Math.min(rows, Math.max(TRIM_STEP_ROWS, Math.ceil(rows / 10)));
    const keyColumns = key.replace(/[()]/g, '');
    db.transaction(() => db.run(`DELETE FROM ${table} WHERE ${key} IN (SELECT ${keyColumns} FROM ${table} ORDER BY ${order} LIMIT ${step})`));
    removed += step;
  }
  return removed;
}

/**
 * Gives free pages back to the file system when the file is past its bound: with incremental
 * vacuum (cheap, done at once); a file made before it was switched on needs one full VACUUM to
 * switch, done at most hourly. Below the bound, free pages stay for new rows to reuse.
 */
function reclaim(db: CollectorDatabase, bound: number, now: number, state: RetentionState): RetentionReport['vacuumed'] {
  if (fileBytes(db) <= bound || pragma(db, 'freelist_count') === 0) return undefined;
  if (pragma(db, 'auto_vacuum') === 2) {
    db.all('PRAGMA incremental_vacuum'); // each step frees one page: all() steps to the end
    return 'incremental';
  }
  if (state.lastFullVacuum !== undefined && now - state.lastFullVacuum < FULL_VACUUM_EVERY_MS) return undefined;
  state.lastFullVacuum = now;
  db.run('PRAGMA auto_vacuum = INCREMENTAL');
  db.run('VACUUM');
  return 'full';
}
