import * as vscode from 'vscode';
import { describeError } from '../../core/errors';
import { isFinished, type Task } from '../../core/tasks/model';
import type { Cockpit } from '../cockpit';
import type { TaskBoard } from '../taskBoard';
import { taskLabel } from '../taskPresentation';
import { resolveTask } from '../taskTargets';

/** How often a task's output is read while it runs. */
const FOLLOW_EVERY_MS = 500;

/** One output channel per task, followed until the task ends; shown again when asked twice. */
const followed = new Map<string, { channel: vscode.OutputChannel; done: Promise<void> }>();

/**
 * Show Task Output: the output of the task's latest attempt (stdout and stderr as they come) in
 * an output channel of its own, read every half second until the task ends. A new attempt starts
 * over under a line saying so.
 */
export function showTaskOutputCommand(cockpit: Cockpit, board: TaskBoard) {
  return async (arg?: unknown): Promise<vscode.OutputChannel | undefined> => {
    const programmatic = typeof arg === 'string';
    try {
      const task = await resolveTask(board, arg, 'Task to show the output of', (candidate) => candidate.attempts.length > 0);
      if (!task) return undefined;
      const existing = followed.get(task.id);
      if (existing) {
        existing.channel.show(true);
        return existing.channel;
      }
      const channel = vscode.window.createOutputChannel(`Sandbox Task ${task.id}`);
      cockpit.context.subscriptions.push(channel);
      channel.show(true);
      channel.appendLine(`$ ${typeof task.command === 'string' ? task.command : task.command.join(' ')}    [task ${task.id}: ${taskLabel(task)}]`);
      const entry = { channel, done: Promise.resolve() };
      entry.done = follow(cockpit, board, task, channel)
        .catch((error: unknown) => channel.appendLine(`[stopped following the output: ${describeError(error)}]`))
        .finally(() => {
          if (followed.get(task.id) === entry) followed.delete(task.id);
        });
      followed.set(task.id, entry);
      return channel;
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error);
      return undefined;
    }
  };
}

async function follow(cockpit: Cockpit, board: TaskBoard, first: Task, channel: vscode.OutputChannel): Promise<void> {
  const offsets = { stdout: 0, stderr: 0 };
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  let attempt = 0;
  let task = first;
  for (;;) {
    // Read the state before the output: a task seen finished has all its output saved.
    task = board.client.resolve(task.id);
    const latest = task.attempts.length;
    if (latest !== attempt) {
      if (attempt !== 0) channel.appendLine(`-- attempt ${latest} --`);
      attempt = latest;
      offsets.stdout = offsets.stderr = 0;
    }
    for (const stream of ['stdout', 'stderr'] as const) {
      const { data, nextOffset } = await board.client.output(cockpit.controller, task, stream, offsets[stream]);
      offsets[stream] = nextOffset;
      if (data.length > 0) channel.append(decoders[stream].decode(data, { stream: true }));
    }
    if (isFinished(task.state)) break;
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_EVERY_MS));
  }
  const last = task.attempts[task.attempts.length - 1];
  const code = last?.exitCode !== undefined && last.exitCode !== null ? `, exit code ${last.exitCode}` : '';
  channel.appendLine(`[task ${task.state}${code}${task.reason ? `: ${task.reason}` : ''}]`);
}
