import { EXIT } from '../../../app/exitStatus';
import { parseProviderKind } from '../../../app/parse';
import { parse, type Command } from '../../command';
import { describeImage } from './list';

export const imagePruneCommand: Command = {
  name: 'prune',
  usage: [['image prune --provider P', 'remove image snapshots of an older recipe']],
  help: `Usage: sandbox image prune --provider digitalocean
Removes the image snapshots built from an older recipe (their storage is billed); the current one stays.`,
  async run(args, context) {
    const { values } = parse(args, { provider: { type: 'string' } });
    const removed = await context.controller.pruneImages(parseProviderKind(values.provider ?? 'digitalocean', undefined), context.signal);
    if (context.json) context.printJson(removed);
    else if (removed.length === 0) context.out('No image snapshots of an older recipe.');
    else for (const image of removed) context.out(`Removed ${describeImage(image)}`);
    return EXIT.ok;
  },
};
