import * as vscode from 'vscode';
import type { Task } from '../core/tasks/model';
import type { TaskBoard } from './taskBoard';
import { taskDescription, taskIcon, taskLabel } from './taskPresentation';
import { isTaskNode } from './views/taskTree';

/**
 * The task a command acts on: the item it was invoked on in the Tasks view, an id (or unique
 * prefix) when invoked programmatically, or a quick pick of the tasks that pass `filter`.
 */
export async function resolveTask(
  board: TaskBoard,
  arg: unknown,
  placeHolder: string,
  filter: (task: Task) => boolean = () => true,
): Promise<Task | undefined> {
  // The item holds the task as it was drawn: read it again, it may have moved on since.
  if (isTaskNode(arg)) return board.client.resolve(arg.task.id);
  if (typeof arg === 'string' && arg !== '') return board.client.resolve(arg);
  board.reload();
  const candidates = board.tasks.filter(filter);
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(
      board.tasks.length === 0 ? 'There is no task yet; run "Sandboxes: Add Task" to queue one.' : 'No task is in a state where this applies.',
    );
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    candidates.map((task) => ({
      label: `$(${taskIcon(task).id.replace('~spin', '')}) ${taskLabel(task)}`,
      description: `${task.state} · ${taskDescription(task)}`,
      detail: task.id,
      task,
    })),
    { placeHolder, matchOnDescription: true, matchOnDetail: true },
  );
  return picked?.task;
}
