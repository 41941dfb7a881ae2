import { EXIT } from '../../../app/exitStatus';
import { removeHost } from '../../../core/hosts/commands';
import { parse, requireOne, type Command } from '../../command';

export const hostRmCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: [['host rm NAME', 'forget an SSH host and its pinned key']],
  help: `Usage: sandbox host rm NAME [--force]
Forgets the host and its pinned key. Refuses while sandboxes live on the host; --force removes them too.`,
  async run(args, context) {
    const { values, positionals } = parse(args, { force: { type: 'boolean' } });
    const name = requireOne(positionals, 'host', 'sandbox host rm NAME [--force]');
    const { host: removed, removed: sandboxes } = await removeHost(context.controller, name, { force: values.force, signal: context.signal });
    if (context.json) context.printJson({ host: removed, removedSandboxes: sandboxes });
    else {
      for (const record of sandboxes) context.out(`Removed ${record.name} (${record.id}).`);
      context.out(`Removed host ${removed.name}; its pinned key is forgotten.`);
    }
    return EXIT.ok;
  },
};
