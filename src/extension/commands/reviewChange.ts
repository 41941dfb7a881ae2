import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Task } from '../../core/tasks/model';
import type { Cockpit } from '../cockpit';
import { loadCore } from '../lazyCore';
import type { TaskBoard } from '../taskBoard';
import { awaitsReview, taskLabel } from '../taskPresentation';
import { resolveTask } from '../taskTargets';

/**
 * Review Change: the task's change in the multi-file diff editor (the base as pushed on the left,
 * the sandbox's version on the right), then Approve or Reject.
 */
export function reviewChangeCommand(cockpit: Cockpit, board: TaskBoard) {
  return async (arg?: unknown): Promise<Task | undefined> => {
    const programmatic = typeof arg === 'string';
    try {
      const task = await resolveTask(board, arg, 'Change to review', awaitsReview);
      if (!task) return undefined;
      if (!awaitsReview(task)) throw new Error(`Task ${task.id} is not waiting for review.`);
      const patch = await loadCore().changeUnderReview(cockpit.stateDir(), task.id, task.gate!.attempt);
      const resources = patch.changes.map((change) => [
        vscode.Uri.file(path.join(task.workspace!, change.path)),
        change.kind === 'added' ? undefined : vscode.Uri.file(path.join(patch.baseDir, change.path)),
        change.kind === 'deleted' ? undefined : vscode.Uri.file(path.join(patch.afterDir, change.path)),
      ]);
      await vscode.commands.executeCommand('vscode.changes', `Change of task ${taskLabel(task)}`, resources);
      const { files, addedLines, removedLines } = patch.stats;
      const choice = await vscode.window.showInformationMessage(
        `Task "${taskLabel(task)}" changed ${files} file${files === 1 ? '' : 's'} (+${addedLines} -${removedLines}) and waits for review: ${task.gate!.reason ?? ''} Apply it to the workspace?`,
        'Approve',
        'Reject',
      );
      if (choice === 'Approve') return decide(cockpit, board, task, 'approve');
      if (choice === 'Reject') return decide(cockpit, board, task, 'reject', await askNote());
      return undefined;
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error);
      return undefined;
    }
  };
}

/** Approve Change / Reject Change from the Tasks view, without opening the diff. */
export function decideChangeCommand(cockpit: Cockpit, board: TaskBoard, decision: 'approve' | 'reject') {
  return async (arg?: unknown, note?: string): Promise<Task | undefined> => {
    const programmatic = typeof arg === 'string';
    try {
      const task = await resolveTask(board, arg, decision === 'approve' ? 'Change to approve' : 'Change to reject', awaitsReview);
      if (!task) return undefined;
      return decide(cockpit, board, task, decision, decision === 'reject' && note === undefined && !programmatic ? await askNote() : note);
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error);
      return undefined;
    }
  };
}

function decide(cockpit: Cockpit, board: TaskBoard, task: Task, decision: 'approve' | 'reject', note?: string): Task {
  const decided = board.client.review(task.id, decision, note);
  cockpit.log.info(`${decision === 'approve' ? 'Approved' : 'Rejected'} the change of task ${task.id}`);
  board.reload();
  return decided;
}

async function askNote(): Promise<string | undefined> {
  const note = await vscode.window.showInputBox({ prompt: 'Why is the change rejected? Kept in lessons.json for the agent (optional).', ignoreFocusOut: true });
  return note?.trim() || undefined;
}
