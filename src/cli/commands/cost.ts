import { formatCostReport, readCostReport } from '../../app/costReport';
import { EXIT } from '../../app/exitStatus';
import { formatUsd } from '../../core/cost/billing';
import { monthByKey, monthOf } from '../../core/cost/month';
import { readBudgetSettings, writeMonthlyBudget } from '../../core/cost/settings';
import { SandboxError } from '../../core/errors';
import { parse, type Command } from '../command';

export const costCommand: Command = {
  name: 'cost',
  usage: [['cost [--month YYYY-MM]', 'what cloud sandboxes cost this month, and the budget left']],
  help: `Usage: sandbox cost [--month YYYY-MM] [--json] [--set-budget USD]
The month's cost of cloud sandboxes from the cost ledger, by sandbox, agent and task: spent so
far, projected (what runs until its time-to-live, and what is stored), committed (the two
together, which a create or an extension may not take past the budget) and the budget left.
When signed in (\`sandbox cloud login\`), the account's own month-to-date usage is shown beside
it, and a gap between the two is named.
  --month YYYY-MM     another month (UTC) than this one
  --set-budget USD    set the monthly budget (default $50), shared by the CLI, VS Code and the daemon
--json prints a stable shape (version 1).`,
  async run(args, context) {
    const { values, positionals } = parse(args, { month: { type: 'string' }, 'set-budget': { type: 'string' } });
    if (positionals.length > 0) throw new SandboxError('invalid-input', `Unexpected argument ${positionals[0]}: sandbox cost [--month YYYY-MM].`);
    const root = context.controller.store.root;
    if (values['set-budget'] !== undefined) {
      await writeMonthlyBudget(root, Number(values['set-budget'].replace(/^\$/, '')));
      if (!context.json) context.out(`The monthly budget of cloud sandboxes is now ${formatUsd((await readBudgetSettings(root)).monthlyUsd)}.`);
    }
    const now = Date.now();
    const thisMonth = monthOf(now);
    const month = values.month === undefined ? thisMonth : monthByKey(values.month);
    if (!month) throw new SandboxError('invalid-input', `"${values.month}" is not a month; write it like ${thisMonth.key}.`);
    if (month.key > thisMonth.key) throw new SandboxError('invalid-input', `${month.key} has not begun; give this month or an earlier one.`);
    const report = await readCostReport({ stateRoot: root, month, signal: context.signal });
    if (context.json) context.printJson(report);
    else context.out(formatCostReport(report));
    return EXIT.ok;
  },
};
