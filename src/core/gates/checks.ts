import * as path from 'node:path';
import { describeError } from '../errors';
import type { ExecRequest, ExecResult } from '../model';
import { lastLines } from './lessons';
import { parseLintOutput } from './reports/findings';
import { parseReport } from './reports/reports';
import type { LintFinding, ReportFormat, TestCaseResult, TestReport } from './types';

/** One command of the gates file: a test suite (L0) or a linter. */
export interface CheckSpec {
  name: string;
  command: string | string[];
  /** Relative to the workspace. */
  cwd?: string;
  timeoutSeconds?: number;
  /** Where the command writes its report (`-`: its stdout is the report). Lint checks have none. */
  report?: { format: ReportFormat; path: string };
}

export interface CheckOutcome {
  name: string;
  kind: 'test' | 'lint';
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** Why the check could not be judged by its report (not started, report never written or unreadable). */
  problem?: string;
  report?: TestReport;
  findings?: LintFinding[];
  /** The last lines the command printed, for a lesson and the diagnostics' details. */
  lastOutput: string[];
}

/** Everything one run of the checks found, in one sandbox. */
export interface ChecksRun {
  checks: CheckOutcome[];
  tests: TestCaseResult[];
  findings: LintFinding[];
  durationMs: number;
}

type SandboxRun = (request: ExecRequest) => Promise<ExecResult>;

/** A report bigger than this is refused (the parsers cap it too). */
const MAX_REPORT_BYTES = 20 * 1024 * 1024;
const DEFAULT_TIMEOUT_SECONDS = 600;

/**
 * Reads a report file as the sandbox's user: a regular file only, never through a link at its
 * last component, at most MAX_REPORT_BYTES. Exit 3: missing; 4: not a regular file; 5: too big.
 */
const READ_REPORT_PY = `
import os, sys
path, cap = sys.argv[1], int(sys.argv[2])
try:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
except FileNotFoundError:
    sys.exit(3)
except OSError:
    sys.exit(4)
import stat
info = os.fstat(fd)
if not stat.S_ISREG(info.st_mode):
    sys.exit(4)
if info.st_size > cap:
    sys.exit(5)
out = sys.stdout.buffer
left = cap
while left > 0:
    chunk = os.read(fd, min(1 << 20, left))
    if not chunk:
        break
    out.write(chunk)
    left -= len(chunk)
`;

/** Runs every check in the sandbox, one after another, and reads what each reported. */
export async function runChecks(run: SandboxRun, workdir: string, specs: { tests: CheckSpec[]; lint: CheckSpec[] }, signal?: AbortSignal): Promise<ChecksRun> {
  const started = Date.now();
  const checks: CheckOutcome[] = [];
  for (const spec of specs.tests) checks.push(await runCheck(run, workdir, spec, 'test', signal));
  for (const spec of specs.lint) checks.push(await runCheck(run, workdir, spec, 'lint', signal));
  return {
    checks,
    tests: checks.flatMap((check) => check.report?.tests ?? []),
    findings: checks.flatMap((check) => check.findings ?? []),
    durationMs: Date.now() - started,
  };
}

async function runCheck(run: SandboxRun, workdir: string, spec: CheckSpec, kind: 'test' | 'lint', signal?: AbortSignal): Promise<CheckOutcome> {
  const cwd = path.posix.join(workdir, spec.cwd ?? '.');
  const reportPath = spec.report && spec.report.path !== '-' ? path.posix.join(cwd, spec.report.path) : undefined;
  const base = { name: spec.name, kind, lastOutput: [] as string[] };
  try {
    // A report left by the task (or forged by it) is not this run's: it goes first.
    if (reportPath) await run({ command: ['rm', '-f', '--', reportPath], cwd: '/', timeoutMs: 30_000, signal });
    const fromStdout = spec.report?.path === '-';
    const result = await run({
      command: spec.command,
      cwd,
      timeoutMs: (spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
      maxOutputBytes: fromStdout ? MAX_REPORT_BYTES : 256 * 1024,
      signal,
    });
    const outcome: CheckOutcome = {
      ...base,
      exitCode: result.exitCode,
      timedOut: result.timedOut,
      durationMs: result.durationMs,
      lastOutput: lastLines(`${result.stdout}${result.stdout.endsWith('\n') || !result.stdout ? '' : '\n'}${result.stderr}`),
    };
    if (result.exitCode === 127 && !spec.report) outcome.problem = `The command of ${spec.name} was not found in the sandbox (exit 127).`;
    if (kind === 'lint') {
      outcome.findings = parseLintOutput(spec.name, `${result.stdout}\n${result.stderr}`, { workdir, ...(spec.cwd ? { cwd: spec.cwd } : {}) });
      return outcome;
    }
    if (!spec.report) return outcome;
    const text = fromStdout ? result.stdout : await readReport(run, reportPath!, spec, signal);
    if (typeof text !== 'string') {
      outcome.problem = result.exitCode === 127 ? `The command of ${spec.name} was not found in the sandbox (exit 127), so it wrote no report.` : text.problem;
      return outcome;
    }
    outcome.report = parseReport(spec.report.format, text, { workdir, ...(spec.cwd ? { cwd: spec.cwd } : {}) });
    return outcome;
  } catch (error) {
    return { ...base, exitCode: null, timedOut: false, durationMs: 0, problem: `${spec.name} could not run: ${describeError(error)}` };
  }
}

async function readReport(run: SandboxRun, reportPath: string, spec: CheckSpec, signal?: AbortSignal): Promise<string | { problem: string }> {
  const result = await run({
    command: ['python3', '-c', READ_REPORT_PY, reportPath, String(MAX_REPORT_BYTES)],
    cwd: '/',
    timeoutMs: 60_000,
    maxOutputBytes: MAX_REPORT_BYTES + 1,
    signal,
  });
  const shown = spec.report!.path;
  switch (result.exitCode) {
    case 0:
      return result.stdout;
    case 3:
      return { problem: `${spec.name} wrote no report at ${shown}; check the command and the report path in .sandboxes/gates.json.` };
    case 4:
      return { problem: `${spec.name}'s report at ${shown} is not a regular file, so it is not read.` };
    case 5:
      return { problem: `${spec.name}'s report at ${shown} is over ${MAX_REPORT_BYTES / 1024 / 1024} MB, so it is not read.` };
    default:
      return { problem: `${spec.name}'s report at ${shown} could not be read (exit ${result.exitCode}): ${result.stderr.trim().slice(0, 200)}` };
  }
}
