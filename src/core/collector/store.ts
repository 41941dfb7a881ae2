import { CollectorDatabase } from './database';
import { writeBatchRows } from './batchRows';
import { SourceOffsets, type SourceOffset } from './sourceOffsets';

export type { SourceOffset } from './sourceOffsets';

/** One event as the collector keeps it: the event's own fields in `data`, the ones queried in columns. */
export interface CollectedEvent {
  /** Milliseconds since the epoch. */
  time: number;
  type: string;
  sandboxId: string;
  /** The sandbox's name when known ('' for events of no one sandbox). */
  sandbox: string;
  agent?: string;
  task?: string;
  provider?: string;
  data: Record<string, unknown>;
}

export interface StoredEvent extends CollectedEvent {
  /** Increases with every event stored: a follower asks for those after the last it saw. */
  id: number;
}

/** Where a log line came from: a command's output, the machine's own output, its system log, an agent log file. */
export type LogSource = 'exec' | 'sandbox' | 'system' | `file:${string}`;

export interface LogLine {
  time: number;
  sandboxId: string;
  source: LogSource;
  stream: 'stdout' | 'stderr';
  line: string;
}

/** One sample of one running sandbox. Counters (network) are totals since the machine started. */
export interface Sample {
  sandboxId: string;
  time: number;
  /** 100 is one core busy. */
  cpuPercent: number;
  memoryBytes: number;
  memoryLimitBytes?: number;
  diskBytes?: number;
  netRxBytes?: number;
  netTxBytes?: number;
  pids?: number;
}

/** A number that is not a sandbox's sample: queue depth, running tasks, a sandbox's cost so far. */
export interface Gauge {
  name: string;
  /** '' for gauges of no one sandbox. */
  sandboxId: string;
  time: number;
  value: number;
}

export interface KnownSandbox {
  sandboxId: string;
  name: string;
  provider?: string;
  agent?: string;
  firstSeen: number;
  lastSeen: number;
  /** When the sandbox was deleted, if it was. */
  deleted?: number;
}

/** Everything one ingest step writes, in one transaction with the offsets that account for it. */
export interface IngestBatch {
  events?: CollectedEvent[];
  logs?: LogLine[];
  samples?: Sample[];
  gauges?: Gauge[];
  sandboxes?: KnownSandbox[];
  offsets?: SourceOffset[];
  /** Sources gone for good (the journal of a deleted sandbox): their offsets are forgotten. */
  dropOffsets?: string[];
  /** Things the collector met and skipped (a torn journal line), kept for `sandbox collector status`. */
  problems?: { time: number; source: string; message: string }[];
}

export interface EventQuery {
  /** Only events at or after this time (ms). */
  since?: number;
  until?: number;
  /** Exact types, or prefixes ending in '.' (`task.`). */
  types?: string[];
  /** A sandbox's id or name. */
  sandbox?: string;
  /** Only events stored after this id (a follower's position): then the oldest `limit` after it, so a follower misses none. */
  afterId?: number;
  /** The newest this many (default 1000; the oldest after `afterId` when given), returned oldest first. */
  limit?: number;
}

interface EventRow {
  id: number;
  time: number;
  type: string;
  sandbox_id: string;
  sandbox: string;
  agent: string | null;
  task: string | null;
  provider: string | null;
  data: string;
}

interface SampleRow {
  sandbox_id: string;
  time: number;
  cpu_percent: number | null;
  memory_bytes: number | null;
  memory_limit_bytes: number | null;
  disk_bytes: number | null;
  net_rx_bytes: number | null;
  net_tx_bytes: number | null;
  pids: number | null;
}

const DEFAULT_EVENT_LIMIT = 1000;

/**
 * The collector's store: typed writes (the collector's only) and the queries the CLI, the
 * dashboard and the exporters ask. Each method is one short transaction.
 */
export class CollectorStore {
  private readonly sources: SourceOffsets;

  /** `writer`: this process is the file's one writer, so what it wrote stays true until it writes again. */
  constructor(
    readonly db: CollectorDatabase,
    writer = false,
  ) {
    this.sources = new SourceOffsets(db, writer);
  }

  static openForWriting(stateRoot: string): CollectorStore {
    return new CollectorStore(CollectorDatabase.openForWriting(stateRoot), true);
  }

  /** Undefined when the collector never ran for this state dir. */
  static openForReading(stateRoot: string): CollectorStore | undefined {
    const db = CollectorDatabase.openForReading(stateRoot);
    return db ? new CollectorStore(db) : undefined;
  }

  close(): void {
    this.db.close();
  }

