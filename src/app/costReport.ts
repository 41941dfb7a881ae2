/**
 * `sandbox cost`: a month of the cost ledger by sandbox, agent and task, the budget figures, and
 * the account's own month-to-date figure beside ours. The JSON shape is stable (`version`).
 */
import { accountMonthToDateUsd } from '../core/cloud/account';
import { formatUsd, formatUsdPerHour } from '../core/cost/billing';
import { monthFigures, totalsBy, type MonthFigures } from '../core/cost/budget';
import type { AlertPercent } from '../core/cost/fold';
import { CostLedger } from '../core/cost/ledger';
import { monthOf, type MonthWindow } from '../core/cost/month';
import { reconcileWithAccount, type Reconciliation } from '../core/cost/reconcile';
import { readBudgetSettings } from '../core/cost/settings';
import { describeError } from '../core/errors';

export const COST_REPORT_VERSION = 1;

export interface CostRow {
  name: string;
  spentUsd: number;
}

export interface SandboxCostRow extends CostRow {
  agent: string | null;
  task: string | null;
  projectedUsd: number;
  /** The price per hour of its running machine; null when none runs. */
  usdPerHour: number | null;
}

export interface CostReport {
  version: typeof COST_REPORT_VERSION;
  month: string;
  /** When the figures were taken (ISO 8601). */
  asOf: string;
  /** Whether the month is the current one: projected and the account's figure apply only then. */
  current: boolean;
  budgetUsd: number;
  spentUsd: number;
  projectedUsd: number;
  committedUsd: number;
  /** budget − committed; negative when the month went past it (a budget lowered after the fact). */
  leftUsd: number;
  bySandbox: SandboxCostRow[];
  byAgent: CostRow[];
  byTask: CostRow[];
  /** The alerts fired this month, lowest first. */
  alerts: AlertPercent[];
  /** The account's month-to-date usage beside the ledger; null when not signed in, not the current month, or not readable. */
  account: { monthToDateUsd: number; gapUsd: number; toleranceUsd: number; beyondTolerance: boolean; sentence: string } | null;
  /** Why the account's figure is missing while signed in, in one sentence. */
  accountProblem: string | null;
  /** Lines of the ledger that were skipped, as the ledger explains them. */
  ledgerProblems: string[];
}

export interface CostReportInput {
  figures: MonthFigures;
  current: boolean;
  alerts: ReadonlyMap<AlertPercent, number>;
  reconciliation?: Reconciliation;
  accountProblem?: string;
  ledgerProblems?: readonly string[];
}

export function costReport(input: CostReportInput): CostReport {
  const { figures, current, reconciliation } = input;
  const rows = (key: 'agent' | 'task'): CostRow[] =>
    [...totalsBy(figures, key)].map(([name, spentUsd]) => ({ name, spentUsd })).sort((a, b) => b.spentUsd - a.spentUsd || a.name.localeCompare(b.name));
  return {
    version: COST_REPORT_VERSION,
    month: figures.month,
    asOf: new Date(figures.nowMs).toISOString(),
    current,
    budgetUsd: figures.budgetUsd,
    spentUsd: figures.spentUsd,
    projectedUsd: current ? figures.projectedUsd : 0,
    committedUsd: current ? figures.committedUsd : figures.spentUsd,
    leftUsd: figures.budgetUsd - (current ? figures.committedUsd : figures.spentUsd),
    bySandbox: figures.bySandbox
      .map((row) => ({
        name: row.sandbox,
        agent: row.agent ?? null,
        task: row.task ?? null,
        spentUsd: row.spentUsd,
        projectedUsd: current ? row.projectedUsd : 0,
        usdPerHour: current ? (row.usdPerHour ?? null) : null,
      }))
      .sort((a, b) => b.spentUsd - a.spentUsd || a.name.localeCompare(b.name)),
    byAgent: rows('agent'),
    byTask: rows('task'),
    alerts: [...input.alerts.keys()].sort((a, b) => a - b),
    account: reconciliation
      ? {
          monthToDateUsd: reconciliation.accountUsd,
          gapUsd: reconciliation.gapUsd,
          toleranceUsd: reconciliation.toleranceUsd,
          beyondTolerance: reconciliation.beyondTolerance,
          sentence: reconciliation.sentence,
        }
      : null,
    accountProblem: input.accountProblem ?? null,
    ledgerProblems: [...(input.ledgerProblems ?? [])],
  };
}

