import { formatDuration } from '../app/format';
import type { SandboxRecord } from '../core/model';
import { describeCommand, isFinished, type Task, type TaskAttempt, type TaskState } from '../core/tasks/model';
import type { IconSpec } from './presentation';

/**
 * How tasks look in the Tasks view, the status bar and the Sandboxes view's pool sandboxes. No
 * vscode import: tested in plain Node; the views turn these plain values into TreeItems.
 */

/** The groups of the Tasks view, in this order; a group without tasks is not shown. */
export const TASK_GROUP_ORDER: readonly TaskState[] = ['running', 'queued', 'assigned', 'failed', 'succeeded', 'cancelled'];

const GROUP_LABELS: Record<TaskState, string> = {
  running: 'Running',
  queued: 'Queued',
  assigned: 'Assigned',
  failed: 'Failed',
  succeeded: 'Succeeded',
  cancelled: 'Cancelled',
};

export function taskGroupLabel(state: TaskState): string {
  return GROUP_LABELS[state];
}

export interface TaskGroup {
  state: TaskState;
  tasks: Task[];
}

/**
 * Tasks by state, in the view's order, empty groups left out. Within a group: unfinished tasks
 * oldest first (the order they wait in), finished ones newest first (the latest on top).
 */
export function groupTasks(tasks: Task[]): TaskGroup[] {
  return TASK_GROUP_ORDER.map((state) => {
    const members = tasks.filter((task) => task.state === state);
    const newestFirst = isFinished(state);
    members.sort((a, b) => (newestFirst ? b.updatedAt.localeCompare(a.updatedAt) : a.createdAt.localeCompare(b.createdAt)));
    return { state, tasks: members };
  }).filter((group) => group.tasks.length > 0);
}

/** The item's label: its title, or its command on one line. */
export function taskLabel(task: Task): string {
  return task.title ?? describeCommand(task.command);
}

/** How long a task has been at it: from its first placement to its end (or now); empty before it was placed. */
export function taskElapsed(task: Task, now = Date.now()): string {
  const first = task.attempts[0]?.assignedAt;
  if (!first) return '';
  const last = task.attempts[task.attempts.length - 1];
  const end = isFinished(task.state) && last?.endedAt ? Date.parse(last.endedAt) : now;
  return formatDuration(end - Date.parse(first));
}

/** `high · 12s · attempt 1/2`: priority, elapsed time (once placed) and attempt. */
export function taskDescription(task: Task, now = Date.now()): string {
  const parts: string[] = [task.priority];
  const elapsed = taskElapsed(task, now);
  if (elapsed) parts.push(elapsed);
  parts.push(`attempt ${task.attempts.length}/${task.maxAttempts}`);
  if (task.cancelRequested && !isFinished(task.state)) parts.push('cancelling');
  const gate = gateStatus(task);
  if (gate) parts.push(gate);
  return parts.join(' · ');
}

/** Where the gates are with the task's change, in a few words; undefined for a task without gates. */
export function gateStatus(task: Task): string | undefined {
  const gate = task.gate;
  if (!gate) return task.gates && !isFinished(task.state) ? 'gated' : undefined;
  switch (gate.phase) {
    case 'checking':
      return 'checking its change';
    case 'review':
      return gate.review ? (gate.review.decision === 'approve' ? 'approved, applying' : 'rejected, rolling back') : 'waiting for review';
    case 'applied':
      return 'change applied';
    case 'unchanged':
      return 'no change';
    case 'failed':
      return gate.level === 'command' ? 'command failed, rolled back' : `failed at ${gate.level ?? 'the gates'}, rolled back`;
    case 'rejected':
      return 'rejected, rolled back';
    case 'conflict':
      return 'conflicts with the workspace, not applied';
  }
}

/** Whether a person's decision is awaited on the task's change. */
export function awaitsReview(task: Task): boolean {
  return task.gate?.phase === 'review' && !task.gate.review && !isFinished(task.state);
}

export function taskIcon(task: Task): IconSpec {
  if (awaitsReview(task)) return { id: 'eye', color: 'charts.yellow' };
  switch (task.state) {
    case 'queued':
      return { id: 'clock' };
    case 'assigned':
      return { id: 'loading~spin' };
    case 'running':
      return { id: 'sync~spin', color: 'charts.blue' };
    case 'succeeded':
      return { id: 'pass', color: 'testing.iconPassed' };
    case 'failed':
      return { id: 'error', color: 'testing.iconFailed' };
    case 'cancelled':
      return { id: 'circle-slash', color: 'disabledForeground' };
  }
}

/**
 * Tags joined with `+` (like a sandbox's), matched in package.json: `task+STATE`, then
 * `cancellable`, `retryable`, `output` (an attempt started) and `sandbox` (an attempt has one).
 */
