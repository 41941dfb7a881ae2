import { formatUsd } from './billing';
import type { LedgerBook } from './fold';

export interface Tolerance {
  /** A gap up to this many dollars is normal... */
  usd: number;
  /** ...or up to this share of the larger figure: the account's figure lags by hours and counts more than sandboxes. */
  fraction: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { usd: 1, fraction: 0.1 };

export interface Reconciliation {
  ledgerUsd: number;
  accountUsd: number;
  /** account minus ledger. */
  gapUsd: number;
  toleranceUsd: number;
  beyondTolerance: boolean;
  /** One sentence with both figures, for `sandbox cost` and the tree. */
  sentence: string;
}

/** Our ledger's month total beside the account's `month_to_date_usage`, with the gap named when it is beyond the tolerance. */
export function reconcileWithAccount(ledgerUsd: number, accountMonthToDateUsd: number, tolerance: Tolerance = DEFAULT_TOLERANCE): Reconciliation {
  const gapUsd = accountMonthToDateUsd - ledgerUsd;
  const toleranceUsd = Math.max(tolerance.usd, tolerance.fraction * Math.max(ledgerUsd, accountMonthToDateUsd));
  const beyondTolerance = Math.abs(gapUsd) > toleranceUsd;
  const ours = `the ${formatUsd(ledgerUsd)} our ledger counts for sandboxes this month`;
  const theirs = `the account reports ${formatUsd(accountMonthToDateUsd)} month to date`;
  let sentence: string;
  if (!beyondTolerance) sentence = `The account reports ${formatUsd(accountMonthToDateUsd)} month to date, within ${formatUsd(toleranceUsd)} of ${ours}.`;
  else if (gapUsd > 0)
    sentence = `${capitalize(theirs)}, ${formatUsd(gapUsd)} more than ${ours}: look for droplets, snapshots or volumes made outside these sandboxes, or orphans of a crashed create.`;
  else
    sentence = `${capitalize(theirs)}, ${formatUsd(-gapUsd)} less than ${ours}: the account's figure can lag by some hours; if the gap stays, the prices the ledger recorded may be out of date.`;
  return { ledgerUsd, accountUsd: accountMonthToDateUsd, gapUsd, toleranceUsd, beyondTolerance, sentence };
}

/**
 * The ledger entries whose machine the provider no longer lists (destroyed while no process of
 * ours was looking): the caller closes them as `vanished`, priced up to when this was noticed,
 * which can only overstate the cost.
 */
export function vanishedEntries(book: LedgerBook, listedSandboxes: ReadonlySet<string>): string[] {
  return book
    .openMachines()
    .filter((entry) => !listedSandboxes.has(entry.sandbox))
    .map((entry) => entry.id);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
