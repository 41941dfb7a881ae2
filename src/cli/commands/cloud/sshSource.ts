import { EXIT } from '../../../app/exitStatus';
import { describeSshSources, parseSshSources, setSshSources } from '../../../core/providers/digitalocean/sshSources';
import type { Command } from '../../command';

export const cloudSshSourceCommand: Command = {
  name: 'ssh-source',
  usage: [],
  help: `Usage: sandbox cloud ssh-source CIDR...|anywhere
Where SSH to cloud sandboxes may come from: the inbound rule of every cloud firewall of this
state dir's sandboxes (port 22 only; nothing else is ever open). Give address blocks such as
203.0.113.0/24 (an address alone is its own block), or "anywhere" for every source, the default.
Kept in the state dir (cloud/ssh-sources.json, readable by you only), so the daemon, VS Code
(sandboxes.cloud.sshSourceCidr) and the CLI agree. Signed in, every firewall whose rule differs
is updated at once and named; signed out, they follow at the next create or sign-in.`,
  async run(args, context) {
    const sources = parseSshSources(args);
    const result = await setSshSources(context.controller.store.root, sources, { signal: context.signal });
    if (context.json) {
      context.printJson(result);
      return EXIT.ok;
    }
    context.out(describeSshSources(result));
    return EXIT.ok;
  },
};