export function taskContextValue(task: Task): string {
  const tags = ['task', task.state];
  if (!isFinished(task.state)) tags.push('cancellable');
  if (task.state === 'failed' || task.state === 'cancelled') tags.push('retryable');
  const last = task.attempts[task.attempts.length - 1];
  if (last?.startedAt) tags.push('output');
  if (last?.sandboxId) tags.push('sandbox');
  if (awaitsReview(task)) tags.push('review');
  if (task.gate) tags.push('gated');
  return tags.join('+');
}

/** One attempt in a line: sandbox, placement, warm or new, and how it ended. */
export function attemptLine(attempt: TaskAttempt): string {
  const where = `${attempt.sandboxName ?? 'no sandbox yet'} on ${attempt.placement ?? '?'}${attempt.warm ? ' (warm)' : attempt.sandboxId ? ' (new)' : ''}`;
  let how = attempt.startedAt ? 'running' : 'starting';
  if (attempt.end) {
    const code = attempt.exitCode !== undefined && attempt.exitCode !== null ? ` (exit ${attempt.exitCode})` : '';
    how = `${attempt.end}${code}${attempt.reason ? `: ${attempt.reason}` : ''}`;
  }
  return `attempt ${attempt.number}: ${where}, ${how}`;
}

/** Markdown lines for the item's tooltip: the task, then every attempt. */
export function taskTooltipLines(task: Task): string[] {
  const command = typeof task.command === 'string' ? task.command : task.command.join(' ');
  const lines = [`**${escapeMarkdown(taskLabel(task))}** — ${task.state}${task.cancelRequested && !isFinished(task.state) ? ' (cancel asked)' : ''}`, ''];
  lines.push(`- id: \`${task.id}\``, `- command: \`${command.replace(/`/g, "'")}\``, `- priority: ${task.priority}, profile: ${task.profile}`);
  if (task.workspace) lines.push(`- workspace: ${escapeMarkdown(task.workspace)}`);
  if (task.agentId) lines.push(`- from: ${escapeMarkdown(task.agentId)}`);
  if (task.reason) lines.push(`- reason: ${escapeMarkdown(task.reason)}`);
  if (task.gate) lines.push(`- gates: ${escapeMarkdown(gateStatus(task) ?? '')}${task.gate.reason ? ` (${escapeMarkdown(task.gate.reason)})` : ''}`);
  if (task.attempts.length > 0) lines.push('', ...task.attempts.map((attempt) => `- ${escapeMarkdown(attemptLine(attempt))}`));
  else lines.push('', '- not placed yet');
  return lines;
}

function escapeMarkdown(text: string): string {
  return text.replace(/([\\*_[\]<>#|])/g, '\\$1');
}

/** The sandbox of the task's latest attempt, if it had one. */
export function taskSandboxId(task: Task): string | undefined {
  return task.attempts[task.attempts.length - 1]?.sandboxId;
}

/** The task status bar item: shown while any task exists, counting the running and queued ones. */
export function taskStatusText(tasks: Task[]): { text: string; tooltip: string } | undefined {
  if (tasks.length === 0) return undefined;
  const running = tasks.filter((task) => task.state === 'running' || task.state === 'assigned').length;
  const queued = tasks.filter((task) => task.state === 'queued').length;
  const failed = tasks.filter((task) => task.state === 'failed').length;
  const reviews = tasks.filter(awaitsReview).length;
  const tooltip = `${running} task${running === 1 ? '' : 's'} running, ${queued} queued${failed ? `, ${failed} failed` : ''}${reviews ? `, ${reviews} waiting for review` : ''}; click to show the Tasks view`;
  return { text: `$(tasklist) ${running} running · ${queued} queued${reviews ? ` · $(eye) ${reviews} to review` : ''}`, tooltip };
}

/** What the scheduler says of its pools (scheduler-status.json), by sandbox name. */
export interface PoolMembership {
  warm: ReadonlySet<string>;
  busy: ReadonlySet<string>;
}

const POOL_AGENT_PREFIX = 'pool:';

/**
 * How a pool sandbox (agent `pool:<profile>`) is marked in the Sandboxes view: `warm` while it
 * waits for a task, `pool, in use` once a task took it; undefined for every other sandbox.
 */
export function poolMark(record: SandboxRecord, pools: PoolMembership): string | undefined {
  if (!record.agentId.startsWith(POOL_AGENT_PREFIX)) return undefined;
  if (pools.busy.has(record.name)) return 'pool, in use';
  if (pools.warm.has(record.name) || record.state === 'running') return 'warm';
  return 'pool';
}
