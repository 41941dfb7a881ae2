import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmdirSync, rmSync, statSync, writeSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { SandboxError } from '../errors';
import { TaskBook, type QueueEvent } from './fold';
import { isFinished, type Task } from './model';

export const QUEUE_FILE = 'task_queue.jsonl';
/** Past this many lines of events, the scheduler compacts the file. */
export const COMPACT_AFTER_LINES = 5000;
/** Finished tasks a compaction keeps (the newest); older ones leave the file. */
export const KEEP_FINISHED = 1000;
/** A compaction lock older than this was left by a process that died compacting. */
const STALE_LOCK_MS = 30_000;

/** An event as a writer gives it: the queue adds its eid and time. */
export type NewQueueEvent = QueueEvent extends infer E
  ? E extends { eid: string; time: string }
    ? Omit<E, 'eid' | 'time'> & { time?: string }
    : never
  : never;

/**
 * task_queue.jsonl, as any process uses it (docs/tasks.md names the protocol):
 * - an append is whole lines in one write() to a descriptor opened with O_APPEND, preceded by a
 *   newline when the file ends in a torn line, so a crash mid-line never swallows the next one;
 * - a compaction holds the lock directory `task_queue.lock`, writes the folded state to a new file,
 *   renames it over the queue, then copies over any line appended to the old file meanwhile;
 * - after its write, an appender checks that the name still leads to the file it wrote to; if a
 *   compaction swapped it, the lines are appended again to the new file. Every line carries an
 *   `eid`, so a line that arrives twice counts once.
 */
export class TaskQueue {
  readonly file: string;
  private readonly lockDir: string;
  private book = new TaskBook();
  private fileId?: string;
  private offset = 0;
  private lineNumber = 0;
  /** Event lines in the current file (snapshots not counted): what makes a compaction due. */
  private eventLines = 0;
  /** Whether the last read ended in a line without its newline. */
  private tornTail = false;
  /** The event lines (with an eid) of the current file, carried into the next file when a compaction swaps it. */
  private eventTexts: string[] = [];
  /** Event lines of the file before a swap, applied after the new file is read. */
  private carried: string[] = [];

  constructor(readonly stateRoot: string) {
    this.file = path.join(stateRoot, QUEUE_FILE);
    this.lockDir = path.join(stateRoot, 'task_queue.lock');
  }

  /** Appends events as one write; returns them with the eids and times given. */
  append(events: NewQueueEvent[]): QueueEvent[] {
    const time = new Date().toISOString();
    const stamped = events.map((event) => ({ ...event, eid: newEid(), time: event.time ?? time }) as QueueEvent);
    appendLines(
      this.file,
      stamped.map((event) => JSON.stringify(event)),
    );
    return stamped;
  }

  /** The state now: reads what was appended since the last call (all of it after a compaction). */
  load(): TaskBook {
    const info = statOrUndefined(this.file);
    const id = info ? fileIdOf(info) : undefined;
    if (id !== this.fileId || (info && info.size < this.offset)) this.reset(id);
    if (!info || info.size === this.offset) return this.applyCarried();
    const fd = openSync(this.file, 'r');
    try {
      // Read the same file the stat saw: if it was swapped in between, start again on the new one.
      if (fileIdOf(fstatSync(fd)) !== this.fileId) {
        this.reset(undefined);
        return this.load();
      }
      const size = fstatSync(fd).size;
      const buffer = Buffer.alloc(size - this.offset);
      let read = 0;
      while (read < buffer.length) {
        const n = readSync(fd, buffer, read, buffer.length - read, this.offset + read);
        if (n === 0) break;
        read += n;
      }
      const end = buffer.lastIndexOf(0x0a, read - 1);
      this.tornTail = end < read - 1;
      if (end < 0) return this.applyCarried();
      for (const line of buffer.subarray(0, end).toString('utf8').split('\n')) {
        this.lineNumber += 1;
        if (line.startsWith('{"type":"snapshot"') || line.startsWith('{"type":"seen"')) this.book.applyLine(line, this.lineNumber);
        else if (line.trim() !== '') {
          this.eventLines += 1;
          if (this.book.applyLine(line, this.lineNumber)) this.eventTexts.push(line);
        }
      }
      this.offset += end + 1;
    } finally {
      closeSync(fd);
    }
    return this.applyCarried();
  }

  /**
   * A compaction makes the new file visible before it copies the lines appended to the old one
   * meanwhile: the lines read from the old file are applied again, so the state never goes back.
   * Their eids make them count once when their copies arrive.
   */
  private applyCarried(): TaskBook {
    for (const line of this.carried) if (this.book.applyLine(line, this.lineNumber)) this.eventTexts.push(line);
    this.carried = [];
    return this.book;
  }

  /** The problems of the file as read: bad lines, and a last line still without its newline. */
  problems(): string[] {
    const found = this.book.problems.map((p) => `Line ${p.line} of ${QUEUE_FILE}: ${p.problem}`);
    if (this.tornTail) found.push(`The last line of ${QUEUE_FILE} is incomplete (a write cut short); it is skipped.`);
    return found;
  }

