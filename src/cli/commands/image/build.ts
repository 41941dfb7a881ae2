import { EXIT } from '../../../app/exitStatus';
import { parseCloudOs } from '../../../app/cloudOptions';
import { parseProviderKind } from '../../../app/parse';
import { parse, progressReporter, type Command } from '../../command';

export const imageBuildCommand: Command = {
  name: 'build',
  usage: [['image build', 'build the sandbox image (or a cloud image snapshot with --provider)']],
  help: `Usage: sandbox image build [--desktop] [--force]
       sandbox image build --provider digitalocean [--desktop] [--os ubuntu-24-04|ubuntu-22-04] [--region R] [--force]
--desktop builds the desktop image (XFCE, Firefox ESR, xterm, a VNC server) on top of the sandbox image.
--provider digitalocean boots a builder droplet from the sandbox recipe, snapshots it under a name carrying
the recipe's hash, and destroys the builder; cloud sandboxes then start from that snapshot. With --desktop
the snapshot also has the desktop packages (XFCE and xterm: Ubuntu has no Firefox outside snap), for
cloud sandboxes started with --desktop.`,
  async run(args, context) {
    const { values } = parse(args, {
      force: { type: 'boolean' },
      desktop: { type: 'boolean' },
      provider: { type: 'string' },
      os: { type: 'string' },
      region: { type: 'string' },
    });
    const provider = values.provider === undefined ? undefined : parseProviderKind(values.provider, undefined);
    const progress = progressReporter(context);
    let result;
    try {
      result = await context.controller.buildImage({
        force: values.force,
        desktop: values.desktop,
        provider,
        os: values.os === undefined ? undefined : parseCloudOs(values.os),
        region: values.region,
        signal: context.signal,
        onProgress: progress.onProgress,
      });
    } finally {
      progress.done();
    }
    if (context.json) context.printJson(result);
    else context.out(result.built ? `Built ${result.tag} in ${(result.durationMs / 1000).toFixed(1)} s.` : `${result.tag} is up to date.`);
    return EXIT.ok;
  },
};
