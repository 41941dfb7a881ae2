/**
 * The lines of a month's ledger file (docs/cost.md) and their fold into state. Lines are applied
 * in file order; each entry has an id, so a line that arrives twice (two processes carrying the
 * same open entries into a new month) counts once.
 */

/** Why a machine stopped costing: destroyed, hibernated (snapshot, then destroy), or gone from the provider's listing. */
export type MachineEnd = 'destroyed' | 'hibernated' | 'vanished';
const MACHINE_ENDS: readonly MachineEnd[] = ['destroyed', 'hibernated', 'vanished'];

export const ALERT_PERCENTS = [50, 80, 100] as const;
export type AlertPercent = (typeof ALERT_PERCENTS)[number];

export type LedgerLine =
  | {
      t: 'open';
      id: string;
      at: string;
      sandbox: string;
      provider: string;
      size: string;
      usdPerHour: number;
      /** The time-to-live: past it the sandbox is destroyed (idle) or hibernated (busy). */
      until: string;
      gpu?: boolean;
      /** GB of snapshot storage set aside in the projection, in case it is busy at its time-to-live and hibernated. */
      reserveGb?: number;
      agent?: string;
      task?: string;
    }
  | { t: 'close'; id: string; at: string; why: MachineEnd }
  | { t: 'extend'; id: string; at: string; until: string }
  | { t: 'snapshot'; id: string; at: string; sandbox: string; gb: number; usdPerGbMonth: number }
  | { t: 'snapshot-deleted'; id: string; at: string }
  | { t: 'alert'; percent: AlertPercent; at: string }
  /** Ends the copies of the entries still open at the end of month `from` (written before it, with their own times). */
  | { t: 'carried'; from: string; at: string };

export interface MachineEntry {
  id: string;
  sandbox: string;
  provider: string;
  size: string;
  usdPerHour: number;
  openedMs: number;
  untilMs: number;
  gpu: boolean;
  reserveGb: number;
  agent?: string;
  task?: string;
  closedMs?: number;
  end?: MachineEnd;
}

export interface SnapshotEntry {
  id: string;
  sandbox: string;
  gb: number;
  usdPerGbMonth: number;
  storedMs: number;
  deletedMs?: number;
}

export class LedgerBook {
  readonly machines = new Map<string, MachineEntry>();
  readonly snapshots = new Map<string, SnapshotEntry>();
  /** When each alert of this month fired. */
  readonly alerts = new Map<AlertPercent, number>();
  readonly problems: string[] = [];
  /** The month whose open entries were carried in, when they were. */
  carriedFrom?: string;
  /** Closes seen before their open (a carry written after another process's close): applied when the open arrives. */
  private readonly earlyCloses = new Map<string, { ms: number; why?: MachineEnd }>();

  openMachines(): MachineEntry[] {
    return [...this.machines.values()].filter((entry) => entry.closedMs === undefined);
  }

  storedSnapshots(): SnapshotEntry[] {
    return [...this.snapshots.values()].filter((entry) => entry.deletedMs === undefined);
  }

  /** The open machine entry of a sandbox (at most one: a sandbox is one machine at a time). */
  openMachineOf(sandbox: string): MachineEntry | undefined {
    return this.openMachines().find((entry) => entry.sandbox === sandbox);
  }

  /** Applies one parsed line; one that does not fit is recorded as a problem and changes nothing. */
  apply(value: unknown, lineNumber: number): void {
    const problem = this.applyOrExplain(value);
    if (problem) this.problems.push(`Line ${lineNumber}: ${problem}; skipped.`);
  }

