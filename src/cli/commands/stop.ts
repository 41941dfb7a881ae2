import { stopDone, stopWarning, stopWay, type StopWay } from '../../app/stopChoice';
import type { SandboxController } from '../../core/controller';
import { SandboxError } from '../../core/errors';
import type { SandboxRecord } from '../../core/model';
import { parse, type Command } from '../command';
import { forEachRef } from './eachSandbox';

export const stopCommand: Command = {
  name: 'stop',
  usage: [['stop NAME...', 'stop sandboxes (files are kept)']],
  help: `Usage: sandbox stop NAME... [--power-off]
Stops each sandbox named; its files stay, and \`sandbox start NAME\` runs it again. Each is tried
even when one fails; the exit status is that of the first failure. --json prints what was stopped,
or the first error with every error and what was done.
A cloud machine is billed even powered off, so a cloud sandbox is hibernated instead: a snapshot
is kept and the machine destroyed, and only the snapshot's storage costs until \`sandbox start NAME\`
restores it.
  --power-off   keep a cloud sandbox's machine, powered off (still billed by the hour)`,
  async run(args, context) {
    const { values, positionals } = parse(args, { 'power-off': { type: 'boolean' } });
    if (positionals.length === 0) throw new SandboxError('invalid-input', 'Name at least one sandbox: sandbox stop NAME...');
    const ways = new Map<string, StopWay>();
    const stopOne = async (ref: string): Promise<SandboxRecord> => {
      const { controller, signal } = context;
      const record = await controller.resolve(ref);
      const way = stopWay(stopKeepsBilling(controller, record), values['power-off'] === true);
      ways.set(record.id, way);
      const warning = stopWarning(way, record.name);
      if (warning) process.stderr.write(`sandbox: ${warning}\n`);
      return way === 'hibernate' ? controller.hibernate(record.id, signal) : controller.stop(record.id, signal);
    };
    return forEachRef(positionals, context, stopOne, (record) => stopDone(ways.get(record.id) ?? 'stop', record));
  },
};

/** Whether stopping the sandbox's machine leaves it billed (a powered-off droplet); false for a provider not set up here. */
function stopKeepsBilling(controller: SandboxController, record: SandboxRecord): boolean {
  try {
    return controller.provider(record.provider).stopKeepsBilling === true;
  } catch {
    return false;
  }
}
