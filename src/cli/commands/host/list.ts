import { EXIT } from '../../../app/exitStatus';
import { renderTable } from '../../output';
import { noArguments, selfCommand, type Command } from '../../command';

export const hostListCommand: Command = {
  name: 'list',
  aliases: ['ls'],
  usage: [['host list', 'the machines added; sandboxes go there with --host NAME']],
  help: `Usage: sandbox host list
The SSH hosts added with \`sandbox host add\`: address, login, whether sandboxes there are
containers or folders, how many live there, and the pinned host key.`,
  async run(args, context) {
    const provider = context.controller.sshHosts;
    noArguments(args, 'sandbox host list');
    const hosts = await provider.hosts.list();
    const records = await context.controller.store.listRecords();
    const count = (name: string) => records.filter((record) => record.placement?.host === name).length;
    if (context.json) context.printJson(hosts.map((entry) => ({ ...entry, sandboxes: count(entry.name) })));
    else if (hosts.length === 0) context.out(`No SSH hosts. Add one with \`${selfCommand()} host add NAME --host ADDRESS --user USER --identity FILE\`.`);
    else {
      const rows = [['NAME', 'ADDRESS', 'LOGIN', 'SANDBOXES AS', 'SANDBOXES', 'HOST KEY']];
      for (const entry of hosts) {
        rows.push([
          entry.name,
          `${entry.host}:${entry.port}`,
          `${entry.user} (${entry.identityFile ?? 'ssh-agent'})`,
          entry.docker ? 'containers' : 'folders',
          String(count(entry.name)),
          entry.fingerprint,
        ]);
      }
      context.out(renderTable(rows));
    }
    return EXIT.ok;
  },
};
