import { formatUsd, type Clock } from '../../cost/billing';
import { monthFigures } from '../../cost/budget';
import type { CostLedger } from '../../cost/ledger';
import { readBudgetSettings } from '../../cost/settings';
import { SandboxError } from '../../errors';

/**
 * The budget check of prepareCreate, again with this machine's entry in the ledger: creates racing
 * each other each see the others' entries here, so together they cannot pass the budget (at worst
 * both step back). A machine that steps back costs its minimum in our figures, never a droplet.
 */
export async function recheckBudget(ledger: CostLedger, stateRoot: string, clock: Clock, entryId: string, name: string): Promise<void> {
  const settings = await readBudgetSettings(stateRoot);
  const figures = monthFigures(await ledger.load(), clock(), settings);
  if (figures.committedUsd <= settings.monthlyUsd + 1e-9) return;
  await ledger.closeMachine(entryId, 'destroyed');
  throw new SandboxError(
    'resource-limit',
    `Creating ${name} would take this month's cloud spending to ${formatUsd(figures.committedUsd)} of the ${formatUsd(settings.monthlyUsd)} budget (other creates ran at the same time); nothing was made: try again, or raise the budget with \`sandbox cost --set-budget USD\`.`,
  );
}
