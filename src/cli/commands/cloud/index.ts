import type { CommandGroup } from '../../command';
import { cloudLoginCommand } from './login';
import { cloudLogoutCommand } from './logout';
import { cloudStatusCommand } from './status';

export const cloudGroup: CommandGroup = {
  name: 'cloud',
  usage: cloudLoginCommand.usage,
  help: `Usage: sandbox cloud login|logout|status
The DigitalOcean account cloud sandboxes (\`sandbox start --provider digitalocean\`) are made in.`,
  subcommands: [cloudLoginCommand, cloudLogoutCommand, cloudStatusCommand],
  defaultSubcommand: cloudStatusCommand,
};
