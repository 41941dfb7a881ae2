import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EVENT_LOG_FILE, ROTATED_EVENT_LOG_FILE } from '../events/eventLog';
import { StateStore } from '../store/stateStore';
import { ChangeWatch } from './changeWatch';
import { DEFAULT_INGEST_INTERVAL_MS, type CollectorPart } from './collector';
import { DEFAULT_MAX_READ_BYTES, readNewLines, type LinesRead } from './lineReader';
import type { CollectedEvent, CollectorStore, IngestBatch, KnownSandbox, LogLine } from './store';

/** The source name of the state dir's events.jsonl in the store's offsets. */
export const EVENTS_SOURCE = 'events';
/** Journals are sources `journal:ID`. */
export const JOURNAL_SOURCE_PREFIX = 'journal:';
/** The sandboxes' journals, in the state dir. */
const JOURNAL_DIR = 'journal';
/** The most read of all journals together in one round; the rest waits for the next. */
const JOURNALS_ROUND_BYTES = 8 * 1024 * 1024;
const JOURNAL_READ_BYTES = 1024 * 1024;
/** With nothing changed by the system's notifications, the files are still looked at this often. */
const FULL_LOOK_MS = 30_000;

export interface JournalIngestOptions {
  stateRoot: string;
  log: (line: string) => void;
  intervalMs?: number;
  /** The most read of events.jsonl in one round (tests make it small). */
  maxReadBytes?: number;
  /** With no change notified, the files are still looked at this often (0: every round). */
  fullLookMs?: number;
}

type Batch = Required<Pick<IngestBatch, 'events' | 'logs' | 'sandboxes' | 'offsets' | 'dropOffsets' | 'problems'>>;

/**
 * Ingests the state dir's events.jsonl (into events, keeping the sandboxes table current) and each
 * sandbox's journal (the commands' output, into logs). Each file's new offset goes in the same
 * batch as its rows, so the store writes both in one transaction: a collector killed at any point
 * and started again loses and doubles nothing.
 */
export class JournalIngester implements CollectorPart {
  readonly name = 'journal ingest';
  readonly intervalMs: number;
  private readonly records: StateStore;
  private known?: Map<string, KnownSandbox>;
  /** Where the next round starts among the journals, so a few busy ones do not starve the rest. */
  private nextJournal = 0;
  /** Sandboxes without a record or a sandbox.created we have seen: not looked up again. */
  private readonly unknown = new Set<string>();
  /** Torn lines already logged (by file and offset): a batch stored again after a failure logs nothing twice. */
  private readonly logged = new Set<string>();
  /** An idle round (most of them) is told by a notification instead of a look at every journal. */
  private readonly changes: ChangeWatch;

  constructor(private readonly options: JournalIngestOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_INGEST_INTERVAL_MS;
    this.records = new StateStore(options.stateRoot);
    this.changes = new ChangeWatch(
      [{ dir: options.stateRoot, names: [EVENT_LOG_FILE, ROTATED_EVENT_LOG_FILE] }, { dir: path.join(options.stateRoot, JOURNAL_DIR) }],
      options.fullLookMs ?? FULL_LOOK_MS,
    );
  }

  close(): void {
    this.changes.close();
  }

  /** The last round failed, or the store did not take it: it is read again at the next, notified or not. */
  failed(): void {
    this.changes.again();
  }

  async collect(store: CollectorStore): Promise<IngestBatch> {
    if (!this.changes.shouldLook()) return {};
    this.known ??= new Map(store.sandboxes().map((known) => [known.sandboxId, known]));
    const batch: Batch = { events: [], logs: [], sandboxes: [], offsets: [], dropOffsets: [], problems: [] };
    await this.ingestEvents(store, batch);
    await this.ingestJournals(store, batch);
    return batch;
  }

  private async ingestEvents(store: CollectorStore, batch: Batch): Promise<void> {
    const from = store.offset(EVENTS_SOURCE);
    const read = await readNewLines(
      {
        source: EVENTS_SOURCE,
        file: path.join(this.options.stateRoot, EVENT_LOG_FILE),
        rotatedFile: path.join(this.options.stateRoot, ROTATED_EVENT_LOG_FILE),
        maxBytes: this.options.maxReadBytes ?? DEFAULT_MAX_READ_BYTES,
        lineStart: '{"type":',
      },
      from,
    );
    if (read.more) this.changes.again(); // the rest at the next round, whatever is notified
    this.report(read, EVENTS_SOURCE, batch);
    for (const { value } of read.lines) {
      const event = await this.collectedEvent(value);
      if (!event) {
        batch.problems.push({ time: Date.now(), source: EVENTS_SOURCE, message: 'a line without an event type was skipped' });
        continue;
      }
      batch.events.push(event);
      const known = this.remember(event);
      if (known) batch.sandboxes.push(known);
    }
    // Unchanged, it is not written: an idle round writes nothing.
    if (read.next.offset !== from?.offset || read.next.fileId !== from?.fileId) batch.offsets.push(read.next);
  }

