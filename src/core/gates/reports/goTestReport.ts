import { locateInTrace, workspaceLocation, type ReportContext } from './locations';
import { REPORT_LIMITS, ReportCollector, secondsToMs } from './reportCollector';
import type { TestReport, TestStatus, WorkspaceLocation } from '../types';

/**
 * `go test -json` output: one JSON event a line (see `go doc test2json`). A test's output
 * events are gathered for its `output`; its pass, fail or skip event gives its status.
 *
 * Locations: Go prints `    calc_test.go:19: message`, a name relative to the package's
 * folder. The package's import path does not say where that folder is, so such a location
 * keeps the bare name as printed and the caller resolves it; absolute paths (panic traces)
 * are mapped into the workspace like any other.
 */

/** A package-level failure (a build error, a TestMain that exits) is reported as this test of the package. */
export const GO_PACKAGE_CASE_NAME = '(package)';

/** What is kept of one test's output to find its message and location (the case's own output is capped lower). */
const MAX_GATHERED_CHARS = 256 * 1024;

interface GoEvent {
  Action?: unknown;
  Package?: unknown;
  ImportPath?: unknown;
  Test?: unknown;
  Elapsed?: unknown;
  Output?: unknown;
  FailedBuild?: unknown;
}

interface GoTest {
  packageName: string;
  testName: string | undefined;
  output: string;
  status?: TestStatus;
  elapsedSeconds?: number;
  /** For a package: whether one of its tests failed (then the package's own failure only repeats it). */
  testFailed: boolean;
  failedBuild: boolean;
}

/** The lines go test prints about a test's progress, not what the test printed. */
const PROGRESS_LINE = /^\s*(?:=== (?:RUN|PAUSE|CONT|NAME)\s|--- (?:PASS|FAIL|SKIP):\s)/;
/** `    calc_test.go:19: Divide(1, 0) = 0, want -1`: the file (relative to the package), the line, the message. */
const TEST_LOG_LINE = /^[ \t]+([\w.-]+\.go):(\d+): (.*)$/m;
/** Before Go 1.24, a package that did not build is one plain line among the events. */
const BUILD_FAILED_LINE = /^FAIL\s+(\S+) \[(build failed|setup failed)\]\s*$/;

export function parseGoTestReport(text: string, context: ReportContext): TestReport {
  const collector = new ReportCollector('go-json');
  const tests = new Map<string, GoTest>();
  const entry = (packageName: string, testName: string | undefined): GoTest => {
    const key = `${packageName}\0${testName ?? ''}`;
    let test = tests.get(key);
    if (!test) {
      test = { packageName, testName, output: '', testFailed: false, failedBuild: false };
      tests.set(key, test);
    }
    return test;
  };

  const lines = text.split('\n');
  lines.forEach((rawLine, index) => {
    const line = rawLine.replace(/\r$/, '');
    if (line.trim() === '') return;
    const event = parseEvent(line);
    if (event === undefined) {
      const buildFailure = BUILD_FAILED_LINE.exec(line);
      if (buildFailure) {
        const test = entry(buildFailure[1], undefined);
        test.status = 'error';
        test.failedBuild = buildFailure[2] === 'build failed';
        test.output += `${line}\n`;
      } else {
        collector.problem(`Line ${index + 1} of the go test output is not a test2json event: ${JSON.stringify(line.slice(0, 80))}.`);
      }
      return;
    }
    // Build events (Go 1.24) name the package being built as `path [path.test]`: the package's own events name it `path`.
    const packageName =
      typeof event.Package === 'string' ? event.Package : typeof event.ImportPath === 'string' ? event.ImportPath.replace(/ \[[^\]]*\]$/, '') : '';
    const testName = typeof event.Test === 'string' && event.Test !== '' ? event.Test : undefined;
    const action = event.Action;
    if (packageName === '') {
      collector.problem(`Line ${index + 1} of the go test output names no package.`);
      return;
    }
    const test = entry(packageName, testName);
    if (action === 'output' || action === 'build-output') {
      if (typeof event.Output === 'string' && test.output.length < MAX_GATHERED_CHARS) test.output += event.Output;
    } else if (action === 'pass' || action === 'fail' || action === 'skip' || action === 'build-fail') {
      test.status = action === 'pass' ? 'passed' : action === 'skip' ? 'skipped' : testName === undefined ? 'error' : 'failed';
      if (typeof event.Elapsed === 'number') test.elapsedSeconds = event.Elapsed;
      if (action === 'build-fail' || event.FailedBuild !== undefined) test.failedBuild = true;
    }
  });

  // A failed or unfinished test already says why its package failed.
  for (const test of tests.values()) {
    const packageEntry = tests.get(`${test.packageName}\0`);
    if (test.testName !== undefined && test.status !== 'passed' && test.status !== 'skipped' && packageEntry) packageEntry.testFailed = true;
  }
  for (const test of tests.values()) {
    if (test.testName === undefined) addPackageFailure(test, collector, context);
    else addTest(test, test.testName, collector, context);
  }
  return collector.finish();
}

