import { summarizeCommand } from '../../core/events/types';
import { TaskClient } from '../../core/tasks/client';
import { daemonStatus } from '../../core/tasks/daemonLock';
import type { Task } from '../../core/tasks/model';
import { confinedPath } from '../roots';
import { jsonResult, type ToolAction, type ToolContext } from '../toolKit';

/** Most bytes of each stream a task_logs call returns. */
export const MAX_LOG_BYTES = 256 * 1024;

/** What a client is told of a task: env names without values, the command summarized as events tell it. */
function taskView(task: Task): Record<string, unknown> {
  const { env, command, ...rest } = task;
  return { ...rest, command: summarizeCommand(command), ...(env ? { envKeys: Object.keys(env) } : {}) };
}

function client(context: ToolContext): TaskClient {
  return new TaskClient(context.controller.store.root);
}

export interface TaskAddArgs {
  command: string[] | string;
  title?: string;
  priority?: 'critical' | 'high' | 'normal' | 'low';
  profile?: string;
  workspace?: string;
  result?: string;
  env?: Record<string, string>;
  timeout?: number;
  key?: string;
}

export interface TaskLogsArgs {
  task: string;
  stdoutOffset?: number;
  stderrOffset?: number;
}

export const addTask: ToolAction<TaskAddArgs> = async (args, context) => {
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
};

export const taskStatus: ToolAction<{ task?: string }> = async (args, context) => {
  if (args.task === undefined) return jsonResult(client(context).list().map(taskView));
  return jsonResult(taskView(client(context).resolve(args.task)));
};

export const cancelTask: ToolAction<{ task: string }> = async (args, context) => jsonResult(taskView(client(context).cancel(args.task)));

export const taskLogs: ToolAction<TaskLogsArgs> = async (args, context) => {
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
};
