import { EXIT } from '../../../app/exitStatus';
import { formatDuration } from '../../../app/format';
import { SandboxError } from '../../../core/errors';
import { TaskClient } from '../../../core/tasks/client';
import { describeCommand, TASK_STATES, type Task, type TaskState } from '../../../core/tasks/model';
import { renderTable } from '../../output';
import { parse, requireOne, type Command } from '../../command';

/** How long a task has been at it: from its first placement to its end (or now). */
export function taskElapsed(task: Task, now = Date.now()): string {
  const first = task.attempts[0]?.assignedAt;
  if (!first) return '';
  const last = task.attempts[task.attempts.length - 1];
  const end = last?.endedAt && task.state !== 'queued' && task.state !== 'assigned' && task.state !== 'running' ? Date.parse(last.endedAt) : now;
  return formatDuration(end - Date.parse(first));
}

export const taskListCommand: Command = {
  name: 'list',
  aliases: ['ls'],
  usage: [['task list [--state S]', 'tasks: state, priority, attempts, where they run']],
  help: `Usage: sandbox task list [--state queued|assigned|running|succeeded|failed|cancelled] [--json]`,
  async run(args, context) {
    const { values, positionals } = parse(args, { state: { type: 'string' } });
    if (positionals.length > 0) throw new SandboxError('invalid-input', `Unexpected argument ${positionals[0]}: sandbox task list [--state S].`);
    if (values.state !== undefined && !(TASK_STATES as readonly string[]).includes(values.state)) {
      throw new SandboxError('invalid-input', `The state "${values.state}" is not one of ${TASK_STATES.join(', ')}.`);
    }
    const client = new TaskClient(context.controller.store.root);
    const tasks = client.list(values.state as TaskState | undefined);
    // Lines of the queue that could not be used are skipped: said on stderr, never fatal.
    for (const problem of client.queue.problems()) process.stderr.write(`${problem}\n`);
    if (context.json) context.printJson(tasks);
    else if (tasks.length === 0) context.out('No tasks. Add one with `sandbox task add -- CMD`.');
    else {
      const rows = [['ID', 'STATE', 'PRIORITY', 'ATTEMPT', 'ELAPSED', 'SANDBOX', 'COMMAND']];
      for (const task of tasks) {
        const last = task.attempts[task.attempts.length - 1];
        rows.push([
          task.id,
          task.state,
          task.priority,
          `${task.attempts.length}/${task.maxAttempts}`,
          taskElapsed(task),
          last?.sandboxName ?? '',
          task.title ?? describeCommand(task.command),
        ]);
      }
      context.out(renderTable(rows));
    }
    return EXIT.ok;
  },
};

export const taskShowCommand: Command = {
  name: 'show',
  usage: [['task show ID', 'one task: what it asked for and every attempt']],
  help: 'Usage: sandbox task show ID [--json]\nID may be a unique prefix.',
  async run(args, context) {
    const { positionals } = parse(args, {});
    const task = new TaskClient(context.controller.store.root).resolve(requireOne(positionals, 'task id', 'sandbox task show ID'));
    if (context.json) {
      context.printJson(task);
      return EXIT.ok;
    }
    const lines = [
      `${task.id}  ${task.state}${task.cancelRequested ? ' (cancel asked)' : ''}  ${task.priority}  profile ${task.profile}`,
      `command: ${typeof task.command === 'string' ? task.command : JSON.stringify(task.command)}`,
    ];
    if (task.title) lines.push(`title: ${task.title}`);
    if (task.workspace) lines.push(`workspace: ${task.workspace}`);
    if (task.reason) lines.push(`reason: ${task.reason}`);
    for (const attempt of task.attempts) {
      const how = attempt.end
        ? `${attempt.end}${attempt.exitCode !== undefined ? ` (exit ${attempt.exitCode})` : ''}${attempt.reason ? `: ${attempt.reason}` : ''}`
        : 'in progress';
      lines.push(`attempt ${attempt.number}: ${attempt.sandboxName ?? ''} on ${attempt.placement ?? '?'}${attempt.warm ? ' (warm)' : ''}, ${how}`);
    }
    context.out(lines.join('\n'));
    return EXIT.ok;
  },
};
