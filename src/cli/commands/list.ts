import { EXIT } from '../../app/exitStatus';
import { missingDaemonWarning } from '../../core/cloud/daemon';
import { daemonStatus } from '../../core/tasks/daemonLock';
import { listTable } from '../output';
import { noArguments, type Command } from '../command';

export const listCommand: Command = {
  name: 'list',
  aliases: ['ls'],
  usage: [['list', 'list sandboxes']],
  help: `Usage: sandbox list
Lists every sandbox of this state dir, brought in line with what the engine and the SSH hosts report:
its id, name, state, agent, size, uptime and SSH alias. --json prints the records.`,
  async run(args, context) {
    noArguments(args, 'sandbox list');
    const records = await context.controller.list();
    if (context.json) context.printJson(records);
    else context.out(records.length === 0 ? 'No sandboxes. Start one with `sandbox start`.' : listTable(records));
    const warning = missingDaemonWarning(records, daemonStatus(context.controller.store.root));
    if (warning) process.stderr.write(`sandbox: ${warning}\n`);
    return EXIT.ok;
  },
};