  private applyOrExplain(value: unknown): string | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
    const line = value as Record<string, unknown>;
    const atMs = typeof line.at === 'string' ? Date.parse(line.at) : NaN;
    if (Number.isNaN(atMs)) return 'no valid time';
    const id = typeof line.id === 'string' && line.id !== '' ? line.id : undefined;
    switch (line.t) {
      case 'open':
        return id === undefined ? 'no entry id' : this.open(line, id, atMs);
      case 'close':
        if (id === undefined) return 'no entry id';
        return this.close(id, atMs, MACHINE_ENDS.includes(line.why as MachineEnd) ? (line.why as MachineEnd) : undefined);
      case 'extend': {
        const untilMs = typeof line.until === 'string' ? Date.parse(line.until) : NaN;
        const entry = id === undefined ? undefined : this.machines.get(id);
        if (!entry || Number.isNaN(untilMs)) return 'an extension of no known entry';
        entry.untilMs = Math.max(entry.untilMs, untilMs);
        return undefined;
      }
      case 'snapshot':
        if (id === undefined || typeof line.sandbox !== 'string' || !isAmount(line.gb) || !isAmount(line.usdPerGbMonth))
          return 'a snapshot without its size or price';
        if (!this.snapshots.has(id)) this.snapshots.set(id, { id, sandbox: line.sandbox, gb: line.gb, usdPerGbMonth: line.usdPerGbMonth, storedMs: atMs });
        return undefined;
      case 'snapshot-deleted': {
        const entry = id === undefined ? undefined : this.snapshots.get(id);
        if (!entry) return 'a deletion of no known snapshot';
        entry.deletedMs ??= Math.max(atMs, entry.storedMs);
        return undefined;
      }
      case 'alert':
        if (!ALERT_PERCENTS.includes(line.percent as AlertPercent)) return 'an alert of no known level';
        if (!this.alerts.has(line.percent as AlertPercent)) this.alerts.set(line.percent as AlertPercent, atMs);
        return undefined;
      case 'carried':
        if (typeof line.from !== 'string') return 'a carry without its month';
        this.carriedFrom ??= line.from;
        return undefined;
      default:
        return `the line type "${String(line.t)}" is not known`;
    }
  }

  private open(line: Record<string, unknown>, id: string, atMs: number): string | undefined {
    if (typeof line.sandbox !== 'string' || typeof line.size !== 'string' || !isAmount(line.usdPerHour))
      return 'an open entry without its sandbox, size or price';
    const untilMs = typeof line.until === 'string' ? Date.parse(line.until) : NaN;
    if (Number.isNaN(untilMs)) return 'an open entry without its time-to-live';
    if (this.machines.has(id)) return undefined; // carried twice: the first copy stands
    const entry: MachineEntry = {
      id,
      sandbox: line.sandbox,
      provider: typeof line.provider === 'string' ? line.provider : 'unknown',
      size: line.size,
      usdPerHour: line.usdPerHour,
      openedMs: atMs,
      untilMs,
      gpu: line.gpu === true,
      reserveGb: isAmount(line.reserveGb) ? line.reserveGb : 0,
    };
    if (typeof line.agent === 'string') entry.agent = line.agent;
    if (typeof line.task === 'string') entry.task = line.task;
    this.machines.set(id, entry);
    const early = this.earlyCloses.get(id);
    if (early) {
      this.earlyCloses.delete(id);
      this.close(id, early.ms, early.why);
    }
    return undefined;
  }

  private close(id: string, atMs: number, why: MachineEnd | undefined): string | undefined {
    const entry = this.machines.get(id);
    if (!entry) {
      this.earlyCloses.set(id, { ms: atMs, ...(why ? { why } : {}) });
      return undefined;
    }
    if (entry.closedMs !== undefined) return undefined; // closed twice: the first close stands
    entry.closedMs = Math.max(atMs, entry.openedMs);
    entry.end = why ?? 'destroyed';
    return undefined;
  }

  /**
   * The lines that carry this book's open entries into the next month, with their own times. The
   * `carried` line comes last: a carry cut short by a crash has none, so the next load carries
   * again (the copies count once) rather than trusting a partial one.
   */
  carryLines(fromMonth: string, nowIso: string): LedgerLine[] {
    const lines: LedgerLine[] = [];
    for (const entry of this.openMachines()) lines.push(openLineOf(entry));
    for (const entry of this.storedSnapshots())
      lines.push({ t: 'snapshot', id: entry.id, at: iso(entry.storedMs), sandbox: entry.sandbox, gb: entry.gb, usdPerGbMonth: entry.usdPerGbMonth });
    lines.push({ t: 'carried', from: fromMonth, at: nowIso });
    return lines;
  }
}

export function openLineOf(entry: MachineEntry): LedgerLine {
  const line: LedgerLine = {
    t: 'open',
    id: entry.id,
    at: iso(entry.openedMs),
    sandbox: entry.sandbox,
    provider: entry.provider,
    size: entry.size,
    usdPerHour: entry.usdPerHour,
    until: iso(entry.untilMs),
  };
  if (entry.gpu) line.gpu = true;
  if (entry.reserveGb > 0) line.reserveGb = entry.reserveGb;
  if (entry.agent !== undefined) line.agent = entry.agent;
  if (entry.task !== undefined) line.task = entry.task;
  return line;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function isAmount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
