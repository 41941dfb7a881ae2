import type { CheckResult, DoctorReport } from '../core/doctor/types';

const MARKS: Record<CheckResult['status'], string> = { pass: 'ok  ', warn: 'warn', fail: 'FAIL' };

/** The doctor's report as people read it (the CLI and VS Code's output channel): one line per check, its fix below it, a verdict at the end. */
export function doctorText(report: DoctorReport, cli: string): string {
  const lines: string[] = [];
  const width = Math.max(...report.checks.map((check) => check.title.length));
  for (const check of report.checks) {
    lines.push(`${MARKS[check.status]}  ${check.title.padEnd(width)}  ${check.detail}`);
    if (check.fix) lines.push(`${' '.repeat(6 + width + 2)}fix: ${check.fix}`);
  }
  lines.push('', doctorVerdict(report, cli));
  return lines.join('\n');
}

/** One sentence: all pass (and how many only warn), or how many fail. */
export function doctorVerdict(report: DoctorReport, cli: string): string {
  const failed = report.checks.filter((check) => check.status === 'fail').length;
  const warned = report.checks.filter((check) => check.status === 'warn').length;
  const warnings = warned ? ` (${warned} ${warned === 1 ? 'warning' : 'warnings'}: only some uses need ${warned === 1 ? 'it' : 'them'})` : '';
  return failed === 0
    ? `All ${report.checks.length} checks pass${warnings}.`
    : `${failed} of ${report.checks.length} checks fail; do what their fix says, then run \`${cli} doctor\` again.`;
}
