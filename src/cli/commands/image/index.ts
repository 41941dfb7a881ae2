import type { CommandGroup } from '../../command';
import { imageBuildCommand } from './build';

export const imageGroup: CommandGroup = {
  name: 'image',
  usage: imageBuildCommand.usage,
  help: 'Usage: sandbox image build [--desktop] [--force]\nThe images sandboxes run: built here, from recipes that need no registry.',
  subcommands: [imageBuildCommand],
};
