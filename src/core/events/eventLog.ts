import { closeSync, fstatSync, mkdirSync, openSync, promises as fs, renameSync, rmSync, statSync, watch, writeSync, type FSWatcher, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { openWithStat } from '../store/files';
import type { EventBus, Unsubscribe } from './bus';
import { shareable, type BusEvent } from './types';

export const EVENT_LOG_FILE = 'events.jsonl';
export const ROTATED_EVENT_LOG_FILE = 'events.1.jsonl';
/** Under PIPE_BUF (4096): one write of a line this short is never interleaved with another process's. */
export const MAX_EVENT_LINE_BYTES = 4000;
/** How long the bus's events wait to be written together. */
export const APPEND_DELAY_MS = 25;
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
const DEFAULT_POLL_MS = 1000;
/** A rotation lock older than this was left by a process that died while rotating. */
const STALE_LOCK_MS = 10_000;

export interface EventLogOptions {
  /** Past this size the file is renamed to events.1.jsonl (replacing the previous one) and a new one begun. */
  maxBytes?: number;
  /** How often a follower looks for appends when no file-system notice came (some file systems send none). */
  pollMs?: number;
  /** Whether followers also listen to fs.watch (default); without it they rely on the poll alone. */
  watch?: boolean;
}

/** Where a reader is: a byte offset into the file with this identity (device and inode). */
export interface EventLogRead {
  events: BusEvent[];
  /** Where the next read starts: just past the last whole line read. */
  nextOffset: number;
  /** The identity of the file `nextOffset` belongs to; undefined while there is no file. */
  fileId?: string;
}

/**
 * The state dir's events.jsonl: every event of every process, one JSON line each, for other
 * processes (the CLI, a daemon, the extension) to read and follow. Each line is appended with
 * one O_APPEND write, below PIPE_BUF, so several processes may append at once. Past a size
 * bound it is rotated to events.1.jsonl under a lock file; readers follow across the rotation.
 */
export class EventLog {
  readonly file: string;
  readonly rotatedFile: string;
  private readonly lockFile: string;
  private readonly maxBytes: number;
  private readonly pollMs: number;
  private readonly watch: boolean;
  private queue: Buffer[] = [];

  constructor(
    readonly dir: string,
    options: EventLogOptions = {},
  ) {
    this.file = path.join(dir, EVENT_LOG_FILE);
    this.rotatedFile = path.join(dir, ROTATED_EVENT_LOG_FILE);
    this.lockFile = path.join(dir, 'events.lock');
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.watch = options.watch ?? true;
  }

  /** Appends every event of the bus; a failed append is the bus's to report, it stops nothing. */
  subscribe(bus: EventBus): Unsubscribe {
    return bus.onAny((event) => this.appendSoon(event));
  }

  /** Appends one event (without its `localOnly` part), before returning. */
  append(event: BusEvent): void {
    this.flush();
    this.write([serializeEvent(event)]);
  }

  /**
   * Appends one event within APPEND_DELAY_MS (or at this process's exit, or at its next read
   * here), so the write stays off the path of the operation that emitted it and a burst of events
   * costs one opening of the file; this process's lines keep their order. How the bus's events
   * are written.
   */
  appendSoon(event: BusEvent): void {
    this.queue.push(serializeEvent(event));
    if (this.queue.length > 1) return;
    if (unflushed.size === 0) process.once('exit', flushAllAtExit);
    unflushed.add(this);
    // A short wait gathers the events of a burst into one opening of the file; unref'd, so no
    // process waits for it to end (its exit writes what is left).
    setTimeout(() => this.flushQuietly(), APPEND_DELAY_MS).unref();
  }

  /** Writes what this process appended and has not written yet. */
  flush(): void {
    if (this.queue.length === 0) return;
    const lines = this.queue;
    this.queue = [];
    unflushed.delete(this);
    if (unflushed.size === 0) process.removeListener('exit', flushAllAtExit);
    this.write(lines);
  }

  /** The last append that could not be written (a full disk, a removed state dir), if any. */
  lastWriteError?: unknown;

  /** `flush`, keeping a failure in `lastWriteError` instead of throwing it. */
  flushQuietly(): void {
    try {
      this.flush();
    } catch (error) {
      // The log is for other processes to follow; failing to write it must not fail this one.
      this.lastWriteError = error;
    }
  }

  /** Where the log ends now: a follower starting here sees only what comes next. */
  async end(): Promise<{ offset: number; fileId?: string }> {
    this.flushQuietly();
    const info = await statOf(this.file);
    return { offset: info?.size ?? 0, fileId: info ? fileIdOf(info) : undefined };
  }

  /**
   * The whole lines from `fromOffset` on. Give the `fileId` of the previous read: if the file was
   * rotated since, the rest of the rotated file is read first, then the new one from its start.
   * Without it, an offset past the end is taken as a rotation too.
   */
  async read(fromOffset = 0, fileId?: string): Promise<EventLogRead> {
    this.flushQuietly();
    // The current file opened once: its id and its lines are of one file, even while another
    // process rotates it between the two (a stat, then an open, could pair one file's id with
    // the next one's lines, and a follower would then wait past lines it never read).
    const current = await openWithStat(this.file);
    try {
      const currentId = current ? fileIdOf(current.info) : undefined;
      const rotated = fileId !== undefined ? fileId !== currentId : fromOffset > (current?.info.size ?? 0);
      const events: BusEvent[] = [];
      let offset = fromOffset;
      if (rotated) {
        const old = await statOf(this.rotatedFile);
        // The rest of the file we were reading, if it is the one rotated (not one rotated twice since).
        if (old && (fileId === undefined || fileIdOf(old) === fileId) && old.size >= fromOffset) {
          events.push(...(await readLines(this.rotatedFile, fromOffset)).events);
        }
        offset = 0;
      }
      if (!current) return { events, nextOffset: 0, fileId: undefined };
      const chunk = await readOpenLines(current.handle, current.info.size, offset);
      events.push(...chunk.events);
      return { events, nextOffset: chunk.nextOffset, fileId: currentId };
    } finally {
      await current?.handle.close();
    }
  }

  /**
   * Yields every event from `fromOffset` on, then each one appended by any process, until the
   * signal aborts. Woken by fs.watch, with a poll as a fallback.
   */
  async *follow(fromOffset: number, signal: AbortSignal, fileId?: string): AsyncGenerator<BusEvent> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    let offset = fromOffset;
    let id = fileId;
    let changed: boolean;
    let wake: (() => void) | undefined;
    const poke = () => {
      changed = true;
      wake?.();
    };
    const watcher = this.watch ? watchDir(this.dir, poke) : undefined;
    const poll = setInterval(poke, this.pollMs);
    signal.addEventListener('abort', poke);
    try {
      while (!signal.aborted) {
        changed = false; // set again by any notice during the read: no append is missed
        const batch = await this.read(offset, id);
        offset = batch.nextOffset;
        id = batch.fileId;
        for (const event of batch.events) {
          if (signal.aborted) return;
          yield event;
        }
        if (batch.events.length > 0 || changed) continue;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      watcher?.close();
      clearInterval(poll);
      signal.removeEventListener('abort', poke);
    }
  }

  /** One O_APPEND write per line, each below PIPE_BUF: lines of processes appending at once never mix. */
  private write(lines: Buffer[]): void {
    let fd: number;
    try {
      fd = openSync(this.file, 'a', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      fd = openSync(this.file, 'a', 0o600);
    }
    let size: number;
    try {
      for (const line of lines) writeSync(fd, line, 0, line.length);
      size = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
    if (size >= this.maxBytes) this.rotate();
  }

  /** Renames the full file aside; the lock keeps two processes from rotating twice (losing a file). */
  private rotate(): void {
    if (!this.lock()) return; // another process is rotating
    try {
      const info = statSync(this.file, { throwIfNoEntry: false });
      if (info && info.size >= this.maxBytes) renameSync(this.file, this.rotatedFile);
    } finally {
      rmSync(this.lockFile, { force: true });
    }
  }

  private lock(): boolean {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        closeSync(openSync(this.lockFile, 'wx', 0o600));
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const held = statSync(this.lockFile, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs < STALE_LOCK_MS) return false;
      rmSync(this.lockFile, { force: true });
    }
    return false;
  }
}

/** Event logs with lines not written yet: written when the process exits, even by process.exit(). */
const unflushed = new Set<EventLog>();

function flushAllAtExit(): void {
  for (const log of [...unflushed]) log.flushQuietly();
}

/** One JSON line, `type` first (a torn line is recovered from the next `{"type":`), below MAX_EVENT_LINE_BYTES. */
export function serializeEvent(event: BusEvent): Buffer {
  const shared = shareable(event);
  let line = JSON.stringify(Object.assign({ type: shared.type }, shared)) + '\n';
  if (Buffer.byteLength(line) > MAX_EVENT_LINE_BYTES) line = JSON.stringify(shortened(shared)) + '\n';
  return Buffer.from(line);
}

/** An event too long for one line: long strings cut, and if that is not enough, only its identity. */
function shortened(event: BusEvent): Record<string, unknown> {
  const cut = Object.fromEntries(
    Object.entries(Object.assign({ type: event.type }, event)).map(([key, value]) => [
      key,
      typeof value === 'string' && value.length > 200 ? `${value.slice(0, 199)}…` : value,
    ]),
  );
  const withFlag = { ...cut, shortened: true };
  if (Buffer.byteLength(JSON.stringify(withFlag)) < MAX_EVENT_LINE_BYTES - 1) return withFlag;
  return { type: event.type, sandboxId: event.sandboxId, time: event.time, shortened: true };
}

/** The whole lines of a file from an offset; a last line without its newline (still being written, or torn) is left. */
async function readLines(file: string, fromOffset: number): Promise<{ events: BusEvent[]; nextOffset: number }> {
  const opened = await openWithStat(file);
  if (!opened) return { events: [], nextOffset: fromOffset };
  try {
    return await readOpenLines(opened.handle, opened.info.size, fromOffset);
  } finally {
    await opened.handle.close();
  }
}

/** The whole lines of an open file from `fromOffset` up to `size`. */
async function readOpenLines(handle: FileHandle, size: number, fromOffset: number): Promise<{ events: BusEvent[]; nextOffset: number }> {
  let buffer = Buffer.alloc(Math.max(0, size - fromOffset));
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, fromOffset);
  buffer = buffer.subarray(0, bytesRead);
  const end = buffer.lastIndexOf(0x0a);
  if (end < 0) return { events: [], nextOffset: fromOffset };
  const events = buffer
    .subarray(0, end)
    .toString('utf8')
    .split('\n')
    .map(parseLine)
    .filter((event): event is BusEvent => event !== undefined);
  return { events, nextOffset: fromOffset + end + 1 };
}

/** A line, or the last event in it when a writer died mid-line and the next append followed on. */
function parseLine(line: string): BusEvent | undefined {
  if (line.trim() === '') return undefined;
  for (const start of [0, line.lastIndexOf('{"type":')]) {
    if (start < 0) continue;
    try {
      const value = JSON.parse(line.slice(start)) as BusEvent;
      if (value && typeof value === 'object' && typeof value.type === 'string') return value;
    } catch {
      // torn: try from the last event start
    }
  }
  return undefined;
}

async function statOf(file: string): Promise<Stats | undefined> {
  return fs.stat(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
}

function fileIdOf(info: Stats): string {
  return `${info.dev}:${info.ino}`;
}

/** fs.watch where the platform gives it; the poll covers the rest. */
function watchDir(dir: string, onChange: () => void): FSWatcher | undefined {
  try {
    const watcher = watch(dir, onChange);
    watcher.on('error', () => watcher.close());
    return watcher;
  } catch {
    return undefined;
  }
}
