import { EXIT, exitStatusOf } from '../../app/exitStatus';
import { parseNumber } from '../../app/parse';
import type { ForkResult } from '../../core/controller';
import { SandboxError } from '../../core/errors';
import { parse, progressReporter, requireOne, type Command } from '../command';

export const forkCommand: Command = {
  name: 'fork',
  usage: [['fork NAME --count N', 'copy a sandbox into N new running sandboxes']],
  help: `Usage: sandbox fork NAME --count N [--agent ID]
Snapshots the sandbox once (kept as NAME-fork-yyyymmdd-hhmmss, see \`sandbox snapshots\`), then
starts N sandboxes from it, a few at a time, named NAME-xxxxxx. Each has the files of NAME and
its own SSH keys. A sandbox that fails to start is removed and reported; the others stay, and the
exit status is that of the first failure.
  --count N           how many sandboxes (1 to 20)
  --agent ID          the agent the new sandboxes work for (default: that of NAME)
--json prints { snapshot, sandboxes, failures }.`,
  async run(args, context) {
    const { values, positionals } = parse(args, { count: { type: 'string' }, agent: { type: 'string' } });
    const ref = requireOne(positionals, 'sandbox', 'sandbox fork NAME --count N');
    if (values.count === undefined) throw new SandboxError('invalid-input', 'Say how many sandboxes to make: sandbox fork NAME --count N.');
    const progress = progressReporter(context);
    let result: ForkResult;
    try {
      result = await context.controller.fork(ref, {
        count: parseNumber(values.count, 'count'),
        agentId: values.agent,
        signal: context.signal,
        onProgress: progress.onProgress,
      });
    } finally {
      progress.done();
    }
    const first = result.failures[0];
    // Like the other commands: a failure is `error` (the first), beside what got done.
    if (context.json) context.printJson(first ? { error: { code: first.code, message: first.error }, ...result } : result);
    else {
      context.out(`Snapshot ${result.snapshot.name} of ${result.snapshot.origin.name}.`);
      for (const record of result.sandboxes) context.out(`Started ${record.name} (${record.id}).`);
      for (const failure of result.failures) process.stderr.write(`sandbox: ${failure.name}: ${failure.error}\n`);
    }
    if (!first) return EXIT.ok;
    return first.code === 'internal' ? EXIT.failure : exitStatusOf(new SandboxError(first.code, first.error));
  },
};
