import type { CollectorDatabase } from './database';
import type { IngestBatch } from './store';

/** The rows of one ingest batch, within the store's transaction (its offsets are written by the store). */
export function writeBatchRows(db: CollectorDatabase, batch: IngestBatch): void {
  db.insertMany(
    'INSERT INTO events (time, type, sandbox_id, sandbox, agent, task, provider, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    (batch.events ?? []).map((e) => [e.time, e.type, e.sandboxId, e.sandbox, e.agent ?? null, e.task ?? null, e.provider ?? null, JSON.stringify(e.data)]),
  );
  db.insertMany(
    'INSERT INTO logs (time, sandbox_id, source, stream, line) VALUES (?, ?, ?, ?, ?)',
    (batch.logs ?? []).map((l) => [l.time, l.sandboxId, l.source, l.stream, l.line]),
  );
  db.insertMany(
    `INSERT OR REPLACE INTO samples (sandbox_id, time, cpu_percent, memory_bytes, memory_limit_bytes, disk_bytes, net_rx_bytes, net_tx_bytes, pids)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    (batch.samples ?? []).map((s) => [
      s.sandboxId,
      s.time,
      s.cpuPercent,
      s.memoryBytes,
      s.memoryLimitBytes ?? null,
      s.diskBytes ?? null,
      s.netRxBytes ?? null,
      s.netTxBytes ?? null,
      s.pids ?? null,
    ]),
  );
  db.insertMany(
    'INSERT OR REPLACE INTO gauges (name, sandbox_id, time, value) VALUES (?, ?, ?, ?)',
    (batch.gauges ?? []).map((g) => [g.name, g.sandboxId, g.time, g.value]),
  );
  db.insertMany(
    `INSERT INTO sandboxes (sandbox_id, name, provider, agent, first_seen, last_seen, deleted) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (sandbox_id) DO UPDATE SET name = excluded.name, provider = coalesce(excluded.provider, provider),
       agent = coalesce(excluded.agent, agent), last_seen = max(last_seen, excluded.last_seen), deleted = coalesce(excluded.deleted, deleted)`,
    (batch.sandboxes ?? []).map((s) => [s.sandboxId, s.name, s.provider ?? null, s.agent ?? null, s.firstSeen, s.lastSeen, s.deleted ?? null]),
  );
  db.insertMany(
    'INSERT INTO problems (time, source, message) VALUES (?, ?, ?)',
    (batch.problems ?? []).map((p) => [p.time, p.source, p.message]),
  );
}
