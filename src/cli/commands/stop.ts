import type { SandboxController } from '../../core/controller';
import type { SandboxRecord } from '../../core/model';
import { parse, type Command } from '../command';
import { forEachRef } from './eachSandbox';
import { SandboxError } from '../../core/errors';

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
    const how = new Map<string, 'hibernated' | 'powered-off' | 'stopped'>();
    const stopOne = async (ref: string): Promise<SandboxRecord> => {
      const { controller, signal } = context;
      const record = await controller.resolve(ref);
      if (!stopKeepsBilling(controller, record)) {
        how.set(record.id, 'stopped');
        return controller.stop(record.id, signal);
      }
      if (values['power-off']) {
        process.stderr.write(
          `sandbox: ${record.name} is powered off but its machine is still billed by the hour; \`sandbox stop ${record.name}\` without --power-off hibernates it instead.\n`,
        );
        how.set(record.id, 'powered-off');
        return controller.stop(record.id, signal);
      }
      how.set(record.id, 'hibernated');
      return controller.hibernate(record.id, signal);
    };
    return forEachRef(positionals, context, stopOne, (record) => {
      switch (how.get(record.id)) {
        case 'hibernated':
          return `Hibernated ${record.name} (${record.id}): snapshot kept, droplet destroyed, costs only the snapshot's storage; \`sandbox start ${record.name}\` restores it.`;
        case 'powered-off':
          return `Powered off ${record.name} (${record.id}); its droplet is still billed by the hour.`;
        default:
          return `Stopped ${record.name} (${record.id}).`;
      }
    });
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
