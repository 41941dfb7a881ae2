import { EXIT } from '../../app/exitStatus';
import { noArguments, type Command } from '../command';

export const pruneCommand: Command = {
  name: 'prune',
  usage: [['prune', 'remove sandboxes left broken by an interrupted start']],
  help: `Usage: sandbox prune
Removes sandboxes whose create was interrupted and records whose machine is gone (state lost),
with whatever of them is left. Running and stopped sandboxes are not touched.`,
  async run(args, context) {
    noArguments(args, 'sandbox prune');
    const removed = await context.controller.prune(context.signal);
    if (context.json) context.printJson(removed);
    else context.out(removed.length === 0 ? 'Nothing to prune.' : removed.map((r) => `Removed ${r.name} (${r.id}): ${r.problem ?? r.state}`).join('\n'));
    return EXIT.ok;
  },
};
