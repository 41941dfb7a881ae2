import { EXIT } from '../../app/exitStatus';
import { doctorContext, runDoctor, type CheckResult, type DoctorReport } from '../../core/doctor';
import { noArguments, selfCommand, type Command } from '../command';

const MARKS: Record<CheckResult['status'], string> = { pass: 'ok  ', warn: 'warn', fail: 'FAIL' };

/** The report as people read it: one line per check, its fix below it, a verdict at the end. */
export function doctorText(report: DoctorReport, cli: string): string {
  const lines: string[] = [];
  const width = Math.max(...report.checks.map((check) => check.title.length));
  for (const check of report.checks) {
    lines.push(`${MARKS[check.status]}  ${check.title.padEnd(width)}  ${check.detail}`);
    if (check.fix) lines.push(`${' '.repeat(6 + width + 2)}fix: ${check.fix}`);
  }
  const failed = report.checks.filter((check) => check.status === 'fail').length;
  const warned = report.checks.filter((check) => check.status === 'warn').length;
  const warnings = warned ? ` (${warned} ${warned === 1 ? 'warning' : 'warnings'}: only some uses need ${warned === 1 ? 'it' : 'them'})` : '';
  lines.push('');
  lines.push(
    failed === 0
      ? `All ${report.checks.length} checks pass${warnings}.`
      : `${failed} of ${report.checks.length} checks fail; do what their fix says, then run \`${cli} doctor\` again.`,
  );
  return lines.join('\n');
}

export const doctorCommand: Command = {
  name: 'doctor',
  usage: [['doctor', 'checks this machine for sandboxes, with the fix for each problem']],
  help: `Usage: sandbox doctor
Checks everything sandboxes need here and says how to fix what is wrong: Node.js, the OpenSSH
client, the Docker engine and its version, that it enforces memory, CPU and process limits, the
sandbox and desktop images (built from this version's recipe?), the state dir's modes, the SSH
Include, a Remote-SSH extension, and that each added SSH host answers with its pinned key.
Exit 0 when every check passes or only warns (the desktop image, the SSH Include and Remote-SSH
are needed for some uses only), 1 when one fails. --json prints {"ok", "checks": [{"id",
"title", "status", "ok", "detail", "fix"}]}.`,
  async run(args, context) {
    noArguments(args, 'sandbox doctor');
    const cli = selfCommand();
    const report = await runDoctor(doctorContext(context.controller, { runtime: 'cli', cli, signal: context.signal }));
    if (context.json) context.printJson(report);
    else context.out(doctorText(report, cli));
    return report.ok ? EXIT.ok : EXIT.failure;
  },
};
