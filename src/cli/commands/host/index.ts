import type { CommandGroup } from '../../command';
import { hostAddCommand } from './add';
import { hostListCommand } from './list';
import { hostRmCommand } from './rm';

export const hostGroup: CommandGroup = {
  name: 'host',
  usage: [...hostAddCommand.usage, ...hostListCommand.usage, ...hostRmCommand.usage],
  help: 'Usage: sandbox host add|list|rm ...\nYour own Linux machines, reached over SSH with a pinned host key; sandboxes go there with --host NAME.',
  subcommands: [hostAddCommand, hostListCommand, hostRmCommand],
};
