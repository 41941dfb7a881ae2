import { EXIT } from '../../app/exitStatus';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { SandboxError } from '../../core/errors';
import { screenshot } from '../../core/desktop';
import { isDirectory, parse, type Command } from '../command';

export const screenshotCommand: Command = {
  name: 'screenshot',
  usage: [['screenshot NAME FILE', "save a PNG of a desktop sandbox's screen"]],
  help: `Usage: sandbox screenshot NAME FILE.png
Saves what the desktop of a desktop sandbox (sandbox start --desktop) shows now.`,
  async run(args, context) {
    const { positionals } = parse(args, {});
    if (positionals.length !== 2) throw new SandboxError('invalid-input', 'Usage: sandbox screenshot NAME FILE.png.');
    const file = path.resolve(positionals[1]!);
    if (!isDirectory(path.dirname(file)))
      throw new SandboxError('invalid-input', `The folder ${path.dirname(file)} does not exist; create it or save the screenshot elsewhere.`);
    const shot = await screenshot(context.controller, positionals[0]!, context.signal);
    await writeFile(file, shot.png);
    if (context.json) context.printJson({ file, width: shot.width, height: shot.height, bytes: shot.png.length });
    else context.out(`Saved ${shot.width}x${shot.height} to ${file}.`);
    return EXIT.ok;
  },
};
