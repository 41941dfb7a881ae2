import { EXIT } from '../../app/exitStatus';
import { statusText } from '../output';
import { parse, requireOne, type Command } from '../command';

export const statusCommand: Command = {
  name: 'status',
  usage: [['status NAME', 'show one sandbox']],
  help: `Usage: sandbox status NAME
Shows one sandbox as its provider reports it now: state, size, network, ports, SSH and any problem.
NAME is a sandbox's name, id, or a unique prefix of either. --json prints the record.`,
  async run(args, context) {
    const { positionals } = parse(args, {});
    const record = await context.controller.status(requireOne(positionals, 'sandbox', 'sandbox status NAME'));
    if (context.json) context.printJson(record);
    else context.out(statusText(record));
    return EXIT.ok;
  },
};
