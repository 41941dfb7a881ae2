import {
  DIGITALOCEAN_BILLING,
  formatUsd,
  HOUR_MS,
  machineCostBetween,
  priceLine,
  REFERENCE_SNAPSHOT_USD_PER_GB_MONTH,
  snapshotCostBetween,
  type BillingRules,
  type SizePrice,
} from './billing';
import { ALERT_PERCENTS, iso, type AlertPercent, type LedgerBook, type MachineEntry } from './fold';
import { monthOf, type MonthWindow } from './month';

/** The monthly budget and what the projection assumes (docs/cost.md). */
export interface BudgetSettings {
  monthlyUsd: number;
  /**
   * How long past its time-to-live a machine may still bill: the daemon's check interval, plus
   * a snapshot and a destroy for a busy one. The projection counts it, so enforcement lag cannot
   * carry the month past the budget.
   */
  enforcementSlackMs: number;
  snapshotUsdPerGbMonth: number;
  rules: BillingRules;
}

export const DEFAULT_MONTHLY_BUDGET_USD = 50;

export const DEFAULT_BUDGET: BudgetSettings = {
  monthlyUsd: DEFAULT_MONTHLY_BUDGET_USD,
  enforcementSlackMs: 20 * 60_000,
  snapshotUsdPerGbMonth: REFERENCE_SNAPSHOT_USD_PER_GB_MONTH,
  rules: DIGITALOCEAN_BILLING,
};

/** Amounts are sums of floating-point parts: a sum this close to the budget is at it, not past it. */
const EPSILON_USD = 1e-9;

export interface SandboxCost {
  sandbox: string;
  agent?: string;
  task?: string;
  /** Machines and snapshots of this sandbox this month, open entries priced up to now. */
  spentUsd: number;
  /** What it will still cost this month: its machine until its time-to-live, the hibernation reserve, its stored snapshots to the month's end. */
  projectedUsd: number;
  /** The price per hour of its running machine, when one runs. */
  usdPerHour?: number;
}

export interface MonthFigures {
  month: string;
  nowMs: number;
  budgetUsd: number;
  spentUsd: number;
  projectedUsd: number;
  /** spent + projected: the figure a create is judged on and the alerts watch. */
  committedUsd: number;
  bySandbox: SandboxCost[];
}

/** The month of `nowMs` as the ledger counts it: what is spent, and what what runs and is stored will add. */
export function monthFigures(book: LedgerBook, nowMs: number, settings: BudgetSettings = DEFAULT_BUDGET): MonthFigures {
  const month = monthOf(nowMs);
  const rows = new Map<string, SandboxCost>();
  const rowOf = (sandbox: string): SandboxCost => {
    let row = rows.get(sandbox);
    if (!row) rows.set(sandbox, (row = { sandbox, spentUsd: 0, projectedUsd: 0 }));
    return row;
  };
  for (const entry of book.machines.values()) {
    const row = rowOf(entry.sandbox);
    if (entry.agent !== undefined) row.agent = entry.agent;
    if (entry.task !== undefined) row.task = entry.task;
    row.spentUsd += machineCostBetween(entry.usdPerHour, entry.openedMs, entry.closedMs ?? nowMs, month.startMs, month.endMs, settings.rules);
    if (entry.closedMs === undefined) {
      row.projectedUsd += machineProjectionUsd(entry, entry.untilMs, nowMs, settings);
      row.usdPerHour = entry.usdPerHour;
    }
  }
  for (const entry of book.snapshots.values()) {
    const row = rowOf(entry.sandbox);
    row.spentUsd += snapshotCostBetween(entry.gb, entry.usdPerGbMonth, entry.storedMs, entry.deletedMs ?? nowMs, month.startMs, month.endMs, settings.rules);
    if (entry.deletedMs === undefined)
      row.projectedUsd += snapshotCostBetween(entry.gb, entry.usdPerGbMonth, nowMs, month.endMs, nowMs, month.endMs, settings.rules);
  }
  const bySandbox = [...rows.values()];
  const spentUsd = sum(bySandbox.map((row) => row.spentUsd));
  const projectedUsd = sum(bySandbox.map((row) => row.projectedUsd));
  return { month: month.key, nowMs, budgetUsd: settings.monthlyUsd, spentUsd, projectedUsd, committedUsd: spentUsd + projectedUsd, bySandbox };
}

/**
 * What a running machine will still cost this month if it is gone by `untilMs` plus the
 * enforcement slack, and the storage of the snapshot it leaves if it is busy then and hibernated,
 * up to the month's end. Neither grows while time passes, so the committed figure only grows by
 * decisions (a create, an extension) or by a machine outliving its slack.
 */
export function machineProjectionUsd(entry: MachineEntry, untilMs: number, nowMs: number, settings: BudgetSettings): number {
  if (entry.closedMs !== undefined) return 0;
  const month = monthOf(nowMs);
  // Enforcement has until the slack's end; a machine still running past it is counted to now, as what it has already cost.
  const goneByMs = Math.max(untilMs + settings.enforcementSlackMs, nowMs);
  const { usdPerHour, openedMs } = entry;
  const more =
    machineCostBetween(usdPerHour, openedMs, goneByMs, month.startMs, month.endMs, settings.rules) -
    machineCostBetween(usdPerHour, openedMs, nowMs, month.startMs, month.endMs, settings.rules);
  return more + hibernationReserveUsd(entry.reserveGb, Math.max(untilMs, nowMs), month, settings);
}

function hibernationReserveUsd(reserveGb: number, fromMs: number, month: MonthWindow, settings: BudgetSettings): number {
  return snapshotCostBetween(reserveGb, settings.snapshotUsdPerGbMonth, fromMs, month.endMs, month.startMs, month.endMs, settings.rules);
}

