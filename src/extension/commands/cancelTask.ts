import type { Task } from '../../core/tasks/model';
import { isFinished } from '../../core/tasks/model';
import type { Cockpit } from '../cockpit';
import type { TaskBoard } from '../taskBoard';
import { resolveTask } from '../taskTargets';

/** Cancel Task: a queued task leaves the queue; a placed one is ended in its sandbox by the scheduler. */
export function cancelTaskCommand(cockpit: Cockpit, board: TaskBoard) {
  return async (arg?: unknown): Promise<Task | undefined> => {
    const programmatic = typeof arg === 'string';
    try {
      const task = await resolveTask(board, arg, 'Task to cancel', (candidate) => !isFinished(candidate.state));
      if (!task) return undefined;
      const cancelled = board.client.cancel(task.id);
      cockpit.log.info(`Asked to cancel task ${task.id} (${task.state})`);
      board.reload();
      return cancelled;
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error);
      return undefined;
    }
  };
}
