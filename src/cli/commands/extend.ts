import { parseTimeToLive } from '../../app/cloudOptions';
import { EXIT } from '../../app/exitStatus';
import { formatUsd } from '../../core/cost/billing';
import { extendTimeToLive } from '../../core/cost/extend';
import { iso } from '../../core/cost/fold';
import { CostLedger } from '../../core/cost/ledger';
import { addToRecordedTtl } from '../../core/cost/recordedTtl';
import { readBudgetSettings } from '../../core/cost/settings';
import { SandboxError } from '../../core/errors';
import { parse, type Command } from '../command';
import { reportBudgetAlerts } from './budgetAlerts';

export const extendCommand: Command = {
  name: 'extend',
  usage: [['extend NAME DURATION', "move a cloud sandbox's time-to-live (like 1h)"]],
  help: `Usage: sandbox extend NAME DURATION
Adds DURATION (like 30m, 1h or 1h30m) to a cloud sandbox's time-to-live, counted from now when it
has already passed. Past its time-to-live the daemon destroys an idle sandbox and hibernates a
busy one. Refused, with the figures, when the time added would take the month past its budget.`,
  async run(args, context) {
    const { positionals } = parse(args, {});
    if (positionals.length !== 2) throw new SandboxError('invalid-input', 'Give a sandbox and a duration: sandbox extend NAME 1h.');
    const byMs = parseTimeToLive(positionals[1]!, 'extension');
    const { controller } = context;
    const record = await controller.resolve(positionals[0]!);
    const settings = await readBudgetSettings(controller.store.root);
    const now = Date.now();
    const extension = await extendTimeToLive(new CostLedger(controller.store.root, Date.now), record.name, byMs, settings, now);
    // Kept on the record too, so a restore after hibernation gives the sandbox the time it was given.
    await addToRecordedTtl(controller.store, record.id, byMs);
    const { decision } = extension;
    if (context.json) {
      context.printJson({
        name: record.name,
        id: record.id,
        previousUntil: iso(extension.previousUntilMs),
        until: iso(extension.untilMs),
        addsUsd: decision.addsUsd,
        committedUsd: decision.wouldBeUsd,
        budgetUsd: decision.figures.budgetUsd,
      });
    } else {
      const until = iso(extension.untilMs).slice(0, 16).replace('T', ' ');
      context.out(
        `${record.name} now lives until ${until} UTC; that adds ${formatUsd(decision.addsUsd)}, bringing the month to ${formatUsd(decision.wouldBeUsd)} of its ${formatUsd(decision.figures.budgetUsd)} budget.`,
      );
    }
    await reportBudgetAlerts(context, record.id);
    return EXIT.ok;
  },
};
