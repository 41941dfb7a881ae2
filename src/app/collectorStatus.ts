import { statSync } from 'node:fs';
import { runningCollector } from '../core/collector/collectorLock';
import { collectorDbFile } from '../core/collector/database';
import { CollectorStore, type SourceOffset } from '../core/collector/store';
import type { PidLockHolder } from '../core/tasks/pidLock';

const TABLES = ['events', 'logs', 'samples', 'samples_minute', 'gauges', 'sandboxes'] as const;

/** What `sandbox collector status` tells: who writes the store, the file, what it holds, how far it read, what it skipped. */
export interface CollectorStatus {
  running: boolean;
  /** The process that runs the collector: the daemon or `sandbox collector run`. */
  holder?: PidLockHolder;
  file: string;
  /** Undefined while no collector ever ran (no file). */
  fileBytes?: number;
  counts?: Record<(typeof TABLES)[number], number>;
  offsets?: SourceOffset[];
  problems?: { time: string; source: string; message: string }[];
}

export function collectorStatus(stateRoot: string, problemLimit = 10): CollectorStatus {
  const holder = runningCollector(stateRoot);
  const file = collectorDbFile(stateRoot);
  const status: CollectorStatus = { running: holder !== undefined, ...(holder ? { holder } : {}), file };
  const store = CollectorStore.openForReading(stateRoot);
  if (!store) return status;
  try {
    status.fileBytes = statSync(file).size;
    status.counts = Object.fromEntries(
      TABLES.map((table) => [table, Number(store.db.get<{ n: number }>(`SELECT count(*) AS n FROM ${table}`)?.n ?? 0)]),
    ) as CollectorStatus['counts'];
    status.offsets = store.offsets();
    status.problems = store.problems(problemLimit).map((p) => ({ time: new Date(p.time).toISOString(), source: p.source, message: p.message }));
  } finally {
    store.close();
  }
  return status;
}
