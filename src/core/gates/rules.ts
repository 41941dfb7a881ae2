import ignore from 'ignore';
import { GATES_DIR, type L1Rules, type L2Rules } from './config';
import type { FileChange, LintFinding, PatchStats, TestCaseResult, TestReport, TestStatus, WorkspaceLocation } from './types';

/** The pure rules of the gates: what L1 finds between two runs, and when L2 needs a person. See docs/gates.md. */

export type L1FindingKind = 'regression' | 'removed' | 'disabled' | 'slower' | 'lint-growth';

export interface TestOutcome {
  status: TestStatus;
  durationMs?: number;
}

/** How many findings one lint check had on the base and has now. */
export interface LintCountChange {
  check: string;
  base: number;
  now: number;
}

export interface L1Finding {
  kind: L1FindingKind;
  testId?: string;
  /** One sentence, for a person. */
  message: string;
  location?: WorkspaceLocation;
  base?: TestOutcome;
  now?: TestOutcome;
  /** For `lint-growth`: the checks whose count grew. */
  lintCounts?: LintCountChange[];
}

/** Worst first: a test reported twice in a run counts as its worst outcome. */
const STATUS_RANK: Record<TestStatus, number> = { error: 3, failed: 2, skipped: 1, passed: 0 };

/**
 * What the change made worse, test by test, against the base run. Only tests that passed on the
 * base are judged: one that already failed is not this change's doing, and a new failing test is
 * L0's business. Without a base run there is nothing to compare.
 */
export function compareRuns(base: TestReport | undefined, now: TestReport, rules: L1Rules): L1Finding[] {
  if (base === undefined) return [];
  const nowById = byId(now.tests);
  const findings: L1Finding[] = [];
  for (const before of byId(base.tests).values()) {
    if (before.status !== 'passed') continue;
    const after = nowById.get(before.id);
    const finding = rules.regressions ? regressionOf(before, after) : undefined;
    if (finding) findings.push(finding);
    else if (after?.status === 'passed' && isSlower(before, after, rules)) findings.push(slowerFinding(before, after, rules));
  }
  return findings;
}

function regressionOf(before: TestCaseResult, after: TestCaseResult | undefined): L1Finding | undefined {
  const label = testLabel(before);
  if (after === undefined) {
    return finding('removed', before, undefined, `${label} passed before this change and is no longer run (deleting a test counts as a regression).`);
  }
  if (after.status === 'skipped') {
    const why = after.message ? ` (${firstLine(after.message)})` : '';
    return finding('disabled', before, after, `${label} passed before this change and is now skipped${why} (disabling a test counts as a regression).`);
  }
  if (after.status === 'failed' || after.status === 'error') {
    const verb = after.status === 'error' ? 'ends in an error' : 'fails';
    const why = after.message ? `: ${firstLine(after.message)}` : '';
    return finding('regression', before, after, `${label} passed before this change and now ${verb}${why}.`);
  }
  return undefined;
}

function isSlower(before: TestCaseResult, after: TestCaseResult, rules: L1Rules): boolean {
  if (before.durationMs === undefined || after.durationMs === undefined) return false;
  return before.durationMs >= rules.slowerMinMs && after.durationMs > before.durationMs * rules.slowerFactor;
}

function slowerFinding(before: TestCaseResult, after: TestCaseResult, rules: L1Rules): L1Finding {
  const message = `${testLabel(before)} took ${after.durationMs} ms, more than ${rules.slowerFactor} times its ${before.durationMs} ms before this change.`;
  return finding('slower', before, after, message);
}

function finding(kind: L1FindingKind, before: TestCaseResult, after: TestCaseResult | undefined, message: string): L1Finding {
  const result: L1Finding = { kind, testId: before.id, message, base: outcomeOf(before) };
  if (after) result.now = outcomeOf(after);
  const location = after?.location ?? before.location;
  if (location) result.location = location;
  return result;
}

function outcomeOf(test: TestCaseResult): TestOutcome {
  return test.durationMs === undefined ? { status: test.status } : { status: test.status, durationMs: test.durationMs };
}

/** The tests of a run by id; a test reported twice keeps its worst status and longest duration. */
function byId(tests: readonly TestCaseResult[]): Map<string, TestCaseResult> {
  const map = new Map<string, TestCaseResult>();
  for (const test of tests) {
    const seen = map.get(test.id);
    if (!seen) {
      map.set(test.id, test);
      continue;
    }
    const worse = STATUS_RANK[test.status] > STATUS_RANK[seen.status] ? test : seen;
    const durations = [seen.durationMs, test.durationMs].filter((value): value is number => value !== undefined);
    map.set(test.id, durations.length > 0 ? { ...worse, durationMs: Math.max(...durations) } : worse);
  }
  return map;
}

function testLabel(test: TestCaseResult): string {
  return test.suite ? `The test "${test.suite} > ${test.name}"` : `The test "${test.name}"`;
}

