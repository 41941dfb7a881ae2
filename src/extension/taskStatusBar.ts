import * as vscode from 'vscode';
import { TASKS_VIEW_ID } from './commandIds';
import type { TaskBoard } from './taskBoard';
import { taskStatusText } from './taskPresentation';

/** How many tasks run and wait, while there are tasks; a click shows the Tasks view. */
export function createTaskStatusBarItem(board: TaskBoard): vscode.Disposable {
  const item = vscode.window.createStatusBarItem('sandboxes.tasksStatus', vscode.StatusBarAlignment.Left, 49);
  item.name = 'Sandbox Tasks';
  // Every view has a focus command, named after its id.
  item.command = `${TASKS_VIEW_ID}.focus`;
  const update = () => {
    const shown = taskStatusText(board.tasks);
    if (!shown) {
      item.hide();
      return;
    }
    item.text = shown.text;
    item.tooltip = shown.tooltip;
    item.show();
  };
  const subscription = board.onDidChange(({ timeOnly }) => {
    if (!timeOnly) update();
  });
  return vscode.Disposable.from(item, subscription);
}
