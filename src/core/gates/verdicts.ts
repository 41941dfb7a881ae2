import type { ChecksRun } from './checks';
import type { TestCaseResult } from './types';

const failed = (test: TestCaseResult) => test.status === 'failed' || test.status === 'error';

/**
 * Why L0 fails, or undefined when it passes. A check that could not be judged fails it; so does
 * a failing test the base did not have (the change's own tests). A test that failed on the base
 * too is not the change's doing, and one that passed there is L1's regression: with the base's
 * run at hand, neither fails L0. Without it every failure counts.
 */
export function judgeL0(run: ChecksRun, base?: ChecksRun): { reason: string; tests: TestCaseResult[] } | undefined {
  const problem = run.checks.find((check) => check.problem);
  if (problem) return { reason: problem.problem!, tests: [] };
  const onBase = new Map(base?.tests.map((test) => [test.id, test.status]));
  const fresh = run.tests.filter((test) => failed(test) && (!base || !onBase.has(test.id) || onBase.get(test.id) === 'skipped'));
  if (fresh.length > 0) {
    const first = fresh[0]!;
    return { reason: `${plural(fresh.length, 'test')} failed: ${first.name}${first.message ? ` (${first.message})` : ''}.`, tests: fresh };
  }
  for (const check of run.checks) {
    if (check.kind !== 'test' || check.exitCode === 0) continue;
    // Its failing tests explain the exit: they were judged above.
    if (base && check.report?.tests.some(failed)) continue;
    const before = base?.checks.find((other) => other.name === check.name);
    if (before && before.exitCode === check.exitCode && !check.timedOut) continue; // it failed the same way on the base
    const how = check.timedOut ? 'ran past its timeout' : `exited with ${check.exitCode ?? 'a signal'}`;
    return { reason: `${check.name} ${how}.`, tests: [] };
  }
  return undefined;
}

export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}
