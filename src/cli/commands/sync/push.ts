import { EXIT } from '../../../app/exitStatus';
import { SandboxError } from '../../../core/errors';
import { ProgressLine } from '../../output';
import { describePush } from '../../pushSummary';
import { parse, type Command } from '../../command';

export const syncPushCommand: Command = {
  name: 'push',
  usage: [['sync push NAME [PATH]', 'copy a local folder in (only what changed)']],
  help: `Usage: sandbox sync push NAME [PATH] [--to DIR] [--delete] [--exclude PATTERN]... [--full]
Sends what changed here or in the sandbox since the last push; --delete removes files gone locally.
  --to DIR            where PATH goes inside (default: the sandbox's workspace)
  --delete            remove files in the sandbox that are gone here
  --exclude PATTERN   skip files matching PATTERN (gitignore syntax; repeatable)
  --full              send every file, not only what changed`,
  async run(args, context) {
    const { values, positionals } = parse(args, {
      to: { type: 'string' },
      delete: { type: 'boolean' },
      exclude: { type: 'string', multiple: true },
      full: { type: 'boolean' },
    });
    if (positionals.length < 1 || positionals.length > 2) throw new SandboxError('invalid-input', 'Usage: sandbox sync push NAME [PATH] [--to DIR].');
    const line = new ProgressLine();
    try {
      const summary = await context.controller.push(positionals[0]!, {
        localRoot: positionals[1] ?? '.',
        remoteDir: values.to,
        deleteExtraneous: values.delete,
        excludes: values.exclude,
        full: values.full,
        signal: context.signal,
        onProgress: (p) => (context.json ? undefined : line.update(`${p.phase} ${p.done}/${p.total}`, p.total ? p.done / p.total : undefined)),
      });
      line.done();
      if (context.json) context.printJson(summary);
      else context.out(describePush(summary));
    } finally {
      line.done();
    }
    return EXIT.ok;
  },
};
