import type { SandboxController } from '../controller';
import { describeError } from '../errors';
import { appendLesson, lastLines } from '../gates/lessons';
import { judgeChange } from '../gates/pipeline';
import { prepareGatedAttempt, readGateBase } from '../gates/prepare';
import type { GateLevel, GatePhase } from '../gates/types';
import type { SandboxRecord } from '../model';
import { pause } from '../util/pause';
import type { Task, TaskAttempt } from './model';
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
  await prepareGatedAttempt(deps.controller, deps.stateRoot, { taskId: task.id, number: attempt.number, workspace: task.workspace! }, record, deps.signal);
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
      lastOutput: await outputTail(run, paths, sizes),
      ...(task.keep ? { keep: true } : {}),
    },
  );
  if (verdict.passed) return { next: 'succeeded', ...(verdict.reason ? { reason: verdict.reason } : {}) };
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
    lastOutput: await outputTail(run, paths, sizes),
  }).catch((error) => deps.log(`Task ${task.id}: the lesson could not be written: ${describeError(error)}`));
}

async function waitForReview(deps: GatingDeps): Promise<{ decision: 'approve' | 'reject'; note?: string }> {
  for (;;) {
    if (deps.signal.aborted) throw new Error('The scheduler stopped while the change waited for review.');
    const review = deps.task()?.gate?.review;
    if (review) return { decision: review.decision, ...(review.note ? { note: review.note } : {}) };
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
