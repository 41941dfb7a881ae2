import { EXIT } from '../../../app/exitStatus';
import { TaskClient } from '../../../core/tasks/client';
import { parse, requireOne, type Command } from '../../command';

export const taskCancelCommand: Command = {
  name: 'cancel',
  usage: [['task cancel ID', "cancel a task; a running one's processes are killed"]],
  help: 'Usage: sandbox task cancel ID\nA queued task is cancelled at once; a placed one when the daemon has killed its processes in the sandbox.',
  async run(args, context) {
    const { positionals } = parse(args, {});
    const task = new TaskClient(context.controller.store.root).cancel(requireOne(positionals, 'task id', 'sandbox task cancel ID'));
    if (context.json) context.printJson(task);
    else context.out(task.state === 'cancelled' ? `Cancelled task ${task.id}.` : `Cancelling task ${task.id}: the daemon ends it in its sandbox.`);
    return EXIT.ok;
  },
};

export const taskRetryCommand: Command = {
  name: 'retry',
  usage: [['task retry ID', 'queue a failed or cancelled task again']],
  help: 'Usage: sandbox task retry ID\nThe task is queued again with one more attempt allowed.',
  async run(args, context) {
    const { positionals } = parse(args, {});
    const task = new TaskClient(context.controller.store.root).retry(requireOne(positionals, 'task id', 'sandbox task retry ID'));
    if (context.json) context.printJson(task);
    else context.out(`Queued task ${task.id} again.`);
    return EXIT.ok;
  },
};
