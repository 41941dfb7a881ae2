import type { CommandGroup } from '../../command';
import { syncPullCommand } from './pull';
import { syncPushCommand } from './push';

export const syncGroup: CommandGroup = {
  name: 'sync',
  usage: [...syncPushCommand.usage, ...syncPullCommand.usage],
  help: 'Usage: sandbox sync push|pull NAME ...\nCopies files between a folder here and the sandbox.',
  subcommands: [syncPushCommand, syncPullCommand],
};