  /** Writes the batch in one transaction; one with nothing in it writes nothing (no lock taken). */
  ingest(batch: IngestBatch): void {
    if (isEmptyBatch(batch)) return;
    try {
      this.db.transaction(() => {
        this.sources.write(batch.offsets ?? [], batch.dropOffsets ?? []);
        writeBatchRows(this.db, batch);
      });
    } catch (error) {
      // Rolled back, or failed past its commit point: the file tells which.
      this.sources.forget();
      throw error;
    }
    this.sources.committed(batch.offsets ?? [], batch.dropOffsets ?? []);
  }

  offset(source: string): SourceOffset | undefined {
    return this.sources.get(source);
  }

  /** Every source's offset, or those whose name starts with `prefix`. */
  offsets(prefix = ''): SourceOffset[] {
    return this.sources.list(prefix);
  }

  events(query: EventQuery = {}): StoredEvent[] {
    const where: string[] = [];
    const values: (string | number)[] = [];
    if (query.since !== undefined) {
      where.push('time >= ?');
      values.push(query.since);
    }
    if (query.until !== undefined) {
      where.push('time <= ?');
      values.push(query.until);
    }
    if (query.afterId !== undefined) {
      where.push('id > ?');
      values.push(query.afterId);
    }
    if (query.sandbox) {
      // A name is looked up first: the ids then use the index by sandbox (a name has none).
      const ids = this.db.all<{ sandbox_id: string }>('SELECT sandbox_id FROM sandboxes WHERE name = ?', [query.sandbox]).map((row) => row.sandbox_id);
      if (ids.length > 0) {
        where.push(`sandbox_id IN (${['?', ...ids.map(() => '?')].join(', ')})`);
        values.push(query.sandbox, ...ids);
      } else {
        where.push('(sandbox_id = ? OR sandbox = ?)');
        values.push(query.sandbox, query.sandbox);
      }
    }
    if (query.types?.length) {
      const alternatives = query.types.map((type) => {
        if (type.endsWith('.')) {
          // A range rather than LIKE: it uses the index by type (LIKE would scan every event).
          values.push(type, `${type.slice(0, -1)}/`);
          return '(type >= ? AND type < ?)';
        }
        values.push(type);
        return 'type = ?';
      });
      where.push(`(${alternatives.join(' OR ')})`);
    }
    const limit = Math.max(1, Math.min(query.limit ?? DEFAULT_EVENT_LIMIT, 100_000));
    // A follower (afterId) reads on from its position: the newest would skip the rest of a burst.
    const oldestFirst = query.afterId !== undefined;
    const rows = this.db.all<EventRow>(
      `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${oldestFirst ? 'ASC' : 'DESC'} LIMIT ${limit}`,
      values,
    );
    return (oldestFirst ? rows : rows.reverse()).map(eventOfRow);
  }

  /** A sandbox's samples in a window, oldest first: raw ones where kept, minute averages before that. */
  samples(sandboxId: string, since: number, until = Date.now()): Sample[] {
    const raw = this.db.all<SampleRow>('SELECT * FROM samples WHERE sandbox_id = ? AND time >= ? AND time <= ? ORDER BY time', [sandboxId, since, until]);
    const rawStart = raw.length > 0 ? Number(raw[0].time) : until + 1;
    const older = this.db.all<SampleRow>('SELECT * FROM samples_minute WHERE sandbox_id = ? AND time >= ? AND time < ? ORDER BY time', [
      sandboxId,
      since,
      rawStart,
    ]);
    return [...older, ...raw].map(sampleOfRow);
  }

  /**
   * A sandbox's samples in a window in buckets of `stepMs`, oldest first: averages of CPU and
   * memory, the highest counters (network totals only grow). For long windows: a month of minute
   * rows is 43,200 of them, and each row read costs more than the query itself.
   */
  samplesByStep(sandboxId: string, since: number, until: number, stepMs: number): Sample[] {
    const step = Math.max(1000, Math.round(stepMs));
    const columns = 'time, cpu_percent, memory_bytes, memory_limit_bytes, disk_bytes, net_rx_bytes, net_tx_bytes, pids';
    const rawStart = Number(
      this.db.get<{ t: number | null }>('SELECT min(time) AS t FROM samples WHERE sandbox_id = ? AND time >= ?', [sandboxId, since])?.t ?? until + 1,
    );
    return this.db
      .all<SampleRow>(
        `SELECT ? AS sandbox_id, (time / ${step}) * ${step} AS time, avg(cpu_percent) AS cpu_percent, CAST(avg(memory_bytes) AS INTEGER) AS memory_bytes,
           max(memory_limit_bytes) AS memory_limit_bytes, max(disk_bytes) AS disk_bytes, max(net_rx_bytes) AS net_rx_bytes,
           max(net_tx_bytes) AS net_tx_bytes, max(pids) AS pids
         FROM (SELECT ${columns} FROM samples_minute WHERE sandbox_id = ? AND time >= ? AND time < ?
               UNION ALL SELECT ${columns} FROM samples WHERE sandbox_id = ? AND time >= ? AND time <= ?)
         GROUP BY (time / ${step}) ORDER BY 2`,
        [sandboxId, sandboxId, since, Math.min(rawStart, until + 1), sandboxId, since, until],
      )
      .map(sampleOfRow);
  }

