import type { ChecksRun } from './checks';
import { count } from './reports/reportCollector';
import type { TestCaseResult } from './types';

const failed = (test: TestCaseResult) => test.status === 'failed' || test.status === 'error';

/**
 * Why L0 fails, or undefined when it passes. A check that could not be judged fails it, and so
 * does every failing test but those that failed on the base too (not the change's doing: with
 * the base's run at hand they are left out; without it every failure counts).
 */
export function judgeL0(run: ChecksRun, base?: ChecksRun): { reason: string; tests: TestCaseResult[] } | undefined {
  const problem = run.checks.find((check) => check.problem);
  if (problem) return { reason: problem.problem!, tests: [] };
  const onBase = new Map(base?.tests.map((test) => [test.id, test.status]));
  const before = (test: TestCaseResult) => onBase.get(test.id);
  const fresh = run.tests.filter((test) => failed(test) && !(before(test) === 'failed' || before(test) === 'error'));
  if (fresh.length > 0) {
    const first = fresh[0]!;
    return { reason: `${plural(fresh.length, 'test')} failed: ${first.name}${first.message ? ` (${first.message})` : ''}.`, tests: fresh };
  }
  for (const check of run.checks) {
    if (check.kind !== 'test' || check.exitCode === 0) continue;
    // Its failing tests explain the exit: they were judged above.
    if (base && check.report?.tests.some(failed)) continue;
    const onBaseCheck = base?.checks.find((other) => other.name === check.name);
    if (onBaseCheck && onBaseCheck.exitCode === check.exitCode && !check.timedOut) continue; // it failed the same way on the base
    const how = check.timedOut ? 'ran past its timeout' : `exited with ${check.exitCode ?? 'a signal'}`;
    return { reason: `${check.name} ${how}.`, tests: [] };
  }
  return undefined;
}

/** `1 test`, `2 tests`. */
export function plural(amount: number, word: string): string {
  return count(amount, word, `${word}s`);
}
