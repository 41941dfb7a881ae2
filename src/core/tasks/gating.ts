import type { SandboxController } from '../controller';
import { SandboxError, describeError, isSandboxError } from '../errors';
import { appendLesson, lastLines } from '../gates/lessons';
import { judgeChange } from '../gates/pipeline';
import { prepareGatedAttempt, readGateBase } from '../gates/prepare';
import type { GateLevel, GatePhase } from '../gates/types';
import type { SandboxRecord } from '../model';
import { pause } from '../util/pause';
import { isFinished, type Task, type TaskAttempt } from './model';
import type { TaskQueue } from './queue';
import { readSupervisedOutput, type AttemptPaths, type SandboxRun } from './supervisor';

export interface GatingDeps {
  controller: SandboxController;
  stateRoot: string;
  queue: TaskQueue;
  /** The task as the queue has it now. */
  task: () => Task | undefined;
  log: (message: string) => void;
  pollMs: number;
  /** Aborted when the scheduler stops: a wait for review is abandoned, to be taken up by the next one. */
  signal: AbortSignal;
}

/** How much of the end of a command's output a lesson keeps. */
const TAIL_BYTES = 8 * 1024;

/** The push and snapshot of a gated attempt, in place of the plain push. */
export async function prepareGates(deps: GatingDeps, task: Task, attempt: TaskAttempt, record: SandboxRecord): Promise<void> {
  try {
    await prepareGatedAttempt(deps.controller, deps.stateRoot, { taskId: task.id, number: attempt.number, workspace: task.workspace! }, record, deps.signal);
  } catch (error) {
    // Gates start from a snapshot: a sandbox that cannot be snapshotted cannot hold a gated task.
    if (isSandboxError(error, 'invalid-input') && /snapshot/.test(error.message)) {
      throw new SandboxError(
        'invalid-input',
        `Gates start from a snapshot, and ${record.name} cannot have one (only containers can): add the task with --no-gates, or give it a machine with Docker.`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * A gated attempt's command exited 0: the gates decide whether it succeeded. Its end is written by
 * the caller with what this returns.
 */
export async function gateSucceededCommand(
  deps: GatingDeps,
  task: Task,
  attempt: TaskAttempt,
  record: SandboxRecord,
  run: SandboxRun,
  paths: AttemptPaths,
  sizes?: { stdout: number; stderr: number },
): Promise<{ next: 'succeeded' | 'failed'; reason?: string }> {
  const phase = (value: GatePhase, level?: GateLevel, reason?: string) =>
    deps.queue.append([{ type: 'gate', id: task.id, attempt: attempt.number, phase: value, ...(level ? { level } : {}), ...(reason ? { reason } : {}) }]);
  const winner = groupWinner(deps, task);
  if (winner) {
    const reason = `Task ${winner} of group ${task.group} was applied first, so this change is not.`;
    phase('rejected', 'apply', reason);
    return { next: 'failed', reason };
  }
  const base = await readGateBase(deps.stateRoot, task.id, attempt.number);
  if (!base) {
    const reason = "The task's starting point was not kept (its gates could not be prepared), so its change cannot be judged; retry the task.";
    phase('failed', 'L0', reason);
    return { next: 'failed', reason };
  }
  const verdict = await judgeChange(
    {
      controller: deps.controller,
      stateRoot: deps.stateRoot,
      log: deps.log,
      phase,
      waitForReview: () => waitForReview(deps),
      applyTurn: () => applyTurn(deps, task),
      cancelled: () => deps.task()?.cancelRequested === true,
      signal: deps.signal,
    },
    {
      taskId: task.id,
      attempt: attempt.number,
      ...(task.agentId ? { agentId: task.agentId } : {}),
      ...(task.title ? { title: task.title } : {}),
      priority: task.priority,
      workspace: task.workspace!,
      record,
      base,
      lastOutput: masked(task, await outputTail(run, paths, sizes)),
      ...(task.keep ? { keep: true } : {}),
    },
  );
  if (verdict.passed) {
    if (task.group && verdict.phase === 'applied') cancelRestOfGroup(deps, task);
    return { next: 'succeeded', ...(verdict.reason ? { reason: verdict.reason } : {}) };
  }
  const where = verdict.level === 'L2' ? 'was rejected at review' : verdict.level === 'apply' ? 'could not be applied' : `failed at ${verdict.level}`;
  return { next: 'failed', reason: `Its change ${where}: ${verdict.reason ?? ''}`.trim() };
}

/** A gated command that failed: nothing to judge; the workspace stays as it was and a lesson is kept. */
export async function recordFailedCommand(
  deps: GatingDeps,
  task: Task,
  attempt: TaskAttempt,
  run: SandboxRun,
  paths: AttemptPaths,
  reason: string,
  sizes?: { stdout: number; stderr: number },
): Promise<void> {
  deps.queue.append([{ type: 'gate', id: task.id, attempt: attempt.number, phase: 'failed', level: 'command', reason }]);
  await appendLesson(deps.stateRoot, {
    time: new Date().toISOString(),
    taskId: task.id,
    attempt: attempt.number,
    ...(task.agentId ? { agentId: task.agentId } : {}),
    ...(task.title ? { title: task.title } : {}),
    level: 'command',
    reason,
    failingTests: [],
    lastOutput: masked(task, await outputTail(run, paths, sizes)),
  }).catch((error) => deps.log(`Task ${task.id}: the lesson could not be written: ${describeError(error)}`));
}

async function waitForReview(deps: GatingDeps): Promise<{ decision: 'approve' | 'reject'; note?: string }> {
  for (;;) {
    if (deps.signal.aborted) throw new Error('The scheduler stopped while the change waited for review.');
    const task = deps.task();
    const review = task?.gate?.review;
    if (review) return { decision: review.decision, ...(review.note ? { note: review.note } : {}) };
    // A cancel while the change waits is a no to the change.
    if (!task || task.cancelRequested) return { decision: 'reject', note: 'The task was cancelled while its change waited for review.' };
    await pause(deps.pollMs, deps.signal);
  }
}

/** The last lines of the command's stdout and stderr, read from the end of each. */
async function outputTail(run: SandboxRun, paths: AttemptPaths, sizes?: { stdout: number; stderr: number }): Promise<string[]> {
  const lines: string[] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    try {
      const size = sizes?.[stream] ?? 0;
      const offset = Math.max(0, size - TAIL_BYTES);
      const { data } = await readSupervisedOutput(run, paths, stream, offset, TAIL_BYTES);
      lines.push(...lastLines(data.toString('utf8'), 20));
    } catch {
      // the lesson is written without it
    }
  }
  return lines;
}

/** The change applying now, per workspace folder. */
const turns = new Map<string, Promise<void>>();

/** The task of the same group whose change was applied, if one was. */
function groupWinner(deps: GatingDeps, task: Task): string | undefined {
  if (!task.group) return undefined;
  for (const other of deps.queue.load().tasks.values()) {
    if (other.id !== task.id && other.group === task.group && other.gate?.phase === 'applied') return other.id;
  }
  return undefined;
}

/**
 * One change at a time reaches a workspace (in this process, the daemon): two tasks of one
 * workspace never apply at once. In a group, a change whose turn comes after a winner's loses.
 */
async function applyTurn(deps: GatingDeps, task: Task): Promise<{ lost?: string; release: () => void }> {
  const key = task.workspace!;
  const before = turns.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const chained = before.then(() => mine);
  turns.set(key, chained);
  void chained.then(() => turns.get(key) === chained && turns.delete(key));
  await before;
  const winner = groupWinner(deps, task);
  return { ...(winner ? { lost: `Task ${winner} of group ${task.group} was applied first, so this change is not.` } : {}), release };
}

/** The group's race is won: the others stop (a running one is cancelled, a queued one never runs). */
function cancelRestOfGroup(deps: GatingDeps, task: Task): void {
  const rest = [...deps.queue.load().tasks.values()].filter((other) => other.id !== task.id && other.group === task.group && !isFinished(other.state));
  if (rest.length === 0) return;
  deps.queue.append(rest.map((other) => ({ type: 'cancel' as const, id: other.id })));
  deps.log(`Task ${task.id} won group ${task.group}: ${rest.length} other task(s) cancelled.`);
}

/**
 * The task's environment values (tokens, often) never reach lessons.json, which is handed to
 * agents: a line that printed one shows `***` in its place.
 */
function masked(task: Task, lines: string[]): string[] {
  const secrets = Object.values(task.env ?? {}).filter((value) => value.length >= 4);
  if (secrets.length === 0) return lines;
  return lines.map((line) => secrets.reduce((text, secret) => text.split(secret).join('***'), line));
}