  /** The newest sample of each sandbox sampled since `since`. */
  latestSamples(since: number): Sample[] {
    return this.db
      .all<SampleRow>(
        `SELECT s.* FROM samples s JOIN (SELECT sandbox_id, max(time) AS time FROM samples WHERE time >= ? GROUP BY sandbox_id) newest
           ON s.sandbox_id = newest.sandbox_id AND s.time = newest.time ORDER BY s.sandbox_id`,
        [since],
      )
      .map(sampleOfRow);
  }

  gauges(name: string, since: number, sandboxId?: string): Gauge[] {
    const rows = this.db.all<{ name: string; sandbox_id: string; time: number; value: number }>(
      `SELECT * FROM gauges WHERE name = ? AND time >= ? ${sandboxId !== undefined ? 'AND sandbox_id = ?' : ''} ORDER BY time`,
      sandboxId !== undefined ? [name, since, sandboxId] : [name, since],
    );
    return rows.map((r) => ({ name: r.name, sandboxId: r.sandbox_id, time: Number(r.time), value: Number(r.value) }));
  }

  logs(sandboxId: string, options: { since?: number; source?: string; limit?: number } = {}): LogLine[] {
    const values: (string | number)[] = [sandboxId, options.since ?? 0];
    const bySource = options.source ? 'AND source = ?' : '';
    if (options.source) values.push(options.source);
    const limit = Math.max(1, Math.min(options.limit ?? 1000, 100_000));
    const rows = this.db.all<{ time: number; sandbox_id: string; source: string; stream: string; line: string }>(
      `SELECT * FROM logs WHERE sandbox_id = ? AND time >= ? ${bySource} ORDER BY id DESC LIMIT ${limit}`,
      values,
    );
    return rows.reverse().map((r) => ({
      time: Number(r.time),
      sandboxId: r.sandbox_id,
      source: r.source as LogSource,
      stream: r.stream === 'stderr' ? 'stderr' : 'stdout',
      line: r.line,
    }));
  }

  sandboxes(): KnownSandbox[] {
    return this.db
      .all<{ sandbox_id: string; name: string; provider: string | null; agent: string | null; first_seen: number; last_seen: number; deleted: number | null }>(
        'SELECT * FROM sandboxes ORDER BY name',
      )
      .map((r) => ({
        sandboxId: r.sandbox_id,
        name: r.name,
        firstSeen: Number(r.first_seen),
        lastSeen: Number(r.last_seen),
        ...(r.provider ? { provider: r.provider } : {}),
        ...(r.agent ? { agent: r.agent } : {}),
        ...(r.deleted !== null ? { deleted: Number(r.deleted) } : {}),
      }));
  }

  problems(limit = 20): { time: number; source: string; message: string }[] {
    return this.db
      .all<{ time: number; source: string; message: string }>(
        `SELECT time, source, message FROM problems ORDER BY id DESC LIMIT ${Math.max(1, Math.min(limit, 1000))}`,
      )
      .map((r) => ({ time: Number(r.time), source: r.source, message: r.message }));
  }
}

function eventOfRow(row: EventRow): StoredEvent {
  let data: Record<string, unknown> = {};
  try {
    data = JSON.parse(row.data) as Record<string, unknown>;
  } catch {
    // Written by this module as JSON; a row edited by hand reads as no fields.
  }
  return {
    id: Number(row.id),
    time: Number(row.time),
    type: row.type,
    sandboxId: row.sandbox_id,
    sandbox: row.sandbox,
    ...(row.agent ? { agent: row.agent } : {}),
    ...(row.task ? { task: row.task } : {}),
    ...(row.provider ? { provider: row.provider } : {}),
    data,
  };
}

function optionalNumber(value: number | null): number | undefined {
  return value === null ? undefined : Number(value);
}

function sampleOfRow(row: SampleRow): Sample {
  const sample: Sample = {
    sandboxId: row.sandbox_id,
    time: Number(row.time),
    cpuPercent: Number(row.cpu_percent ?? 0),
    memoryBytes: Number(row.memory_bytes ?? 0),
  };
  const optional = {
    memoryLimitBytes: optionalNumber(row.memory_limit_bytes),
    diskBytes: optionalNumber(row.disk_bytes),
    netRxBytes: optionalNumber(row.net_rx_bytes),
    netTxBytes: optionalNumber(row.net_tx_bytes),
    pids: optionalNumber(row.pids),
  };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) (sample as unknown as Record<string, number>)[key] = value;
  return sample;
}

function isEmptyBatch(batch: IngestBatch): boolean {
  return Object.values(batch).every((rows) => !Array.isArray(rows) || rows.length === 0);
}
