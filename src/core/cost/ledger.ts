import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SandboxError } from '../errors';
import type { Clock } from './billing';
import { iso, LedgerBook, openLineOf, type AlertPercent, type LedgerLine, type MachineEnd, type MachineEntry, type SnapshotEntry } from './fold';
import { isMonthKey, monthByKey, monthOf, type MonthWindow } from './month';

/** The folder of the state dir that holds one ledger file per month. */
export const COST_DIR = 'cost';
const FILE_PATTERN = /^ledger-(\d{4}-\d{2})\.jsonl$/;
/** Months of history kept by `prune`: this month and the twelve before it. */
export const KEEP_MONTHS = 13;

export function ledgerFileName(monthKey: string): string {
  return `ledger-${monthKey}.jsonl`;
}

/** What a machine entry is opened with when its sandbox is created (or adopted, with the time the provider says it was made). */
export interface OpenMachine {
  sandbox: string;
  provider: string;
  size: string;
  usdPerHour: number;
  ttlMs: number;
  gpu?: boolean;
  reserveGb?: number;
  agent?: string;
  task?: string;
  /** When the machine was made; now by default. */
  atMs?: number;
}

export interface StoreSnapshot {
  /** The provider's snapshot id. */
  id: string;
  sandbox: string;
  gb: number;
  usdPerGbMonth: number;
  atMs?: number;
}

/**
 * The cost ledger: `cost/ledger-YYYY-MM.jsonl` in the state dir, one per UTC month, append-only.
 * Every write goes to the month of the clock, after the first writer of a month has copied the
 * entries still open at the end of the month before (a `carried` line, then their open lines), so
 * a month's file alone says what the month cost and what still runs. A crash leaves an entry open:
 * it is priced up to now until a close arrives, so nothing runs unpriced. Old months are never
 * rewritten, only pruned whole, so a file is never compacted under a concurrent appender.
 */
export class CostLedger {
  readonly dir: string;
  private cache?: { month: string; fileId: string; offset: number; lineNumber: number; book: LedgerBook };
  /** The month found to have no earlier file to carry from, so the folder is not listed on every load. */
  private firstMonth?: string;
  /** The load under way: loads run one at a time, since two reading from the same offset would apply the same lines twice. */
  private loading: Promise<unknown> = Promise.resolve();

  constructor(
    readonly stateRoot: string,
    private readonly clock: Clock,
  ) {
    this.dir = path.join(stateRoot, COST_DIR);
  }

  fileOf(monthKey: string): string {
    return path.join(this.dir, ledgerFileName(monthKey));
  }

  /** This month's state (reads only what was appended since the last call), carrying last month's open entries in first. */
  load(): Promise<LedgerBook> {
    const next = this.loading.then(() => this.loadNow());
    this.loading = next.catch(() => undefined);
    return next;
  }

  private async loadNow(): Promise<LedgerBook> {
    const month = monthOf(this.clock());
    const book = await this.readIncrementally(month);
    if (book.carriedFrom !== undefined || this.firstMonth === month.key) return book;
    const earlier = (await this.months()).filter((key) => key < month.key).pop();
    if (earlier === undefined) {
      this.firstMonth = month.key;
      return book;
    }
    const previous = await this.readWhole(earlier);
    await appendLedgerLines(this.fileOf(month.key), previous.carryLines(earlier, iso(this.clock())));
    return this.readIncrementally(month);
  }

  /** A past (or this) month's state as its file says, without writing anything. */
  async loadMonth(monthKey: string): Promise<LedgerBook> {
    if (!isMonthKey(monthKey)) throw new SandboxError('invalid-input', `"${monthKey}" is not a month; write it like 2026-12.`);
    return monthKey === monthOf(this.clock()).key ? this.load() : this.readWhole(monthKey);
  }

  /** Opens the entry of a machine just made: from now on it costs until `closeMachine`. */
  async openMachine(input: OpenMachine): Promise<MachineEntry> {
    if (!Number.isFinite(input.usdPerHour) || input.usdPerHour < 0)
      throw new SandboxError('invalid-input', `The price of ${input.size} is not a price; read the sizes again and retry.`);
    if (!(input.ttlMs > 0)) throw new SandboxError('invalid-input', `The time-to-live of ${input.sandbox} must be longer than zero; give one like 2h.`);
    const book = await this.load();
    const running = book.openMachineOf(input.sandbox);
    if (running)
      throw new SandboxError(
        'conflict',
        `The cost ledger already counts ${input.sandbox} as running since ${iso(running.openedMs)}; close that entry before opening another.`,
      );
    const atMs = input.atMs ?? this.clock();
    const entry: MachineEntry = {
      id: `${input.sandbox}.${atMs.toString(36)}`,
      sandbox: input.sandbox,
      provider: input.provider,
      size: input.size,
      usdPerHour: input.usdPerHour,
      openedMs: atMs,
      untilMs: atMs + input.ttlMs,
      gpu: input.gpu === true,
      reserveGb: input.reserveGb ?? 0,
    };
    if (input.agent !== undefined) entry.agent = input.agent;
    if (input.task !== undefined) entry.task = input.task;
    await this.append([openLineOf(entry)]);
    return entry;
  }

  /** Closes a machine's entry (destroyed, hibernated or found gone); false when it was not open. */
  async closeMachine(id: string, why: MachineEnd, atMs = this.clock()): Promise<boolean> {
    const entry = (await this.load()).machines.get(id);
    if (!entry || entry.closedMs !== undefined) return false;
    await this.append([{ t: 'close', id, at: iso(atMs), why }]);
    return true;
  }

