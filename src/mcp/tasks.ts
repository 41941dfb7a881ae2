import { z } from 'zod';
import * as actions from './actions/tasks';
import { defineTool, type AnyTool } from './registry';

const taskArgument = z.string().min(1).describe('The task id, or a unique prefix of it.');

export const taskAdd = defineTool({
  name: 'task_add',
  title: 'Queue a task',
  description:
    'Queues a command to run in a sandbox of its own, placed by the daemon (`sandbox daemon start`); a host workspace (inside the open roots) is pushed in first.',
  input: {
    command: z.union([z.array(z.string()).min(1), z.string().min(1)]).describe('argv, or a shell string (run by sh -c).'),
    title: z.string().max(200).optional(),
    priority: z.enum(['critical', 'high', 'normal', 'low']).optional(),
    profile: z.string().optional().describe('The sandbox profile (default: default).'),
    workspace: z.string().optional().describe('A host folder (inside the open roots) pushed into the sandbox first.'),
    result: z.string().optional().describe('A host folder (inside the open roots) the workspace is pulled into when the task succeeds.'),
    env: z.record(z.string(), z.string()).optional(),
    timeout: z.number().positive().optional().describe('Seconds; the command is killed when it passes.'),
    key: z.string().optional().describe('Idempotency key: adding the same key again returns the first task.'),
  },
  hints: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  run: actions.addTask,
});

export const taskStatus = defineTool({
  name: 'task_status',
  title: 'Task status',
  description: 'A task as the queue holds it (its state and attempts), or every task when no id is given.',
  input: { task: taskArgument.optional() },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  run: actions.taskStatus,
});

export const taskCancel = defineTool({
  name: 'task_cancel',
  title: 'Cancel a task',
  description: 'Cancels a task: a queued one at once, a running one when the daemon has killed its processes.',
  input: { task: taskArgument },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  run: actions.cancelTask,
});

export const taskLogs = defineTool({
  name: 'task_logs',
  title: 'Task output',
  description: `The output of a task's latest attempt, from an offset per stream, at most ${actions.MAX_LOG_BYTES} bytes each; call again with the next offsets for more.`,
  input: {
    task: taskArgument,
    stdoutOffset: z.number().int().min(0).optional(),
    stderrOffset: z.number().int().min(0).optional(),
  },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  run: actions.taskLogs,
});

export const TASK_TOOLS: AnyTool[] = [taskAdd, taskStatus, taskCancel, taskLogs];
