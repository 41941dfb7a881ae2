/**
 * The collector's part for logs from inside the sandboxes: every round, for each running
 * sandbox, its own output (a container's, from the engine, since the last line taken), its system
 * log where it has one (droplets and SSH hosts' directory sandboxes: the journal, or
 * /var/log/syslog) and the agent log files its profile's `logs` patterns match, read as its user
 * over the exec channel. What was taken and where each source stopped are stored in one
 * transaction, so a collector killed at any point resumes without losing or doubling a line.
 */
import type { SandboxController } from '../controller';
import { describeError } from '../errors';
import type { SandboxRecord } from '../model';
import { parseLogPatterns } from '../profile';
import type { CollectorPart } from './collector';
import { EngineLogFilter, engineSince, type EngineLogCursor } from './engineLogCursor';
import {
  DEFAULT_FILE_TAIL_LIMITS,
  cutLine,
  fileTailScript,
  nextFileTailStart,
  parseFileTailOutput,
  takeLines,
  type FilePosition,
  type FileTailLimits,
} from './fileTail';
import { journalTailScript, parseJournalOutput, SYSLOG_FILE } from './journalTail';
import type { CollectorStore, IngestBatch, LogLine, SourceOffset } from './store';

export const SANDBOX_LOGS_INTERVAL_MS = 5_000;
/** Lines of a container's own output taken per round; the rest waits for the next. */
export const MAX_ENGINE_LINES_PER_ROUND = 5_000;
/** Bytes of a container's own output taken per round (its lines as cut); the rest waits for the next. */
export const MAX_ENGINE_BYTES_PER_ROUND = 1024 * 1024;
/** The lines a container printed before the collector first saw it that are taken: its newest. */
export const FIRST_ENGINE_LINES = 1_000;
/** Sandboxes read at once. */
const CONCURRENCY = 4;
const EXEC_TIMEOUT_MS = 15_000;
/**
 * Positions of files a sandbox had, handed to its script (the newest first): a file whose
 * position is left out is read again from its start. The script is one argument of a command (at
 * most 128 KiB on Linux): a position takes at most 49 bytes of it, the quoted patterns 32 KiB.
 */
const MAX_KNOWN_FILES = 1_500;

export type SandboxLogsController = Pick<SandboxController, 'store' | 'provider' | 'inspectExec'>;

export interface SandboxLogsOptions {
  controller: SandboxLogsController;
  intervalMs?: number;
  limits?: Partial<FileTailLimits>;
  maxEngineLinesPerRound?: number;
}

/** The offsets' keys in the store's `sources` table: one per sandbox and source. */
export function logSourceKey(sandboxId: string, source: string): string {
  return `logs/${sandboxId}/${source}`;
}

/** What one sandbox gave this round. */
interface SandboxRound {
  logs: LogLine[];
  offsets: SourceOffset[];
  /** What kept a source from being read while the others were. */
  problem?: string;
}

export class SandboxLogsPart implements CollectorPart {
  readonly name = 'sandbox logs';
  readonly intervalMs: number;
  private readonly limits: FileTailLimits;
  private readonly maxEngineLines: number;
  /** The last problem told per sandbox, so one that lasts is stored once. */
  private readonly told = new Map<string, string>();
  /** Sandboxes found without a journal: their /var/log/syslog is tailed instead. */
  private readonly withoutJournal = new Set<string>();
  /** Per sandbox, the matched file its next round of files starts from (they are taken in turn). */
  private readonly fileStarts = new Map<string, number>();

  constructor(private readonly options: SandboxLogsOptions) {
    this.intervalMs = options.intervalMs ?? SANDBOX_LOGS_INTERVAL_MS;
    this.limits = { ...DEFAULT_FILE_TAIL_LIMITS, ...options.limits };
    this.maxEngineLines = options.maxEngineLinesPerRound ?? MAX_ENGINE_LINES_PER_ROUND;
  }

