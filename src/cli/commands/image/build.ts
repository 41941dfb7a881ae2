import { EXIT } from '../../../app/exitStatus';
import { parse, progressReporter, type Command } from '../../command';

export const imageBuildCommand: Command = {
  name: 'build',
  usage: [['image build', 'build the sandbox image']],
  help: `Usage: sandbox image build [--desktop] [--force]
--desktop builds the desktop image (XFCE, Firefox ESR, xterm, a VNC server) on top of the sandbox image.`,
  async run(args, context) {
    const { values } = parse(args, { force: { type: 'boolean' }, desktop: { type: 'boolean' } });
    const progress = progressReporter(context);
    let result;
    try {
      result = await context.controller.buildImage({ force: values.force, desktop: values.desktop, signal: context.signal, onProgress: progress.onProgress });
    } finally {
      progress.done();
    }
    if (context.json) context.printJson(result);
    else context.out(result.built ? `Built ${result.tag} in ${(result.durationMs / 1000).toFixed(1)} s.` : `${result.tag} is up to date.`);
    return EXIT.ok;
  },
};
