import { TASK_PRIORITIES, type Task } from './model';

/**
 * The order queued tasks are placed in: by priority (critical first), first come first served
 * within a priority, and a task climbs one priority for every `agingMs` it has waited, so a low
 * task is not starved by a steady stream of higher ones.
 */
export function placementOrder(queued: Task[], now: number, agingMs: number): Task[] {
  const rank = (task: Task): number => {
    const base = TASK_PRIORITIES.indexOf(task.priority);
    const waited = Math.max(0, now - Date.parse(task.createdAt));
    return Math.max(0, base - Math.floor(waited / agingMs));
  };
  // The queue's own order (the order tasks were added) is the tie-break: Array.prototype.sort is stable.
  return queued
    .map((task, index) => ({ task, index, rank: rank(task) }))
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((entry) => entry.task);
}
