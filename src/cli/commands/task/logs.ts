import { EXIT } from '../../../app/exitStatus';
import { TaskClient } from '../../../core/tasks/client';
import { isFinished } from '../../../core/tasks/model';
import { parse, requireOne, type Command } from '../../command';

const FOLLOW_EVERY_MS = 300;

export const taskLogsCommand: Command = {
  name: 'logs',
  usage: [['task logs ID [-f]', "a task's output (of its latest attempt)"]],
  help: `Usage: sandbox task logs ID [-f]
The command's stdout to stdout and its stderr to stderr. -f follows until the task ends.`,
  async run(args, context) {
    const { values, positionals } = parse(args, { follow: { type: 'boolean', short: 'f' } });
    const client = new TaskClient(context.controller.store.root);
    const ref = requireOne(positionals, 'task id', 'sandbox task logs ID [-f]');
    const offsets = { stdout: 0, stderr: 0 };
    let attempt = 0;
    for (;;) {
      const task = client.resolve(ref);
      const latest = task.attempts.length;
      if (latest !== attempt) {
        if (attempt !== 0) process.stderr.write(`-- attempt ${latest} --\n`);
        attempt = latest;
        offsets.stdout = offsets.stderr = 0;
      }
      for (const stream of ['stdout', 'stderr'] as const) {
        const { data, nextOffset } = await client.output(context.controller, task, stream, offsets[stream]);
        offsets[stream] = nextOffset;
        if (data.length > 0) (stream === 'stdout' ? process.stdout : process.stderr).write(data);
      }
      if (!values.follow || isFinished(task.state) || context.signal.aborted) return EXIT.ok;
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_EVERY_MS));
    }
  },
};
