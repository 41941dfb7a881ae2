import { EXIT, exitStatusOf } from '../../../app/exitStatus';
import type { SnapshotEntry } from '../../../core/controller';
import { SandboxError, describeError, isSandboxError } from '../../../core/errors';
import { parse, type Command } from '../../command';

export const snapshotsRmCommand: Command = {
  name: 'rm',
  usage: [['snapshots rm S...', 'remove snapshots']],
  help: `Usage: sandbox snapshots rm S...
Removes each snapshot named. A snapshot that sandboxes were started from stays until they are
removed. Each is tried even when one fails; the exit status is that of the first failure.
--json prints what was removed, or the first error with every error and what was done.`,
  async run(args, context) {
    const { positionals } = parse(args, {});
    if (positionals.length === 0) throw new SandboxError('invalid-input', 'Name at least one snapshot: sandbox snapshots rm S...');
    const done: SnapshotEntry[] = [];
    const errors: { ref: string; code: string; message: string }[] = [];
    let failure: unknown;
    for (const name of positionals) {
      try {
        const removed = await context.controller.removeSnapshot(name);
        done.push(removed);
        if (!context.json) context.out(`Removed the snapshot ${removed.name}.`);
      } catch (error) {
        failure ??= error;
        errors.push({ ref: name, code: isSandboxError(error) ? error.code : 'internal', message: describeError(error) });
        if (!context.json) process.stderr.write(`sandbox: ${describeError(error)}\n`);
      }
    }
    if (context.json) context.printJson(errors.length > 0 ? { error: errors[0], errors, done } : done);
    return failure ? exitStatusOf(failure) : EXIT.ok;
  },
};