/** A sandbox someone asks to create. */
export interface CreatePlan {
  sandbox: string;
  size: SizePrice;
  ttlMs: number;
  /** GB set aside for the snapshot it would leave if hibernated; 0 when none is expected. */
  reserveGb?: number;
}

/** What a new sandbox adds to this month: its machine until its time-to-live (minimum included) plus slack, and its hibernation reserve. */
export function plannedCreateUsd(plan: CreatePlan, nowMs: number, settings: BudgetSettings = DEFAULT_BUDGET): number {
  const month = monthOf(nowMs);
  const stopsMs = nowMs + plan.ttlMs;
  const machine = machineCostBetween(plan.size.usdPerHour, nowMs, stopsMs + settings.enforcementSlackMs, month.startMs, month.endMs, settings.rules);
  return machine + hibernationReserveUsd(plan.reserveGb ?? 0, stopsMs, month, settings);
}

export interface BudgetDecision {
  allowed: boolean;
  /** What the request adds to the month. */
  addsUsd: number;
  /** The month's committed figure if it goes ahead. */
  wouldBeUsd: number;
  figures: MonthFigures;
  /** Set when refused: one sentence with the figures and what to do. */
  refusal?: string;
}

/** A create goes ahead only when the month's spend, what runs until its time-to-live and the new sandbox until its own stay within the budget. */
export function decideCreate(figures: MonthFigures, plan: CreatePlan, settings: BudgetSettings = DEFAULT_BUDGET): BudgetDecision {
  const addsUsd = plannedCreateUsd(plan, figures.nowMs, settings);
  const what = `Creating ${plan.sandbox} (${priceLine(plan.size)}) for its time-to-live of ${formatHours(plan.ttlMs)}`;
  return judge(figures, addsUsd, what);
}

/** An extension counts like a create: what the machine adds by running longer must fit in the budget. */
export function decideExtend(figures: MonthFigures, entry: MachineEntry, newUntilMs: number, settings: BudgetSettings = DEFAULT_BUDGET): BudgetDecision {
  const addsUsd = Math.max(
    0,
    machineProjectionUsd(entry, newUntilMs, figures.nowMs, settings) - machineProjectionUsd(entry, entry.untilMs, figures.nowMs, settings),
  );
  return judge(figures, addsUsd, `Keeping ${entry.sandbox} until ${iso(newUntilMs).slice(0, 16).replace('T', ' ')} UTC`);
}

function judge(figures: MonthFigures, addsUsd: number, what: string): BudgetDecision {
  const wouldBeUsd = figures.committedUsd + addsUsd;
  const decision: BudgetDecision = { allowed: wouldBeUsd <= figures.budgetUsd + EPSILON_USD, addsUsd, wouldBeUsd, figures };
  if (!decision.allowed)
    decision.refusal =
      `${what} would bring the month to ${formatUsd(wouldBeUsd)} of your ${formatUsd(figures.budgetUsd)} budget; ` +
      `${formatUsd(figures.spentUsd)} is spent and ${formatUsd(figures.projectedUsd)} is committed to what runs and is stored, ` +
      `so destroy or hibernate a sandbox, shorten a time-to-live, or raise the budget.`;
  return decision;
}

/**
 * The alerts due now and not yet fired this month, lowest first. 50% and 80% watch the committed
 * figure, so a warning comes while the money can still be kept. 100% means the budget is full:
 * what is committed leaves less room than `roomNeededUsd` (the cheapest create, see
 * `plannedCreateUsd`), so every create is refused from now on; the budget itself is never passed.
 */
export function alertsDue(figures: MonthFigures, fired: ReadonlyMap<AlertPercent, number>, roomNeededUsd: number): AlertPercent[] {
  const { committedUsd, budgetUsd } = figures;
  return ALERT_PERCENTS.filter((percent) => {
    if (fired.has(percent)) return false;
    if (percent === 100) return committedUsd + roomNeededUsd > budgetUsd + EPSILON_USD;
    return committedUsd + EPSILON_USD >= (budgetUsd * percent) / 100;
  });
}

/** The alert's one sentence, as the warning, the CLI's stderr line and the journal event say it. */
export function alertMessage(percent: AlertPercent, figures: MonthFigures): string {
  const budget = formatUsd(figures.budgetUsd);
  const detail = `${formatUsd(figures.spentUsd)} spent and ${formatUsd(figures.projectedUsd)} committed to what runs and is stored`;
  if (percent === 100) {
    const next = iso(monthOf(figures.nowMs).endMs).slice(0, 10);
    return `Cloud sandboxes have reached this month's ${budget} budget (${detail}): new cloud sandboxes are refused until ${next} or until the budget is raised.`;
  }
  return `Cloud sandboxes have used ${percent}% of this month's ${budget} budget (${detail}).`;
}

/** Totals of a month by sandbox, agent or task (`sandbox cost`); rows without the key add up under "-". */
export function totalsBy(figures: MonthFigures, key: 'sandbox' | 'agent' | 'task'): Map<string, number> {
  const totals = new Map<string, number>();
  for (const row of figures.bySandbox) {
    const name = row[key] ?? '-';
    totals.set(name, (totals.get(name) ?? 0) + row.spentUsd);
  }
  return totals;
}

/** `2 h`, `90 min`, `1.5 h`: a time-to-live as a person reads it. */
export function formatHours(ms: number): string {
  if (ms < HOUR_MS) return `${Math.round(ms / 60_000)} min`;
  return `${Number((ms / HOUR_MS).toFixed(2))} h`;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
