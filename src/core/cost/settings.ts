/**
 * The budget settings every process of a state dir shares (`cost/budget.json`): the CLI's
 * `sandbox cost --set-budget`, VS Code's setting and the daemon that enforces it read one file,
 * so they cannot disagree about the limit.
 */
import * as path from 'node:path';
import { SandboxError } from '../errors';
import { readJsonFile, writeFileAtomic } from '../store/files';
import { DEFAULT_BUDGET, type BudgetSettings } from './budget';
import { COST_DIR } from './ledger';

const SETTINGS_FILE = 'budget.json';
/** Far above any sandbox budget: a typo of a few digits is refused rather than obeyed. */
const MAX_MONTHLY_USD = 100_000;

interface StoredSettings {
  monthlyUsd?: unknown;
  snapshotUsdPerGbMonth?: unknown;
}

export function budgetSettingsFile(stateRoot: string): string {
  return path.join(stateRoot, COST_DIR, SETTINGS_FILE);
}

/** Checks a monthly budget as typed by a person (a flag, a setting). */
export function checkMonthlyBudget(value: unknown): number {
  const usd = typeof value === 'string' ? Number(value.replace(/^\$/, '')) : value;
  if (typeof usd !== 'number' || !Number.isFinite(usd) || usd < 0 || usd > MAX_MONTHLY_USD) {
    throw new SandboxError('invalid-input', `The monthly budget must be a number of US dollars from 0 to ${MAX_MONTHLY_USD}, for example 50.`);
  }
  return usd;
}

/** The state dir's budget settings; `overrideUsd` (a `--budget` flag) wins for one decision. */
export async function readBudgetSettings(stateRoot: string, overrideUsd?: number): Promise<BudgetSettings> {
  let stored: StoredSettings | undefined;
  try {
    stored = await readJsonFile<StoredSettings>(budgetSettingsFile(stateRoot));
  } catch {
    throw new SandboxError(
      'invalid-input',
      `The budget settings ${budgetSettingsFile(stateRoot)} are not valid JSON; set the budget again with \`sandbox cost --set-budget USD\`.`,
    );
  }
  const settings = { ...DEFAULT_BUDGET };
  if (stored?.monthlyUsd !== undefined) settings.monthlyUsd = checkMonthlyBudget(stored.monthlyUsd);
  if (typeof stored?.snapshotUsdPerGbMonth === 'number' && stored.snapshotUsdPerGbMonth >= 0) settings.snapshotUsdPerGbMonth = stored.snapshotUsdPerGbMonth;
  // A flag may only tighten the budget for one decision: raising it is `--set-budget`, which every process then obeys.
  if (overrideUsd !== undefined) settings.monthlyUsd = Math.min(settings.monthlyUsd, checkMonthlyBudget(overrideUsd));
  return settings;
}

export async function writeMonthlyBudget(stateRoot: string, usd: number): Promise<void> {
  const file = budgetSettingsFile(stateRoot);
  const current = (await readJsonFile<StoredSettings>(file).catch(() => undefined)) ?? {};
  await writeFileAtomic(file, JSON.stringify({ ...current, monthlyUsd: checkMonthlyBudget(usd) }, null, 2) + '\n', 0o600);
}
