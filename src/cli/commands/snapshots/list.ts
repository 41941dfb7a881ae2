import { EXIT } from '../../../app/exitStatus';
import type { SnapshotEntry } from '../../../core/controller';
import { formatSize } from '../../../core/profile';
import { renderTable } from '../../output';
import { noArguments, selfCommand, type Command } from '../../command';

export const snapshotsListCommand: Command = {
  name: 'list',
  aliases: ['ls'],
  usage: [['snapshots [list]', 'list snapshots']],
  help: `Usage: sandbox snapshots [list]
Lists the snapshots of this state dir, oldest first: name, the sandbox it was taken of, when,
its size, and the sandboxes started from it (which keep it in use). --json prints them.`,
  async run(args, context) {
    noArguments(args, 'sandbox snapshots list');
    const snapshots = await context.controller.listSnapshots();
    if (context.json) context.printJson(snapshots);
    else if (snapshots.length === 0) context.out(`No snapshots. Take one with \`${selfCommand()} snapshot NAME\`.`);
    else context.out(snapshotsTable(snapshots));
    return EXIT.ok;
  },
};

function snapshotsTable(snapshots: SnapshotEntry[]): string {
  const rows = [['NAME', 'OF', 'CREATED', 'SIZE', 'USED BY', 'NOTE']];
  for (const snapshot of snapshots) {
    rows.push([
      snapshot.name,
      snapshot.origin.name,
      snapshot.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      snapshot.sizeBytes !== undefined ? formatSize(snapshot.sizeBytes) : '-',
      snapshot.usedBy.length > 0 ? snapshot.usedBy.join(',') : '-',
      snapshot.note ?? '',
    ]);
  }
  return renderTable(rows);
}