  private async ingestJournals(store: CollectorStore, batch: Batch): Promise<void> {
    const dir = path.join(this.options.stateRoot, JOURNAL_DIR);
    const names = await fs.readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    const ids = new Set(names.filter((name) => name.endsWith('.jsonl')).map((name) => name.slice(0, -'.jsonl'.length)));
    const saved = new Map(store.offsets(JOURNAL_SOURCE_PREFIX).map((offset) => [offset.source, offset]));
    // A deleted sandbox's journal is gone with it: its offset goes too.
    for (const source of saved.keys()) if (!ids.has(source.slice(JOURNAL_SOURCE_PREFIX.length))) batch.dropOffsets.push(source);
    let budget = JOURNALS_ROUND_BYTES;
    const sorted = [...ids].sort();
    const start = sorted.length > 0 ? this.nextJournal % sorted.length : 0;
    const ordered = [...sorted.slice(start), ...sorted.slice(0, start)];
    this.nextJournal = start;
    for (const id of ordered) {
      // Each journal is read with the full per-file bound or not at all this round: a read cut
      // short by the round's budget would take a whole line with no newline in reach for one too long.
      if (budget < JOURNAL_READ_BYTES) {
        this.changes.again();
        break;
      }
      this.nextJournal++;
      const source = `${JOURNAL_SOURCE_PREFIX}${id}`;
      const from = saved.get(source);
      const read = await readNewLines({ source, file: path.join(dir, `${id}.jsonl`), maxBytes: JOURNAL_READ_BYTES, lineStart: '{"time":' }, from);
      if (read.next.fileId === undefined) {
        if (from) batch.dropOffsets.push(source); // removed since the listing
        continue;
      }
      budget -= read.next.offset - (from?.fileId === read.next.fileId ? from.offset : 0);
      if (read.more) this.changes.again();
      this.report(read, source, batch);
      for (const { value } of read.lines) batch.logs.push(...execLogLines(id, value));
      if (read.next.offset !== from?.offset || read.next.fileId !== from?.fileId) batch.offsets.push(read.next);
    }
  }

  /** Torn lines and lost stretches go to `problems`, and to the log once each. */
  private report(read: LinesRead, source: string, batch: Batch): void {
    const now = Date.now();
    for (const torn of read.torn) {
      batch.problems.push({ time: now, source, message: torn.message });
      const key = `${torn.file}:${torn.offset}`;
      if (!this.logged.has(key)) {
        this.logged.add(key);
        this.options.log(`Collector: ${torn.message}.`);
      }
    }
    if (read.lost) {
      batch.problems.push({ time: now, source, message: read.lost });
      this.options.log(`Collector: ${read.lost}`);
    }
  }

  private async collectedEvent(raw: Record<string, unknown>): Promise<CollectedEvent | undefined> {
    const { type, sandboxId: rawId, time: rawTime, ...data } = raw;
    if (typeof type !== 'string' || type === '') return undefined;
    const sandboxId = typeof rawId === 'string' ? rawId : '';
    const parsedTime = typeof rawTime === 'string' ? Date.parse(rawTime) : NaN;
    const known = sandboxId ? await this.lookUp(sandboxId) : undefined;
    const event: CollectedEvent = {
      time: Number.isFinite(parsedTime) ? parsedTime : Date.now(),
      type,
      sandboxId,
      sandbox: stringOf(data.name) ?? known?.name ?? '',
      data,
    };
    const agent = stringOf(data.agentId) ?? known?.agent;
    const provider = stringOf(data.provider) ?? known?.provider;
    const task = stringOf(data.taskId);
    if (agent) event.agent = agent;
    if (provider) event.provider = provider;
    if (task) event.task = task;
    return event;
  }

  /** What the store, or failing it the sandbox's record, knows of a sandbox. */
  private async lookUp(sandboxId: string): Promise<KnownSandbox | undefined> {
    const known = this.known!.get(sandboxId);
    if (known || this.unknown.has(sandboxId)) return known;
    const record = await this.records.readRecord(sandboxId).catch(() => undefined);
    if (!record) {
      this.unknown.add(sandboxId);
      return undefined;
    }
    const time = Date.parse(record.createdAt) || Date.now();
    const found: KnownSandbox = { sandboxId, name: record.name, agent: record.agentId, provider: record.provider, firstSeen: time, lastSeen: time };
    this.known!.set(sandboxId, found);
    return found;
  }

  /** The sandbox's row as this event leaves it, when its name is known. */
  private remember(event: CollectedEvent): KnownSandbox | undefined {
    if (!event.sandboxId || !event.sandbox) return undefined;
    const before = this.known!.get(event.sandboxId);
    const known: KnownSandbox = {
      sandboxId: event.sandboxId,
      name: event.sandbox,
      firstSeen: Math.min(before?.firstSeen ?? event.time, event.time),
      lastSeen: Math.max(before?.lastSeen ?? event.time, event.time),
    };
    const agent = event.agent ?? before?.agent;
    const provider = event.provider ?? before?.provider;
    const deleted = event.type === 'sandbox.deleted' ? event.time : before?.deleted;
    if (agent) known.agent = agent;
    if (provider) known.provider = provider;
    if (deleted !== undefined) known.deleted = deleted;
    this.known!.set(event.sandboxId, known);
    this.unknown.delete(event.sandboxId);
    return known;
  }
}

/** The output lines of one journal entry of an exec; other entries are told by events. */
export function execLogLines(sandboxId: string, entry: Record<string, unknown>): LogLine[] {
  if (entry.kind !== 'exec') return [];
  const parsed = typeof entry.time === 'string' ? Date.parse(entry.time) : NaN;
  const time = Number.isFinite(parsed) ? parsed : Date.now();
  const lines: LogLine[] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    const text = entry[stream];
    if (typeof text !== 'string' || text === '') continue;
    const split = text.split('\n');
    if (split[split.length - 1] === '') split.pop();
    for (const line of split) lines.push({ time, sandboxId, source: 'exec', stream, line });
  }
  return lines;
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