export interface ReadCostReportOptions {
  stateRoot: string;
  /** The month to report; this one by default. */
  month?: MonthWindow;
  /** Where the DigitalOcean token may come from, besides the state dir and this process's core. */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  clock?: () => number;
}

/** The report of a month as `sandbox cost` and VS Code's Show Cost give it: the ledger, the budget, and the account's own figure when signed in. */
export async function readCostReport(options: ReadCostReportOptions): Promise<CostReport> {
  const clock = options.clock ?? Date.now;
  const now = clock();
  const thisMonth = monthOf(now);
  const month = options.month ?? thisMonth;
  const current = month.key === thisMonth.key;
  const book = await new CostLedger(options.stateRoot, clock).loadMonth(month.key);
  const settings = await readBudgetSettings(options.stateRoot);
  const figures = monthFigures(book, current ? now : month.endMs - 1, settings);
  let reconciliation: Reconciliation | undefined;
  let accountProblem: string | undefined;
  if (current) {
    try {
      const accountUsd = await accountMonthToDateUsd(options.stateRoot, options.env ?? process.env, options.signal);
      if (accountUsd !== undefined) reconciliation = reconcileWithAccount(figures.spentUsd, accountUsd);
    } catch (error) {
      accountProblem = describeError(error);
    }
  }
  return costReport({ figures, current, alerts: book.alerts, reconciliation, accountProblem, ledgerProblems: book.problems });
}

/** The report for people: the figures in one line, then a table per view, then the account's figure. */
export function formatCostReport(report: CostReport): string {
  const lines: string[] = [];
  const when = report.current ? `so far (${report.asOf.slice(0, 16).replace('T', ' ')} UTC)` : '(closed month)';
  lines.push(`Cloud sandboxes, ${report.month} ${when}`);
  const parts = [`${formatUsd(report.spentUsd)} spent`];
  if (report.current) parts.push(`${formatUsd(report.projectedUsd)} projected`, `${formatUsd(report.committedUsd)} committed`);
  const left = report.leftUsd >= 0 ? `${formatUsd(report.leftUsd)} left` : `${formatUsd(-report.leftUsd)} over`;
  lines.push(`Budget ${formatUsd(report.budgetUsd)}: ${parts.join(', ')}, ${left}.`);
  if (report.alerts.length > 0) lines.push(`Alerts fired this month: ${report.alerts.map((percent) => `${percent}%`).join(', ')}.`);
  if (report.bySandbox.length === 0) {
    lines.push('', 'No cloud sandbox cost anything this month.');
  } else {
    const sandboxRows = [['SANDBOX', 'AGENT', 'TASK', 'SPENT', 'PROJECTED', 'PRICE']];
    for (const row of report.bySandbox) {
      sandboxRows.push([
        row.name,
        row.agent ?? '-',
        row.task ?? '-',
        formatUsd(row.spentUsd),
        formatUsd(row.projectedUsd),
        row.usdPerHour === null ? '-' : formatUsdPerHour(row.usdPerHour),
      ]);
    }
    lines.push('', table(sandboxRows));
    lines.push('', table([['AGENT', 'SPENT'], ...report.byAgent.map((row) => [row.name, formatUsd(row.spentUsd)])]));
    lines.push('', table([['TASK', 'SPENT'], ...report.byTask.map((row) => [row.name, formatUsd(row.spentUsd)])]));
  }
  if (report.account) lines.push('', report.account.sentence);
  else if (report.accountProblem) lines.push('', `The account's own figure is not shown: ${report.accountProblem}`);
  for (const problem of report.ledgerProblems) lines.push(`Ledger: ${problem}`);
  return lines.join('\n');
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n');
}
