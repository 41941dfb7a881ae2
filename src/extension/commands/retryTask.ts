import type { Task } from '../../core/tasks/model';
import type { Cockpit } from '../cockpit';
import type { TaskBoard } from '../taskBoard';
import { resolveTask } from '../taskTargets';

/** Retry Task: a failed or cancelled task goes back to the queue for one more attempt. */
export function retryTaskCommand(cockpit: Cockpit, board: TaskBoard) {
  return async (arg?: unknown): Promise<Task | undefined> => {
    const programmatic = typeof arg === 'string';
    try {
      const task = await resolveTask(board, arg, 'Task to retry', (candidate) => candidate.state === 'failed' || candidate.state === 'cancelled');
      if (!task) return undefined;
      const retried = board.client.retry(task.id);
      cockpit.log.info(`Queued task ${task.id} again (it had ${task.state})`);
      board.reload();
      return retried;
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error);
      return undefined;
    }
  };
}
