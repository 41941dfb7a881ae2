import type { Command } from '../command';
import { forEachRef, manyRefs } from './eachSandbox';

export const rmCommand: Command = {
  name: 'rm',
  usage: [['rm NAME...', 'delete sandboxes and everything in them']],
  help: `Usage: sandbox rm NAME...
Deletes each sandbox named: its machine, its files, and everything kept about it here (record,
journal, keys, SSH entries). Each is tried even when one fails; the exit status is that of the
first failure. --json prints what was removed, or the first error with every error and what was done.`,
  run: (args, context) => forEachRef(manyRefs(args, 'rm'), context, (ref) => context.controller.delete(ref, context.signal), 'Removed'),
};
