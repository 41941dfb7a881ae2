import { EXIT } from '../../app/exitStatus';
import { SandboxError } from '../../core/errors';
import { parseNumber } from '../../app/parse';
import { evaluate, readGateHistory, type EvalRow } from '../../core/evaluator/evaluate';
import { TaskClient } from '../../core/tasks/client';
import { parse, type Command } from '../command';

export const evalCommand: Command = {
  name: 'eval',
  usage: [['eval [--window N]', 'success rate, gate pass rates, time and size, per agent and kind']],
  help: `Usage: sandbox eval [--window N] [--json]
The evaluator: for all tasks, per agent and per kind of task (profile and program), the success
rate, each gate's pass rate, mean time, sandbox time used, lint findings and change size, and the
trend: the success rate of the last N finished tasks against the N before (default 20).`,
  async run(args, context) {
    const { values, positionals } = parse(args, { window: { type: 'string' } });
    if (positionals.length > 0) throw new SandboxError('invalid-input', `Unexpected argument ${positionals[0]}: sandbox eval [--window N].`);
    const window = values.window === undefined ? 20 : parseNumber(values.window, 'window');
    const stateRoot = context.controller.store.root;
    const evaluation = evaluate(new TaskClient(stateRoot).list(), await readGateHistory(stateRoot), window);
    if (context.json) {
      context.printJson(evaluation);
      return EXIT.ok;
    }
    const header = ['', 'tasks', 'success', 'L0', 'L1', 'L2', 'mean time', 'sandbox time', 'lint', 'diff lines'];
    const rows = [evaluation.overall, ...evaluation.byAgent.map(prefixed('agent ')), ...evaluation.byKind.map(prefixed('kind '))].map(cells);
    const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
    for (const row of [header, ...rows])
      context.out(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  '));
    const { trend } = evaluation;
    context.out(
      `Trend: ${percent(trend.recent)} of the last ${trend.window} finished tasks succeeded, against ${percent(trend.before)} of the ${trend.window} before.`,
    );
    return EXIT.ok;
  },
};

const prefixed = (prefix: string) => (row: EvalRow) => ({ ...row, key: `${prefix}${row.key}` });

function cells(row: EvalRow): string[] {
  return [
    row.key,
    String(row.tasks),
    percent(row.successRate),
    percent(row.gates.L0.rate),
    percent(row.gates.L1.rate),
    percent(row.gates.L2.rate),
    row.meanSeconds === null ? '-' : `${row.meanSeconds.toFixed(1)} s`,
    `${row.computeSeconds} s`,
    row.meanLintFindings === null ? '-' : row.meanLintFindings.toFixed(1),
    row.meanDiffLines === null ? '-' : row.meanDiffLines.toFixed(0),
  ];
}

function percent(rate: number | null): string {
  return rate === null ? '-' : `${Math.round(rate * 100)}%`;
}
