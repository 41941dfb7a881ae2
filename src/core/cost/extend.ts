import { SandboxError } from '../errors';
import { decideExtend, monthFigures, type BudgetDecision, type BudgetSettings } from './budget';
import type { MachineEntry } from './fold';
import type { CostLedger } from './ledger';
import { extendedUntil } from './ttl';

export interface Extension {
  entry: MachineEntry;
  previousUntilMs: number;
  untilMs: number;
  decision: BudgetDecision;
}

/**
 * `sandbox extend NAME 1h`: moves the time-to-live of the sandbox's running machine, counted from
 * now when it has passed, only when the budget allows what it adds; refused with the figures otherwise.
 */
export async function extendTimeToLive(ledger: CostLedger, sandbox: string, byMs: number, settings: BudgetSettings, nowMs: number): Promise<Extension> {
  const book = await ledger.load();
  const entry = book.openMachineOf(sandbox);
  if (!entry) {
    throw new SandboxError(
      'not-found',
      `No running cloud sandbox is called ${sandbox} in the cost ledger; only cloud sandboxes have a time-to-live (see \`sandbox list\`).`,
    );
  }
  const untilMs = extendedUntil(entry.untilMs, byMs, nowMs);
  const decision = decideExtend(monthFigures(book, nowMs, settings), entry, untilMs, settings);
  if (!decision.allowed) throw new SandboxError('resource-limit', decision.refusal!);
  await ledger.extend(entry.id, untilMs);
  return { entry, previousUntilMs: entry.untilMs, untilMs, decision };
}
