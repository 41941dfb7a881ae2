import { EXIT } from '../../../app/exitStatus';
import { parseProviderKind } from '../../../app/parse';
import type { ProviderImage } from '../../../core/providers/registry';
import { parse, type Command } from '../../command';

export function describeImage(image: ProviderImage): string {
  const regions = image.regions?.length ? `  ${image.regions.join(',')}` : '';
  return `${image.name}  ${image.id}  ${image.sizeGb} GB  ${image.createdAt}${regions}${image.current ? '' : '  (older recipe)'}`;
}

export const imageListCommand: Command = {
  name: 'list',
  usage: [['image list --provider P', "list the provider's image snapshots"]],
  help: `Usage: sandbox image list --provider digitalocean
The image snapshots made by \`sandbox image build --provider\`: name, id, size, created, regions.`,
  async run(args, context) {
    const { values } = parse(args, { provider: { type: 'string' } });
    const images = await context.controller.listImages(parseProviderKind(values.provider ?? 'digitalocean', undefined), context.signal);
    if (context.json) context.printJson(images);
    else if (images.length === 0) context.out('No image snapshots.');
    else for (const image of images) context.out(describeImage(image));
    return EXIT.ok;
  },
};
