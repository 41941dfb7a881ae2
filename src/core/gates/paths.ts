import * as path from 'node:path';

/** Where one attempt's gate work lives in the state dir: the base copy, the pulled change, the result. */
export function attemptGatesDir(stateRoot: string, taskId: string, attempt: number): string {
  return path.join(stateRoot, 'gates', 'tasks', taskId, String(attempt));
}

/** The base's L0 results, by the hash of what the base held and how it was checked. */
export function baseRunCacheFile(stateRoot: string, key: string): string {
  return path.join(stateRoot, 'gates', 'base-runs', `${key}.json`);
}

/** One line per judged change: the results history. */
export function gatesHistoryFile(stateRoot: string): string {
  return path.join(stateRoot, 'gates', 'history.jsonl');
}

/** Snapshot names (sandbox-name rules): the state before a task, and the failed state kept after. */
export function preTaskSnapshotName(taskId: string, attempt: number): string {
  return `${snapshotStem(taskId)}-${attempt}-base`;
}

export function failedSnapshotName(taskId: string, attempt: number): string {
  return `${snapshotStem(taskId)}-${attempt}-failed`;
}

/** A task id in the letters a sandbox name allows (ids may hold capitals and underscores). */
function snapshotStem(taskId: string): string {
  return `task-${taskId
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 24)}`;
}
