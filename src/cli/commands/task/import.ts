import { EXIT } from '../../../app/exitStatus';
import { TaskClient } from '../../../core/tasks/client';
import { parse, requireOne, type Command } from '../../command';

export const taskImportCommand: Command = {
  name: 'import',
  usage: [['task import FILE', 'queue every task of a file of JSON lines']],
  help: `Usage: sandbox task import FILE
One plain task object per line, as in task_queue.jsonl (docs/tasks.md), such as
{"command": "npm test", "priority": "high", "workspace": "/home/me/project"}.
All lines are checked first: one wrong line imports nothing.`,
  async run(args, context) {
    const { positionals } = parse(args, {});
    const tasks = await new TaskClient(context.controller.store.root).importFile(requireOne(positionals, 'file', 'sandbox task import FILE'));
    if (context.json) context.printJson(tasks);
    else context.out(`Queued ${tasks.length} task${tasks.length === 1 ? '' : 's'}: ${tasks.map((task) => task.id).join(' ')}.`);
    return EXIT.ok;
  },
};
