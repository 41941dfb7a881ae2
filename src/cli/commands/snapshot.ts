import { EXIT } from '../../app/exitStatus';
import { formatSize } from '../../core/profile';
import { parse, requireOne, selfCommand, type Command } from '../command';

export const snapshotCommand: Command = {
  name: 'snapshot',
  usage: [['snapshot NAME [--name S]', 'keep a copy of a sandbox that new sandboxes can start from']],
  help: `Usage: sandbox snapshot NAME [--name S] [--note TEXT]
Keeps a copy of the sandbox's files (its whole filesystem) and profile as a snapshot; the
sandbox is paused for the moment of the copy, then goes on. Start sandboxes from it with
\`sandbox start --from S\`; each gets its own SSH keys. See docs/snapshots.md.
  --name S            the snapshot's name (default: NAME-yyyymmdd-hhmmss, in UTC)
  --note TEXT         a note kept with the snapshot
--json prints the snapshot.`,
  async run(args, context) {
    const { values, positionals } = parse(args, { name: { type: 'string' }, note: { type: 'string' } });
    const ref = requireOne(positionals, 'sandbox', 'sandbox snapshot NAME [--name S]');
    const snapshot = await context.controller.snapshot(ref, { name: values.name, note: values.note, signal: context.signal });
    if (context.json) context.printJson(snapshot);
    else {
      const size = snapshot.sizeBytes !== undefined ? ` (${formatSize(snapshot.sizeBytes)})` : '';
      context.out(`Snapshot ${snapshot.name} of ${snapshot.origin.name}${size}.`);
      context.out(`Start a sandbox from it:  ${selfCommand()} start --from ${snapshot.name}`);
    }
    return EXIT.ok;
  },
};
