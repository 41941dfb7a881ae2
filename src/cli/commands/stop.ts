import type { Command } from '../command';
import { forEachRef, manyRefs } from './eachSandbox';

export const stopCommand: Command = {
  name: 'stop',
  usage: [['stop NAME...', 'stop sandboxes (files are kept)']],
  help: `Usage: sandbox stop NAME...
Stops each sandbox named; its files stay, and \`sandbox start NAME\` runs it again. Each is tried
even when one fails; the exit status is that of the first failure. --json prints what was stopped,
or the first error with every error and what was done.`,
  run: (args, context) => forEachRef(manyRefs(args, 'stop'), context, (ref) => context.controller.stop(ref, context.signal), 'Stopped'),
};
