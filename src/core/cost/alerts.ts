import type { EventInput } from '../events/types';
import { type SizePrice } from './billing';
import { alertMessage, alertsDue, monthFigures, plannedCreateUsd, type BudgetSettings, type MonthFigures } from './budget';
import type { AlertPercent } from './fold';
import type { CostLedger } from './ledger';
import { DEFAULT_TTL_MS } from './ttl';

/**
 * The smallest create the 100% alert keeps room for: DigitalOcean's smallest size ($4 a month),
 * for the default time-to-live, with a 10 GB hibernation reserve. Once less room is left, every
 * create is refused, which is what the alert tells.
 */
export const SMALLEST_CREATE: { size: SizePrice; reserveGb: number } = {
  size: { slug: 's-1vcpu-512mb-10gb', usdPerHour: 0.00595 },
  reserveGb: 10,
};

export interface BudgetAlert {
  percent: AlertPercent;
  message: string;
}

export interface FireAlertsOptions {
  ledger: CostLedger;
  settings: BudgetSettings;
  nowMs: number;
  /** The sandbox (its id) whose create or extension is being checked; '' for the daemon's checks. */
  sandboxId?: string;
  /** Tells each alert to the rest of the product (the event bus: journal and events.jsonl). */
  emit?: (event: EventInput) => Promise<unknown> | void;
}

/** The room the 100% alert watches: what the smallest create would add to the month now. */
export function smallestCreateUsd(nowMs: number, settings: BudgetSettings): number {
  return plannedCreateUsd({ sandbox: 'smallest', size: SMALLEST_CREATE.size, ttlMs: DEFAULT_TTL_MS, reserveGb: SMALLEST_CREATE.reserveGb }, nowMs, settings);
}

/**
 * Fires the alerts due and not yet fired this month: each is recorded in the ledger before it is
 * told (so a restart never tells it twice), then emitted. Returns what fired, lowest first.
 */
export async function fireDueAlerts(options: FireAlertsOptions): Promise<{ alerts: BudgetAlert[]; figures: MonthFigures }> {
  const { ledger, settings, nowMs } = options;
  const book = await ledger.load();
  const figures = monthFigures(book, nowMs, settings);
  const alerts: BudgetAlert[] = [];
  // A month without a cloud machine has nothing to warn about, even under a budget of zero.
  if (book.machines.size === 0 && book.snapshots.size === 0) return { alerts, figures };
  for (const percent of alertsDue(figures, book.alerts, smallestCreateUsd(nowMs, settings))) {
    await ledger.recordAlert(percent);
    const message = alertMessage(percent, figures);
    alerts.push({ percent, message });
    await options.emit?.({
      type: 'cost.alert',
      sandboxId: options.sandboxId ?? '',
      time: new Date(nowMs).toISOString(),
      percent,
      month: figures.month,
      budgetUsd: figures.budgetUsd,
      spentUsd: figures.spentUsd,
      committedUsd: figures.committedUsd,
      message,
    });
  }
  return { alerts, figures };
}