  async collect(store: CollectorStore, signal: AbortSignal): Promise<IngestBatch> {
    const records = (await this.options.controller.store.listRecords()).filter((r) => r.state === 'running' && r.providerRef);
    const batch: Required<Pick<IngestBatch, 'logs' | 'offsets' | 'problems'>> = { logs: [], offsets: [], problems: [] };
    const queue = [...records];
    // A problem that lasts is stored once, when it starts.
    const tell = (record: SandboxRecord, message: string | undefined) => {
      if (message === undefined) this.told.delete(record.id);
      else if (this.told.get(record.id) !== message) {
        this.told.set(record.id, message);
        batch.problems.push({ time: Date.now(), source: logSourceKey(record.id, '*'), message });
      }
    };
    const worker = async () => {
      for (let record = queue.shift(); record && !signal.aborted; record = queue.shift()) {
        try {
          const round = await this.collectOne(store, record, signal);
          batch.logs.push(...round.logs);
          batch.offsets.push(...round.offsets);
          tell(record, round.problem);
        } catch (error) {
          if (!signal.aborted) tell(record, `The logs of ${record.name} could not be read: ${describeError(error)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queue.length) }, worker));
    return batch;
  }

  /** One sandbox's round; each source's lines go with its offset, so a failure of one source loses nothing taken of another. */
  async collectOne(store: CollectorStore, record: SandboxRecord, signal: AbortSignal): Promise<SandboxRound> {
    const round: SandboxRound = { logs: [], offsets: [] };
    const ownOutput = record.provider === 'docker' || record.placement?.kind === 'container';
    if (ownOutput) await this.readEngineOutput(store, record, round, signal);
    else await this.readJournal(store, record, round, signal);
    const patterns: string[] = [];
    try {
      // Checked when the sandbox was made; checked again, since a record is a file anyone may edit.
      if (record.profile.logs !== undefined) patterns.push(...parseLogPatterns(record.profile.logs));
    } catch (error) {
      round.problem = `The log files of ${record.name} are not read: ${describeError(error)}`;
    }
    if (this.withoutJournal.has(record.id)) patterns.push(SYSLOG_FILE);
    if (patterns.length > 0) await this.readFiles(store, record, patterns, round, signal);
    return round;
  }

  private async readEngineOutput(store: CollectorStore, record: SandboxRecord, round: SandboxRound, signal: AbortSignal): Promise<void> {
    const key = logSourceKey(record.id, 'sandbox');
    const stored = store.offset(key);
    const cursor: EngineLogCursor | undefined = stored?.fileId ? { time: stored.fileId, count: stored.offset } : undefined;
    const filter = new EngineLogFilter(cursor);
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const since = engineSince(cursor);
    let taken = 0;
    try {
      // A stream read only as far as the caps: the backlog of a container that prints without end
      // is never read whole. Its first round takes the newest lines, not all it ever printed.
      const lines = this.options.controller.provider(record.provider).logs(record.providerRef!, {
        signal: stop.signal,
        ...(since !== undefined ? { since } : { tail: FIRST_ENGINE_LINES }),
      });
      let bytes = 0;
      for await (const line of lines) {
        if (!filter.take(line.time)) continue;
        const time = Date.parse(line.time);
        const text = cutLine(line.text, this.limits.maxLineChars);
        round.logs.push({ time: Number.isNaN(time) ? Date.now() : time, sandboxId: record.id, source: 'sandbox', stream: line.stream, line: text });
        bytes += Buffer.byteLength(text);
        if (++taken >= this.maxEngineLines || bytes >= MAX_ENGINE_BYTES_PER_ROUND) break;
      }
    } finally {
      stop.abort();
      signal.removeEventListener('abort', onAbort);
    }
    const position = filter.position;
    if (taken > 0 && position) round.offsets.push({ source: key, fileId: position.time, offset: position.count });
  }

  private async readJournal(store: CollectorStore, record: SandboxRecord, round: SandboxRound, signal: AbortSignal): Promise<void> {
    if (this.withoutJournal.has(record.id)) return;
    const key = logSourceKey(record.id, 'system');
    const result = await this.options.controller.inspectExec(record.id, {
      command: journalTailScript(store.offset(key)?.fileId, { asRoot: record.provider === 'digitalocean' }),
      user: record.user,
      timeoutMs: EXEC_TIMEOUT_MS,
      maxOutputBytes: this.limits.maxBytesPerRound * 2,
      signal,
    });
    const read = parseJournalOutput(result.stdout, this.limits.maxLineChars);
    if (read.noJournal) {
      this.withoutJournal.add(record.id);
      return;
    }
    for (const line of read.lines) round.logs.push({ ...line, sandboxId: record.id, source: 'system' });
    if (read.cursor) round.offsets.push({ source: key, fileId: read.cursor, offset: 0 });
  }

  private async readFiles(store: CollectorStore, record: SandboxRecord, patterns: string[], round: SandboxRound, signal: AbortSignal): Promise<void> {
    const known = knownFiles(store, record.id);
    const result = await this.options.controller.inspectExec(record.id, {
      command: fileTailScript(patterns, known, this.limits, this.fileStarts.get(record.id) ?? 0),
      user: record.user,
      timeoutMs: EXEC_TIMEOUT_MS,
      // base64 is 4/3 of the bytes; headers and paths take little beside.
      maxOutputBytes: Math.ceil((this.limits.maxBytesPerRound * 4) / 3) + this.limits.maxFiles * 8192,
      signal,
    });
    this.fileStarts.set(record.id, nextFileTailStart(result.stdout));
    const now = Date.now();
    const read = new Set<string>();
    for (const chunk of parseFileTailOutput(result.stdout, this.limits)) {
      // One file matched twice (a link beside it) is read once.
      if (read.has(chunk.fileId)) continue;
      read.add(chunk.fileId);
      const key = logSourceKey(record.id, `file:${chunk.path}`);
      const from = known.find((k) => k.fileId === chunk.fileId && k.offset === chunk.offset);
      const taken = takeLines(chunk, this.limits.maxLineChars, from?.midLine ?? false);
      const source = chunk.path === SYSLOG_FILE && this.withoutJournal.has(record.id) ? 'system' : (`file:${chunk.path}` as const);
      for (const line of taken.lines) round.logs.push({ time: now, sandboxId: record.id, source, stream: 'stdout', line });
      const before = known.find((k) => k.source === key);
      if (taken.offset !== before?.offset || chunk.fileId !== before.fileId || taken.midLine !== before.midLine) {
        round.offsets.push({ source: key, fileId: `${chunk.fileId}${taken.midLine ? MID_LINE_MARK : ''}`, offset: taken.offset });
      }
    }
  }
}

/** Ends a file's stored identity when its offset is inside a line taken cut. */
const MID_LINE_MARK = '~';

interface KnownFile extends FilePosition {
  source: string;
  midLine: boolean;
}

/** The positions of the files of a sandbox, newest first. */
function knownFiles(store: CollectorStore, sandboxId: string): KnownFile[] {
  const prefix = logSourceKey(sandboxId, 'file:');
  const rows = store.db.all<{ source: string; file_id: string | null; offset: number }>(
    `SELECT source, file_id, offset FROM sources WHERE substr(source, 1, ?) = ? AND file_id IS NOT NULL ORDER BY updated DESC LIMIT ${MAX_KNOWN_FILES}`,
    [prefix.length, prefix],
  );
  return rows.map((row) => {
    const midLine = row.file_id!.endsWith(MID_LINE_MARK);
    return { source: row.source, fileId: midLine ? row.file_id!.slice(0, -1) : row.file_id!, offset: Number(row.offset), midLine };
  });
}
