import { EXIT } from '../../../app/exitStatus';
import { parseNumber } from '../../../app/parse';
import { SandboxError } from '../../../core/errors';
import { TaskClient } from '../../../core/tasks/client';
import { parse, type Command } from '../../command';

export const snapshotsPruneCommand: Command = {
  name: 'prune',
  usage: [['snapshots prune [--keep N] [--max-age-days D]', 'remove old snapshots']],
  help: `Usage: sandbox snapshots prune [--keep N] [--max-age-days D]
Removes old snapshots. Give one or both:
  --keep N            the newest N snapshots stay, whatever their age
  --max-age-days D    of the others, only those older than D days go
Snapshots that sandboxes were started from, and the starting points of tasks still running,
stay (they are listed as in use).
--json prints { removed, inUse }.`,
  async run(args, context) {
    const { values, positionals } = parse(args, { keep: { type: 'string' }, 'max-age-days': { type: 'string' } });
    if (positionals.length > 0)
      throw new SandboxError('invalid-input', `Unexpected argument ${positionals[0]}: sandbox snapshots prune [--keep N] [--max-age-days D].`);
    const holders = new TaskClient(context.controller.store.root).snapshotHolders();
    const result = await context.controller.pruneSnapshots({
      keep: values.keep !== undefined ? parseNumber(values.keep, 'count of snapshots to keep') : undefined,
      maxAgeDays: values['max-age-days'] !== undefined ? parseNumber(values['max-age-days'], 'age in days') : undefined,
      heldBy: (name) => holders.get(name),
      signal: context.signal,
    });
    if (context.json) context.printJson(result);
    else {
      const lines = [
        ...result.removed.map((snapshot) => `Removed the snapshot ${snapshot.name}.`),
        ...result.inUse.map((snapshot) => `Kept ${snapshot.name}: ${snapshot.usedBy.join(', ')} ${snapshot.usedBy.length === 1 ? 'runs' : 'run'} it.`),
      ];
      context.out(lines.length > 0 ? lines.join('\n') : 'No snapshot to prune.');
    }
    return EXIT.ok;
  },
};