  get linesSinceCompaction(): number {
    return this.eventLines;
  }

  /**
   * Rewrites the file as the fold of its lines, keeping unfinished tasks and the newest finished
   * ones. Returns false when another process holds the lock (it is compacting now).
   */
  compact(keepFinished = KEEP_FINISHED): boolean {
    if (!this.takeLock()) return false;
    try {
      this.reset(undefined);
      const book = this.load();
      const readUpTo = this.offset;
      const oldId = this.fileId;
      if (oldId === undefined) return true; // no queue file yet: nothing to compact
      const finished = [...book.tasks.values()].filter((task) => isFinished(task.state));
      const dropped = new Set(finished.slice(0, Math.max(0, finished.length - keepFinished)).map((task) => task.id));
      const lines = book.snapshotLines((task: Task) => !dropped.has(task.id));
      lines.push(JSON.stringify({ type: 'seen', eids: book.foldedEids() }));
      const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        const fd = openSync(temp, 'wx', 0o600);
        try {
          writeAll(fd, Buffer.from(lines.join('\n') + '\n'));
        } finally {
          closeSync(fd);
        }
        // Lines appended to the old file from here on are copied below or appended again by their writer.
        const oldFd = openSync(this.file, 'r');
        try {
          renameSync(temp, this.file);
          if (fileIdOf(fstatSync(oldFd)) === oldId) {
            const tail = readFrom(oldFd, readUpTo);
            const end = tail.lastIndexOf(0x0a);
            if (end >= 0) appendLines(this.file, [tail.subarray(0, end).toString('utf8')], false);
          }
        } finally {
          closeSync(oldFd);
        }
      } finally {
        rmSync(temp, { force: true });
      }
      this.reset(undefined);
      this.load();
      return true;
    } finally {
      this.releaseLock();
    }
  }

  /** Starts reading from the beginning of `id`, or of the file the name leads to now. */
  private reset(id: string | undefined): void {
    if (id === undefined) {
      const info = statOrUndefined(this.file);
      id = info ? fileIdOf(info) : undefined;
    }
    if (this.fileId !== undefined && id !== this.fileId) this.carried.push(...this.eventTexts);
    this.eventTexts = [];
    this.book = new TaskBook();
    this.fileId = id;
    this.offset = 0;
    this.lineNumber = 0;
    this.eventLines = 0;
    this.tornTail = false;
  }

  private takeLock(): boolean {
    mkdirSync(this.stateRoot, { recursive: true, mode: 0o700 });
    for (let round = 0; round < 2; round++) {
      try {
        mkdirSync(this.lockDir, { mode: 0o700 });
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const info = statOrUndefined(this.lockDir);
      if (!info || Date.now() - info.mtimeMs <= STALE_LOCK_MS) return false;
      rmdirSync(this.lockDir, { recursive: false });
    }
    return false;
  }

  private releaseLock(): void {
    try {
      rmdirSync(this.lockDir);
    } catch {
      // already gone: taken over as stale
    }
  }
}

/** Appends whole lines in one write, then makes sure they reached the file the name leads to now. */
function appendLines(file: string, lines: string[], checkSwap = true): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const body = lines.join('\n') + '\n';
  for (let round = 0; ; round++) {
    const fd = openSync(file, 'a+', 0o600);
    let swapped: boolean;
    try {
      const written = fstatSync(fd);
      let prefix = '';
      if (written.size > 0) {
        const last = Buffer.alloc(1);
        readSync(fd, last, 0, 1, written.size - 1);
        if (last[0] !== 0x0a) prefix = '\n';
      }
      writeAll(fd, Buffer.from(prefix + body));
      if (!checkSwap) return;
      // Checked while the file is still open, so its inode number cannot have gone to a newer file.
      const now = statOrUndefined(file);
      swapped = !now || fileIdOf(now) !== fileIdOf(written);
    } finally {
      closeSync(fd);
    }
    if (!swapped) return;
    if (round >= 10)
      throw new SandboxError('conflict', `${QUEUE_FILE} keeps being replaced while it is written; check that only one scheduler runs, then try again.`);
  }
}

function writeAll(fd: number, data: Buffer): void {
  // One write() for the whole buffer: a short count means a full disk, which fails the append.
  const written = writeSync(fd, data, 0, data.length);
  if (written !== data.length) throw new SandboxError('resource-limit', `Only ${written} of ${data.length} bytes reached ${QUEUE_FILE}; free some disk space.`);
}

function readFrom(fd: number, offset: number): Buffer {
  const size = fstatSync(fd).size;
  if (size <= offset) return Buffer.alloc(0);
  const buffer = Buffer.alloc(size - offset);
  const n = readSync(fd, buffer, 0, buffer.length, offset);
  return buffer.subarray(0, n);
}

function statOrUndefined(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Which file a name leads to. A compaction frees the old file's inode number for the next new file, so the birth time is part of it. */
function fileIdOf(info: Stats): string {
  return `${info.dev}:${info.ino}:${info.birthtimeMs}`;
}

function newEid(): string {
  return randomBytes(9).toString('base64url');
}
