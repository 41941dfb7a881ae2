import { Parser, type FinalResults, type Result } from 'tap-parser';
import { framesInWorkspace, workspaceLocation, type ReportContext } from './locations';
import { count, REPORT_LIMITS, ReportCollector, type CaseInput } from './reportCollector';
import type { TestReport, WorkspaceLocation } from '../types';

/** What is kept of the lines a runner prints after a failed test point (mocha prints its trace there). */
const MAX_EXTRA_CHARS = 4 * REPORT_LIMITS.maxOutputChars;

/**
 * Subtests nested deeper are refused: tap-parser reads each line once per level it is nested
 * in, so a hostile stream nested thousands deep would take minutes. Real suites nest a few levels.
 */
const MAX_SUBTEST_DEPTH = 64;
/** A test point or subtest indented past that depth (TAP indents a subtest by four spaces). */
const TOO_DEEP = new RegExp(`^ {${4 * (MAX_SUBTEST_DEPTH + 1)},}(?:not ok|ok|# Subtest)\\b`, 'm');

/** A subtest's parser and whether a test inside it failed (then the subtest's own failing point only repeats it). */
interface SubtestState {
  names: string[];
  parent: SubtestState | undefined;
  failedInside: boolean;
  lastChild: SubtestState | undefined;
}

/** A test point waiting for the lines that may follow it. */
interface PendingCase {
  input: CaseInput;
  result: Result;
  extra: string;
}

/** TAP 13/14 (node --test, mocha, node-tap...), with YAML diagnostics and subtests. */
export function parseTapReport(text: string, context: ReportContext): TestReport {
  const collector = new ReportCollector('tap');
  if (TOO_DEEP.test(text)) {
    collector.problem(`The TAP stream nests subtests more than ${MAX_SUBTEST_DEPTH} levels deep, so it was not read.`);
    return collector.finish();
  }
  let pending: PendingCase | undefined;
  let final: FinalResults | undefined;

  const flush = (): void => {
    if (pending) collector.add(finishCase(pending, context));
    pending = undefined;
  };

  const listen = (parser: Parser, state: SubtestState): void => {
    parser.on('child', (child: Parser) => {
      // A subtest without a `# Subtest: name` line has no name: its tests count as its parent's.
      const names = child.name.trim() === '' ? state.names : [...state.names, child.name];
      const childState: SubtestState = { names, parent: state, failedInside: false, lastChild: undefined };
      state.lastChild = childState;
      listen(child, childState);
    });
    parser.on('assert', (result: Result) => {
      flush();
      const failed = !result.ok && !result.todo && !result.skip;
      if (result.closingTestPoint) {
        // A subtest's closing point is a test of its own only when it failed by itself (a hook, a suite's code).
        const closed = state.lastChild;
        if (!failed || closed?.failedInside) return;
      }
      if (failed) for (let ancestor: SubtestState | undefined = state; ancestor; ancestor = ancestor.parent) ancestor.failedInside = true;
      const input = startCase(result, state.names);
      // A subtest that failed by itself failed outside its tests: an error, as JUnit says of a failed hook.
      if (result.closingTestPoint) input.status = 'error';
      pending = { input, result, extra: '' };
    });
    parser.on('extra', (line: string) => {
      if (pending && (pending.input.status === 'failed' || pending.input.status === 'error') && pending.extra.length < MAX_EXTRA_CHARS) pending.extra += line;
    });
  };

  const root = new Parser({}, (results: FinalResults) => (final = results));
  root.on('bailout', (reason: string) =>
    collector.problem(`The TAP stream bailed out${reason ? ` (${reason})` : ''}: the tests after that point did not run.`),
  );
  listen(root, { names: [], parent: undefined, failedInside: false, lastChild: undefined });
  try {
    root.end(text);
  } catch (error) {
    collector.problem(`The TAP stream could not be read to its end (${error instanceof Error ? error.message : String(error)}).`);
  }
  flush();
  if (final) reportPlanProblems(final, root, collector);
  return collector.finish();
}

function startCase(result: Result, suiteNames: string[]): CaseInput {
  const name = result.name.trim() || `test ${result.id}`;
  const suite = suiteNames.length > 0 ? suiteNames.join(' > ') : undefined;
  const durationMs = typeof result.time === 'number' ? result.time : undefined;
  if (result.todo) return { name, suite, status: 'skipped', durationMs, message: typeof result.todo === 'string' ? `TODO: ${result.todo}` : 'TODO' };
  // mocha writes `# SKIP -`: a dash is no reason.
  const skipReason = typeof result.skip === 'string' && result.skip.trim() !== '-' ? result.skip : undefined;
  if (result.skip) return { name, suite, status: 'skipped', durationMs, message: skipReason };
  return { name, suite, status: result.ok ? 'passed' : 'failed', durationMs };
}