/** The first line of a message, capped: enough to say which way a test failed. */
function firstLine(text: string): string {
  const line = text.split('\n')[0]?.trim() ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** L1 between two runs of the same checks: the tests' findings, then lint growth when the rules ask for it. */
export function compareChecks(
  base: { tests: TestCaseResult[]; findings: LintFinding[] },
  now: { tests: TestCaseResult[]; findings: LintFinding[] },
  rules: L1Rules,
): L1Finding[] {
  const findings = compareRuns({ format: 'junit', tests: base.tests, problems: [] }, { format: 'junit', tests: now.tests, problems: [] }, rules);
  const growth = rules.lintGrowth ? lintGrowth(base.findings, now.findings) : undefined;
  return growth ? [...findings, growth] : findings;
}

/** One finding when any lint check reports more findings now than on the base; undefined when none grew. */
export function lintGrowth(baseFindings: readonly LintFinding[], nowFindings: readonly LintFinding[]): L1Finding | undefined {
  const baseCounts = countByCheck(baseFindings);
  const grown: LintCountChange[] = [];
  for (const [check, now] of countByCheck(nowFindings)) {
    const base = baseCounts.get(check) ?? 0;
    if (now > base) grown.push({ check, base, now });
  }
  if (grown.length === 0) return undefined;
  grown.sort((a, b) => a.check.localeCompare(b.check));
  const listed = grown.map((change) => `${change.check} ${change.base} -> ${change.now}`).join(', ');
  const result: L1Finding = { kind: 'lint-growth', message: `Lint findings grew with this change: ${listed}.`, lintCounts: grown };
  // Point at a finding of a grown check that the base did not have, so a person can start there.
  const baseKeys = new Set(baseFindings.map(findingKey));
  const grownChecks = new Set(grown.map((change) => change.check));
  const fresh = nowFindings.find((lint) => grownChecks.has(lint.check) && !baseKeys.has(findingKey(lint)));
  if (fresh) result.location = fresh.location;
  return result;
}

function countByCheck(findings: readonly LintFinding[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const lint of findings) counts.set(lint.check, (counts.get(lint.check) ?? 0) + 1);
  return counts;
}

function findingKey(lint: LintFinding): string {
  return `${lint.check}\u0000${lint.location.path}\u0000${lint.message}`;
}

export interface PersonDecision {
  required: boolean;
  /** One sentence per reason. */
  reasons: string[];
}

/** Paths named one by one in the reasons; the rest are counted. */
const MAX_NAMED_PATHS = 10;

/**
 * L2: whether a change needs a person before it is applied. A change to `.sandboxes/` always does:
 * that is where the gates live, and a task must not loosen the rules that judge it.
 */
export function needsPerson(changes: readonly FileChange[], stats: PatchStats, taskPriority: string, rules: L2Rules): PersonDecision {
  const reasons: string[] = [];
  const touched = changes.flatMap((change) => (change.renamedFrom === undefined ? [change.path] : [change.path, change.renamedFrom]));
  const gatesPaths = unique(touched.filter(isUnderGatesDir));
  if (gatesPaths.length > 0) {
    reasons.push(`It changes ${namedPaths(gatesPaths)} under ${GATES_DIR}/, where the gates live, which always needs a person.`);
  }
  if (rules.paths.length > 0) {
    const patterns = ignore().add(rules.paths);
    const matched: string[] = [];
    const unreadable: string[] = [];
    for (const candidate of unique(touched)) {
      try {
        if (patterns.ignores(candidate)) matched.push(candidate);
      } catch {
        unreadable.push(candidate); // A path `ignore` refuses to judge is not let through unseen.
      }
    }
    if (matched.length > 0) reasons.push(`It changes ${namedPaths(matched)}, matching the l2 paths that need a person.`);
    if (unreadable.length > 0) reasons.push(`It changes ${namedPaths(unreadable)}, which could not be checked against the l2 paths.`);
  }
  const changedLines = stats.addedLines + stats.removedLines;
  if (rules.maxChangedLines !== undefined && changedLines > rules.maxChangedLines) {
    reasons.push(`It changes ${changedLines} lines, more than the ${rules.maxChangedLines} allowed without a person (l2.maxChangedLines).`);
  }
  if (rules.critical && taskPriority === 'critical') reasons.push('The task has priority critical, whose changes always need a person.');
  return { required: reasons.length > 0, reasons };
}

/** Case-blind: on macOS and Windows `.Sandboxes/gates.json` is the same file. */
function isUnderGatesDir(relativePath: string): boolean {
  const lower = relativePath.toLowerCase().replace(/^(\.\/)+/, '');
  return lower === GATES_DIR || lower.startsWith(`${GATES_DIR}/`);
}

function namedPaths(paths: readonly string[]): string {
  const named = paths.slice(0, MAX_NAMED_PATHS).join(', ');
  const more = paths.length - MAX_NAMED_PATHS;
  return more > 0 ? `${named} and ${more} more` : named;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
