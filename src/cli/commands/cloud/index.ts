import type { CommandGroup } from '../../command';
import { cloudLoginCommand } from './login';
import { cloudLogoutCommand } from './logout';
import { cloudSshSourceCommand } from './sshSource';
import { cloudStatusCommand } from './status';

export const cloudGroup: CommandGroup = {
  name: 'cloud',
  usage: cloudLoginCommand.usage,
  help: `Usage: sandbox cloud login|logout|status|ssh-source
The DigitalOcean account cloud sandboxes (\`sandbox start --provider digitalocean\`) are made in,
and where SSH to them may come from.`,
  subcommands: [cloudLoginCommand, cloudLogoutCommand, cloudStatusCommand, cloudSshSourceCommand],
  defaultSubcommand: cloudStatusCommand,
};