/** Fills a case from its YAML diagnostics and the lines printed after it. */
function finishCase({ input, result, extra }: PendingCase, context: ReportContext): CaseInput {
  const diag = isRecord(result.diag) ? result.diag : {};
  const declared = declaredLocation(diag, context);
  if (input.status === 'passed' || input.status === 'skipped') return declared ? { ...input, location: declared } : input;
  const error = diag.error;
  const errorText = typeof error === 'string' ? error : isRecord(error) ? nonEmptyString(error.message) : undefined;
  const messageText = nonEmptyString(diag.message) ?? errorText;
  const stack = nonEmptyString(diag.stack) ?? (isRecord(error) ? nonEmptyString(error.stack) : undefined);
  const comparison = ['expected', 'actual', 'operator']
    .filter((key) => diag[key] !== undefined)
    .map((key) => `${key}: ${short(diag[key])}`)
    .join('\n');
  const output = [messageText, comparison, stack, extra].filter((part) => part !== undefined && part.trim() !== '').join('\n');
  const extraMessage = extra.split('\n').find((line) => line.trim() !== '' && !/^\s*(?:---|\.\.\.)\s*$/.test(line));
  // node-tap's `at` is the failing assertion; Node's `location` is only where the test is declared, so a frame of the stack beats it.
  const failurePoint = atLocation(diag.at, context) ?? framesInWorkspace(`${stack ?? ''}\n${extra}`, context)[0] ?? declared;
  return { ...input, message: messageText ?? extraMessage, output, location: failurePoint };
}

/** Where the diagnostics say the test is: node-tap's `at`, else Node's `location: '/path/file.js:10:1'`. */
function declaredLocation(diag: Record<string, unknown>, context: ReportContext): WorkspaceLocation | undefined {
  const at = atLocation(diag.at, context);
  if (at) return at;
  const location = nonEmptyString(diag.location);
  const match = location === undefined ? null : /^(.+?):(\d+)(?::(\d+))?$/.exec(location);
  return match ? workspaceLocation(match[1], match[2], match[3], context) : undefined;
}

/** node-tap writes `at: { file, line, column }` (older versions fileName, lineNumber, columnNumber). */
function atLocation(at: unknown, context: ReportContext): WorkspaceLocation | undefined {
  if (!isRecord(at)) return undefined;
  const file = nonEmptyString(at.file) ?? nonEmptyString(at.fileName);
  const line = at.line ?? at.lineNumber;
  const column = at.column ?? at.columnNumber;
  if (file === undefined || (typeof line !== 'number' && typeof line !== 'string')) return undefined;
  return workspaceLocation(file, line, typeof column === 'number' || typeof column === 'string' ? column : undefined, context);
}

/** tap-parser's own complaints that `reportPlanProblems` already says in a sentence. */
const PLAN_ERRORS = new Set(['no plan', 'incorrect number of tests']);

/** The plan says how many tests should have run: fewer means the run was cut short. */
function reportPlanProblems(final: FinalResults, root: Parser, collector: ReportCollector): void {
  const { start, end } = final.plan;
  if (root.syntheticPlan) {
    // tap-parser makes up an empty plan for a stream with no plan and no test point.
    collector.problem('The TAP stream has no plan and no test point: it is not TAP output, or the run stopped before it started.');
  } else if (start === null || end === null) {
    if (!final.bailout) collector.problem('The TAP stream has no plan (a "1..N" line): it may have been cut short.');
  } else if (!final.plan.skipAll && final.count < end - start + 1) {
    collector.problem(`The TAP plan announced ${end - start + 1} tests but ${count(final.count, 'was', 'were')} reported: the run may have been cut short.`);
  }
  for (const failure of final.failures) {
    const tapError = 'tapError' in failure ? failure.tapError : undefined;
    if (typeof tapError === 'string' && !PLAN_ERRORS.has(tapError)) collector.problem(`The TAP stream is malformed: ${tapError}.`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** A diagnostic value fit for one line of output. */
function short(value: unknown): string {
  let rendered: string;
  try {
    rendered = typeof value === 'string' ? value : JSON.stringify(value);
  } catch {
    rendered = String(value);
  }
  return rendered.length > 500 ? `${rendered.slice(0, 499)}…` : rendered;
}
