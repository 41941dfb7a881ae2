import type { ReportFormat, TestCaseResult, TestReport } from '../types';

/** Caps on what a report may make us hold: reports are written by the code under test. */
export const REPORT_LIMITS = {
  /** A larger report is refused unread. */
  maxReportBytes: 20 * 1024 * 1024,
  maxTestCases: 20_000,
  maxMessageChars: 500,
  maxOutputChars: 8 * 1024,
  /** A name or suite is cut to this length (ids stay stable: the same input is cut the same way). */
  maxNameChars: 1_000,
  /** Problems beyond this many are counted in one last sentence. */
  maxProblems: 50,
} as const;

/** A test case as a report gives it: the collector assigns its id. */
export type CaseInput = Omit<TestCaseResult, 'id'>;

/** Gathers a report's test cases under the caps, giving each a unique id. */
export class ReportCollector {
  private readonly tests: TestCaseResult[] = [];
  private readonly problems: string[] = [];
  private readonly ids = new Set<string>();
  private readonly nextSuffix = new Map<string, number>();
  private droppedCases = 0;
  private droppedProblems = 0;

  constructor(private readonly format: ReportFormat) {}

  add(input: CaseInput): void {
    if (this.tests.length >= REPORT_LIMITS.maxTestCases) {
      this.droppedCases++;
      return;
    }
    const name = cut(printable(input.name), REPORT_LIMITS.maxNameChars);
    const suite = input.suite === undefined || input.suite === '' ? undefined : cut(printable(input.suite), REPORT_LIMITS.maxNameChars);
    const result: TestCaseResult = { id: this.uniqueId(suite === undefined ? name : `${suite}::${name}`), name, status: input.status };
    if (suite !== undefined) result.suite = suite;
    if (input.durationMs !== undefined && Number.isFinite(input.durationMs) && input.durationMs >= 0) result.durationMs = input.durationMs;
    const message = input.message === undefined ? undefined : oneLine(input.message);
    if (message) result.message = message;
    const output = input.output === undefined ? undefined : cappedOutput(input.output);
    if (output) result.output = output;
    if (input.location) result.location = input.location;
    this.tests.push(result);
  }

  problem(sentence: string): void {
    if (this.problems.length < REPORT_LIMITS.maxProblems) this.problems.push(sentence);
    else this.droppedProblems++;
  }

  finish(): TestReport {
    const problems = [...this.problems];
    if (this.droppedProblems > 0) problems.push(`${count(this.droppedProblems, 'more problem was', 'more problems were')} found and not listed.`);
    if (this.droppedCases > 0) {
      problems.push(
        `The report has more than ${REPORT_LIMITS.maxTestCases} test cases: only the first ${REPORT_LIMITS.maxTestCases} were read, ${count(this.droppedCases, 'was', 'were')} left out.`,
      );
    }
    return { format: this.format, tests: this.tests, problems };
  }

  /** Same-named cases (a parametrised test reported twice, a retried one) get ` #2`, ` #3`... in report order. */
  private uniqueId(base: string): string {
    let id = base;
    // Counting on from the last suffix given to this base keeps thousands of same-named cases linear.
    let counter = this.nextSuffix.get(base) ?? 2;
    while (this.ids.has(id)) id = `${base} #${counter++}`;
    this.nextSuffix.set(base, counter);
    this.ids.add(id);
    return id;
  }
}

/** A report refused before reading, with the sentence saying why. */
export function refusedReport(format: ReportFormat, problem: string): TestReport {
  return { format, tests: [], problems: [problem] };
}

/** `1 was`, `2 were`: a number and the words that agree with it. */
export function count(amount: number, singular: string, plural: string): string {
  return `${amount} ${amount === 1 ? singular : plural}`;
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Colour codes and other escape sequences a runner printed: a terminal showing them would act on them. */
const ESCAPE_SEQUENCE = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-_]?/g;
/** Control characters but tab and newline (a carriage return included: CRLF becomes LF). */
const CONTROL_CHARACTER = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Text fit to show: without escape sequences and control characters. */
export function printable(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, '').replace(CONTROL_CHARACTER, '');
}

/** One printable line: whitespace runs (newlines included) become single spaces, capped. */
export function oneLine(text: string): string {
  const flat = printable(text.slice(0, REPORT_LIMITS.maxMessageChars * 4))
    .replace(/\s+/g, ' ')
    .trim();
  return cut(flat, REPORT_LIMITS.maxMessageChars);
}

/** The head and the tail of a long output: a trace starts with the error and Python's ends with it. */
function cappedOutput(text: string): string {
  const trimmed = printable(text)
    .replace(/^\s*\n/, '')
    .trimEnd();
  const max = REPORT_LIMITS.maxOutputChars;
  if (trimmed.length <= max) return trimmed;
  const marker = `\n… (${trimmed.length - max} characters left out) …\n`;
  const half = Math.floor((max - marker.length) / 2);
  return `${trimmed.slice(0, half)}${marker}${trimmed.slice(trimmed.length - half)}`;
}

/** Seconds as a report writes them ("0.012", "1,234.5") in milliseconds, or undefined. */
export function secondsToMs(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = typeof value === 'number' ? value : Number(value.replace(/,/g, '').trim());
  return Number.isFinite(seconds) && seconds >= 0 && String(value).trim() !== '' ? Math.round(seconds * 1_000_000) / 1_000 : undefined;
}
