import { fireDueAlerts } from '../../core/cost/alerts';
import { CostLedger } from '../../core/cost/ledger';
import { readBudgetSettings } from '../../core/cost/settings';
import { describeError } from '../../core/errors';
import type { Context } from '../command';

/**
 * After a cloud create or an extension: the budget alerts now due, each recorded once a month,
 * told to the journal and events.jsonl, and as a line on stderr. A failure here never fails the
 * command that already succeeded; it is said on stderr.
 */
export async function reportBudgetAlerts(context: Context, sandboxId: string, budgetUsd?: number): Promise<void> {
  const { controller } = context;
  try {
    const settings = await readBudgetSettings(controller.store.root, budgetUsd);
    const { alerts } = await fireDueAlerts({
      ledger: new CostLedger(controller.store.root, Date.now),
      settings,
      nowMs: Date.now(),
      sandboxId,
      emit: (event) => controller.events.emit(event),
    });
    for (const alert of alerts) process.stderr.write(`sandbox: ${alert.message}\n`);
  } catch (error) {
    process.stderr.write(`sandbox: the budget alerts could not be checked (${describeError(error)}); \`sandbox cost\` shows the figures.\n`);
  }
}
