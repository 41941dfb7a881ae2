import { EXIT } from '../../app/exitStatus';
import { parseNumber } from '../../app/parse';
import { formatLogEntry } from '../../app/format';
import { parse, requireOne, type Command } from '../command';

export const logsCommand: Command = {
  name: 'logs',
  usage: [['logs NAME [-f]', "the sandbox's output and its exec/sync history"]],
  help: `Usage: sandbox logs NAME [-f] [--tail N]
-f follows until Ctrl-C or until the sandbox stops (exit 0) or is removed (said, exit 3).`,
  async run(args, context) {
    const { values, positionals } = parse(args, { follow: { type: 'boolean', short: 'f' }, tail: { type: 'string' } });
    const ref = requireOne(positionals, 'sandbox', 'sandbox logs NAME');
    const entries = context.controller.logs(ref, {
      follow: values.follow,
      tail: values.tail !== undefined ? parseNumber(values.tail, 'line count') : undefined,
      signal: context.signal,
    });
    for await (const entry of entries) {
      if (context.json) process.stdout.write(JSON.stringify(entry) + '\n');
      else process.stdout.write(formatLogEntry(entry) + '\n');
    }
    return EXIT.ok;
  },
};
