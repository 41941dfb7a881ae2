import * as vscode from 'vscode';
import { TASK_PRIORITIES, type Task, type TaskPriority } from '../../core/tasks/model';
import type { Cockpit } from '../cockpit';
import { COMMAND_IDS } from '../commandIds';
import type { TaskBoard } from '../taskBoard';

const PRIORITY_DETAILS: Record<TaskPriority, string> = {
  critical: 'placed before every other task',
  high: 'placed before normal and low tasks',
  normal: 'the default',
  low: 'placed when nothing else waits',
};

/** What a caller (a test, another extension) may give instead of answering the prompts. */
export interface AddTaskOptions {
  priority?: TaskPriority;
  /** A folder to push into the task's sandbox; null for none. Asked when left out and a folder is open. */
  workspace?: string | null;
  title?: string;
}

/**
 * Add Task: a command line (run by sh -c in a sandbox of its own), its priority, and whether the
 * open folder is pushed into the sandbox first. Queued in the state dir for the scheduler.
 */
export function addTaskCommand(cockpit: Cockpit, board: TaskBoard) {
  return async (commandLine?: unknown, options?: AddTaskOptions): Promise<Task | undefined> => {
    const programmatic = typeof commandLine === 'string';
    const folder = vscode.workspace.workspaceFolders?.find((candidate) => candidate.uri.scheme === 'file');
    const steps = folder && options?.workspace === undefined ? 3 : 2;
    const command = programmatic
      ? (commandLine as string)
      : await vscode.window.showInputBox({
          title: `Add Task (1/${steps})`,
          prompt: 'The command line to run, by sh -c, in a sandbox of its own',
          placeHolder: 'e.g. npm test',
          ignoreFocusOut: true,
          validateInput: (value) => (value.trim() === '' ? 'Give the command to run.' : undefined),
        });
    if (!command) return undefined;
    const priority = options?.priority ?? (await pickPriority(steps));
    if (!priority) return undefined;
    let workspace: string | undefined;
    if (options?.workspace !== undefined) workspace = options.workspace ?? undefined;
    else if (folder) {
      const push = await pickWorkspace(folder, steps);
      if (push === undefined) return undefined;
      workspace = push ? folder.uri.fsPath : undefined;
    }
    try {
      const { task } = await board.client.add({
        command,
        priority,
        agentId: 'vscode',
        ...(workspace ? { workspace } : {}),
        ...(options?.title ? { title: options.title } : {}),
      });
      cockpit.log.info(`Queued task ${task.id} (${task.priority}): ${command}`);
      board.reload();
      if (!board.schedulerRunning) {
        const choice = await cockpit.notify(
          'warning',
          `Queued task ${task.id}; no scheduler runs for this state dir, so it waits until one starts.`,
          'Start Scheduler',
        );
        if (choice) await vscode.commands.executeCommand(COMMAND_IDS.startScheduler);
      } else if (!programmatic) {
        void cockpit.notify('info', `Queued task ${task.id} (${task.priority}).`);
      }
      return task;
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error);
      return undefined;
    }
  };
}

async function pickPriority(steps: number): Promise<TaskPriority | undefined> {
  const items = TASK_PRIORITIES.map((priority) => ({ label: priority, description: PRIORITY_DETAILS[priority], priority }));
  const pick = vscode.window.createQuickPick<(typeof items)[number]>();
  pick.title = `Add Task (2/${steps})`;
  pick.placeholder = 'Priority of the task';
  pick.items = items;
  pick.activeItems = items.filter((item) => item.priority === 'normal');
  pick.ignoreFocusOut = true;
  return new Promise((resolve) => {
    pick.onDidAccept(() => {
      resolve(pick.selectedItems[0]?.priority ?? pick.activeItems[0]?.priority);
      pick.hide();
    });
    pick.onDidHide(() => {
      resolve(undefined);
      pick.dispose();
    });
    pick.show();
  });
}

async function pickWorkspace(folder: vscode.WorkspaceFolder, steps: number): Promise<boolean | undefined> {
  const picked = await vscode.window.showQuickPick(
    [
      { label: `Push ${folder.name}`, description: folder.uri.fsPath, detail: "A copy of the folder is the task's workspace", push: true },
      { label: 'No folder', detail: 'The command runs in an empty workspace', push: false },
    ],
    { title: `Add Task (${steps}/${steps})`, placeHolder: "Push the open folder into the task's sandbox?", ignoreFocusOut: true },
  );
  return picked?.push;
}
