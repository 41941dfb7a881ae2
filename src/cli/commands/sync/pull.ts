import { EXIT } from '../../../app/exitStatus';
import { SandboxError } from '../../../core/errors';
import { formatSize, parseSize } from '../../../core/profile';
import { pullNoteLines } from '../../../core/sync/pullNotes';
import { ProgressLine } from '../../output';
import { parse, type Command } from '../../command';

export const syncPullCommand: Command = {
  name: 'pull',
  usage: [['sync pull NAME [DIR]', 'copy a folder of the sandbox out']],
  help: `Usage: sandbox sync pull NAME [DIR] [--to PATH] [--max-size SIZE] [--exclude PATTERN]...
Copies DIR of the sandbox (default: its workspace) into PATH here (default: this folder).
Refuses archives that would write outside PATH and leaves PATH untouched on failure;
links that lead outside DIR are not written, and are listed with local links it replaced.
  --max-size SIZE     refuse a pull larger than SIZE
  --exclude PATTERN   skip files matching PATTERN (gitignore syntax; repeatable)`,
  async run(args, context) {
    const { values, positionals } = parse(args, {
      to: { type: 'string' },
      'max-size': { type: 'string' },
      exclude: { type: 'string', multiple: true },
    });
    if (positionals.length < 1 || positionals.length > 2) throw new SandboxError('invalid-input', 'Usage: sandbox sync pull NAME [DIR] [--to PATH].');
    const line = new ProgressLine();
    let summary;
    try {
      summary = await context.controller.pull(positionals[0]!, {
        remoteDir: positionals[1],
        localRoot: values.to ?? '.',
        maxBytes: values['max-size'] !== undefined ? parseSize(values['max-size'], 'size cap') : undefined,
        excludes: values.exclude,
        signal: context.signal,
        onProgress: (p) => (context.json ? undefined : line.update(`pulled ${p.files} files, ${formatSize(p.bytes)}`)),
      });
    } finally {
      line.done();
    }
    if (context.json) context.printJson(summary);
    else {
      context.out(`Pulled ${summary.files} file${summary.files === 1 ? '' : 's'} (${formatSize(summary.bytes)}) from ${summary.remote} into ${summary.local}.`);
      for (const note of pullNoteLines(summary)) context.out(note);
    }
    return EXIT.ok;
  },
};
