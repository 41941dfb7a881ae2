import type { CommandGroup } from '../../command';
import { imageBuildCommand } from './build';
import { imageListCommand } from './list';
import { imagePruneCommand } from './prune';

export const imageGroup: CommandGroup = {
  name: 'image',
  usage: [...imageBuildCommand.usage, ...imageListCommand.usage, ...imagePruneCommand.usage],
  help: `Usage: sandbox image build [--desktop] [--force]
       sandbox image build --provider digitalocean [--os OS] [--region R] [--force]
       sandbox image list --provider digitalocean
       sandbox image prune --provider digitalocean
The images sandboxes run: built here, from recipes that need no registry; on DigitalOcean, kept as snapshots.`,
  subcommands: [imageBuildCommand, imageListCommand, imagePruneCommand],
};