function parseEvent(line: string): GoEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    return typeof (value as GoEvent).Action === 'string' ? (value as GoEvent) : undefined;
  } catch {
    return undefined;
  }
}

function addTest(test: GoTest, testName: string, collector: ReportCollector, context: ReportContext): void {
  const printed = printedOutput(test.output);
  // A test with no end event was running when the test binary stopped (a panic in another goroutine, a timeout).
  const status = test.status ?? 'error';
  const logLine = TEST_LOG_LINE.exec(printed);
  const panicLine = /^panic: (.*)$/m.exec(printed);
  const unfinished = test.status === undefined ? 'The test did not finish: the test binary stopped while it ran.' : undefined;
  collector.add({
    name: testName,
    suite: test.packageName,
    status,
    durationMs: secondsToMs(test.elapsedSeconds),
    message: status === 'passed' ? undefined : (logLine?.[3] ?? panicLine?.[1] ?? unfinished),
    output: status === 'passed' ? undefined : printed,
    location: status === 'passed' ? undefined : goLocation(logLine, printed, context),
  });
}

/** A package that failed though none of its tests did: it did not build, or TestMain or init failed. */
function addPackageFailure(test: GoTest, collector: ReportCollector, context: ReportContext): void {
  if (test.status !== 'error' || test.testFailed) return;
  const printed = printedOutput(test.output);
  const firstLine = printed.split('\n').find((line) => line.trim() !== '' && !/^(?:FAIL|ok)\s/.test(line));
  collector.add({
    name: GO_PACKAGE_CASE_NAME,
    suite: test.packageName,
    status: 'error',
    durationMs: secondsToMs(test.elapsedSeconds),
    message: test.failedBuild
      ? 'The package did not build.'
      : /\[setup failed\]/.test(printed)
        ? 'The package could not be set up for testing (an import cycle, a missing dependency).'
        : (firstLine ?? 'The package failed outside its tests (TestMain or an init function).'),
    output: printed,
    location: test.failedBuild ? compilerLocation(printed, context) : undefined,
  });
}

/** The first error the compiler printed (`broken/broken.go:5:1: syntax error...`, relative to where go ran). */
function compilerLocation(printed: string, context: ReportContext): WorkspaceLocation | undefined {
  const match = /^([^\s:]+\.go):(\d+):(\d+): /m.exec(printed);
  return match ? workspaceLocation(match[1], match[2], match[3], context) : locateInTrace(printed, context);
}

/** The first `file.go:N:` line the test logged (bare, as printed), else the innermost frame of a panic in the workspace. */
function goLocation(logLine: RegExpExecArray | null, printed: string, context: ReportContext): WorkspaceLocation | undefined {
  const logged = logLine ? workspaceLocation(logLine[1], logLine[2], undefined, { workdir: context.workdir }) : undefined;
  return logged ?? locateInTrace(printed, context);
}

function printedOutput(output: string): string {
  const kept = output.split('\n').filter((line) => !PROGRESS_LINE.test(line));
  return kept.join('\n').slice(0, REPORT_LIMITS.maxOutputChars * 8);
}
