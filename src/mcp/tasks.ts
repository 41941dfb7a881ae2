import { z } from 'zod';
import { summarizeCommand } from '../core/events/types';
import { TaskClient } from '../core/tasks/client';
import { daemonStatus } from '../core/tasks/daemonLock';
import type { Task } from '../core/tasks/model';
import { defineTool, jsonResult, type AnyTool, type ToolContext } from './registry';
import { confinedPath } from './roots';

/** Most bytes of each stream a task_logs call returns. */
const MAX_LOG_BYTES = 256 * 1024;

/** What a client is told of a task: env names without values, the command summarized as events tell it. */
function taskView(task: Task): Record<string, unknown> {
  const { env, command, ...rest } = task;
  return { ...rest, command: summarizeCommand(command), ...(env ? { envKeys: Object.keys(env) } : {}) };
}

function client(context: ToolContext): TaskClient {
  return new TaskClient(context.controller.store.root);
}

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
  async run(args, context) {
    const workspace = args.workspace !== undefined ? await confinedPath(args.workspace, context.roots, 'workspace') : undefined;
    const resultDir = args.result !== undefined ? await confinedPath(args.result, context.roots, 'result folder') : undefined;
    const { task, existing } = await client(context).add({
      command: args.command,
      ...(args.title !== undefined ? { title: args.title } : {}),
      ...(args.priority !== undefined ? { priority: args.priority } : {}),
      ...(args.profile !== undefined ? { profile: args.profile } : {}),
      ...(workspace !== undefined ? { workspace } : {}),
      ...(resultDir !== undefined ? { resultDir } : {}),
      ...(args.env !== undefined ? { env: args.env } : {}),
      ...(args.timeout !== undefined ? { timeout: Math.round(args.timeout * 1000) } : {}),
      ...(args.key !== undefined ? { idempotencyKey: args.key } : {}),
      agentId: 'mcp',
    });
    return jsonResult({ ...taskView(task), existing, daemon: daemonStatus(context.controller.store.root).running });
  },
});

export const taskStatus = defineTool({
  name: 'task_status',
  title: 'Task status',
  description: 'A task as the queue holds it (its state and attempts), or every task when no id is given.',
  input: { task: taskArgument.optional() },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  async run(args, context) {
    if (args.task === undefined) return jsonResult(client(context).list().map(taskView));
    return jsonResult(taskView(client(context).resolve(args.task)));
  },
});

export const taskCancel = defineTool({
  name: 'task_cancel',
  title: 'Cancel a task',
  description: 'Cancels a task: a queued one at once, a running one when the daemon has killed its processes.',
  input: { task: taskArgument },
  hints: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  async run(args, context) {
    return jsonResult(taskView(client(context).cancel(args.task)));
  },
});

export const taskLogs = defineTool({
  name: 'task_logs',
  title: 'Task output',
  description: `The output of a task's latest attempt, from an offset per stream, at most ${MAX_LOG_BYTES} bytes each; call again with the next offsets for more.`,
  input: {
    task: taskArgument,
    stdoutOffset: z.number().int().min(0).optional(),
    stderrOffset: z.number().int().min(0).optional(),
  },
  hints: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  async run(args, context) {
    const tasks = client(context);
    const task = tasks.resolve(args.task);
    const read = async (stream: 'stdout' | 'stderr', offset: number) => {
      const { data } = await tasks.output(context.controller, task, stream, offset);
      const part = data.subarray(0, MAX_LOG_BYTES);
      return { text: part.toString('utf8'), nextOffset: offset + part.length, more: data.length > part.length };
    };
    const stdout = await read('stdout', args.stdoutOffset ?? 0);
    const stderr = await read('stderr', args.stderrOffset ?? 0);
    return jsonResult({ id: task.id, state: task.state, attempt: task.attempts.length, stdout, stderr });
  },
});

export const TASK_TOOLS: AnyTool[] = [taskAdd, taskStatus, taskCancel, taskLogs];
