import type { CommandGroup } from '../../command';
import { snapshotsListCommand } from './list';
import { snapshotsPruneCommand } from './prune';
import { snapshotsRmCommand } from './rm';

export const snapshotsGroup: CommandGroup = {
  name: 'snapshots',
  usage: [...snapshotsListCommand.usage, ...snapshotsRmCommand.usage, ...snapshotsPruneCommand.usage],
  help: 'Usage: sandbox snapshots [list|rm|prune] ...\nSnapshots taken with `sandbox snapshot` or `sandbox fork`; new sandboxes start from them with `sandbox start --from S`.',
  subcommands: [snapshotsListCommand, snapshotsRmCommand, snapshotsPruneCommand],
  defaultSubcommand: snapshotsListCommand,
};