  /** Moves a running machine's time-to-live to `untilMs` (never earlier than it was). */
  async extend(id: string, untilMs: number): Promise<void> {
    const entry = (await this.load()).machines.get(id);
    if (!entry || entry.closedMs !== undefined)
      throw new SandboxError('not-found', `No running sandbox has the cost entry ${id}; list the sandboxes and try again.`);
    await this.append([{ t: 'extend', id, at: iso(this.clock()), until: iso(untilMs) }]);
  }

  async storeSnapshot(input: StoreSnapshot): Promise<SnapshotEntry> {
    const atMs = input.atMs ?? this.clock();
    await this.load();
    await this.append([{ t: 'snapshot', id: input.id, at: iso(atMs), sandbox: input.sandbox, gb: input.gb, usdPerGbMonth: input.usdPerGbMonth }]);
    return { id: input.id, sandbox: input.sandbox, gb: input.gb, usdPerGbMonth: input.usdPerGbMonth, storedMs: atMs };
  }

  async deleteSnapshot(id: string, atMs = this.clock()): Promise<boolean> {
    const entry = (await this.load()).snapshots.get(id);
    if (!entry || entry.deletedMs !== undefined) return false;
    await this.append([{ t: 'snapshot-deleted', id, at: iso(atMs) }]);
    return true;
  }

  /** Records that an alert fired this month, before it is shown: a restart then never shows it again. */
  async recordAlert(percent: AlertPercent): Promise<void> {
    await this.load();
    await this.append([{ t: 'alert', percent, at: iso(this.clock()) }]);
  }

  /** The months with a ledger file, oldest first. */
  async months(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names
      .map((name) => FILE_PATTERN.exec(name)?.[1])
      .filter((key): key is string => key !== undefined && isMonthKey(key))
      .sort();
  }

  /** Removes the files of months older than the last `keep` (this one included); returns the months removed. */
  async prune(keep = KEEP_MONTHS): Promise<string[]> {
    const current = monthOf(this.clock());
    let oldest: MonthWindow = current;
    for (let i = 1; i < keep; i++) oldest = monthOf(oldest.startMs - 1);
    const removed = (await this.months()).filter((key) => key < oldest.key && monthByKey(key) !== undefined);
    for (const key of removed) await fs.rm(this.fileOf(key), { force: true });
    return removed;
  }

  private async append(lines: LedgerLine[]): Promise<void> {
    await appendLedgerLines(this.fileOf(monthOf(this.clock()).key), lines);
  }

  private async readWhole(monthKey: string): Promise<LedgerBook> {
    const book = new LedgerBook();
    let text: string;
    try {
      text = await fs.readFile(this.fileOf(monthKey), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return book;
      throw error;
    }
    const end = text.lastIndexOf('\n');
    applyLines(book, end < 0 ? '' : text.slice(0, end), 0);
    return book;
  }

  /** Reads only the bytes appended since the last read of the same file; starts over when the file was replaced or the month changed. */
  private async readIncrementally(month: MonthWindow): Promise<LedgerBook> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.fileOf(month.key), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.cache = { month: month.key, fileId: '', offset: 0, lineNumber: 0, book: new LedgerBook() };
      return this.cache.book;
    }
    try {
      const info = await handle.stat();
      const fileId = `${info.dev}:${info.ino}:${info.birthtimeMs}`;
      let cache = this.cache;
      if (!cache || cache.month !== month.key || cache.fileId !== fileId || info.size < cache.offset) {
        cache = { month: month.key, fileId, offset: 0, lineNumber: 0, book: new LedgerBook() };
        this.cache = cache;
      }
      if (info.size > cache.offset) {
        const buffer = Buffer.alloc(info.size - cache.offset);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, cache.offset);
        // A line still without its newline is being written (or was cut short): read it next time.
        const end = buffer.subarray(0, bytesRead).lastIndexOf(0x0a);
        if (end >= 0) {
          cache.lineNumber = applyLines(cache.book, buffer.subarray(0, end).toString('utf8'), cache.lineNumber);
          cache.offset += end + 1;
        }
      }
      return cache.book;
    } finally {
      await handle.close();
    }
  }
}

/** Applies newline-separated lines; returns the number of the last line applied. */
function applyLines(book: LedgerBook, text: string, lineNumber: number): number {
  for (const line of text.split('\n')) {
    lineNumber += 1;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      book.problems.push(`Line ${lineNumber}: not JSON (a write cut short); skipped.`);
      continue;
    }
    book.apply(value, lineNumber);
  }
  return lineNumber;
}

/**
 * Appends whole lines in one write to a descriptor opened with O_APPEND (so concurrent writers'
 * lines stay whole), after a newline when the file ends in a line a crash cut short, so that
 * fragment never swallows the next line.
 */
async function appendLedgerLines(file: string, lines: LedgerLine[]): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const handle = await fs.open(file, 'a+', 0o600);
  try {
    const { size } = await handle.stat();
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    const body = Buffer.from(prefix + lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    const { bytesWritten } = await handle.write(body, 0, body.length);
    if (bytesWritten !== body.length)
      throw new SandboxError('resource-limit', `Only ${bytesWritten} of ${body.length} bytes reached ${path.basename(file)}; free some disk space.`);
  } finally {
    await handle.close();
  }
}
