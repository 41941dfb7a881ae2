import type { SandboxRecord } from '../../core/model';
import type { Cockpit } from '../cockpit';
import type { TaskBoard } from '../taskBoard';
import { taskSandboxId } from '../taskPresentation';
import { resolveTask } from '../taskTargets';

/** Reveal Sandbox: selects the sandbox of the task's latest attempt in the Sandboxes view, while it exists. */
export function revealTaskSandboxCommand(cockpit: Cockpit, board: TaskBoard, reveal: (record: SandboxRecord) => Thenable<void>) {
  return async (arg?: unknown): Promise<SandboxRecord | undefined> => {
    const programmatic = typeof arg === 'string';
    try {
      const task = await resolveTask(board, arg, 'Task whose sandbox to show', (candidate) => taskSandboxId(candidate) !== undefined);
      if (!task) return undefined;
      const sandboxId = taskSandboxId(task);
      const name = task.attempts[task.attempts.length - 1]?.sandboxName ?? sandboxId;
      await cockpit.refresh();
      const record = cockpit.records.find((candidate) => candidate.id === sandboxId);
      if (!record) {
        void cockpit.notify(
          'info',
          sandboxId
            ? `The sandbox ${name} of task ${task.id} is gone: a task's sandbox is removed when the task ends, unless the task keeps it.`
            : `Task ${task.id} has no sandbox yet; it gets one when the scheduler places it.`,
        );
        return undefined;
      }
      await reveal(record);
      return record;
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error);
      return undefined;
    }
  };
}
