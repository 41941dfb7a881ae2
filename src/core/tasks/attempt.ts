import type { SandboxController } from '../controller';
import { cancelledError, describeError, isSandboxError } from '../errors';
import type { EventInput } from '../events/types';
import { discardGateWork } from '../gates/rollback';
import type { SandboxRecord } from '../model';
import { writeFileAtomic } from '../store/files';
import { pause } from '../util/pause';
import { SAVED_OUTPUT_BYTES, savedOutputFile } from './client';
import type { TaskBook } from './fold';
import { gateSucceededCommand, prepareGates, recordFailedCommand, type GatingDeps } from './gating';
import { IDEMPOTENCY_ENV, TASK_ATTEMPT_ENV, TASK_ID_ENV, type AttemptEnd, type Task, type TaskAttempt } from './model';
import type { TaskQueue } from './queue';
import {
  attemptPaths,
  cancelSupervised,
  inspectSupervised,
  launchSupervised,
  readSupervisedOutput,
  type AttemptPaths,
  type SandboxRun,
  type SupervisedState,
} from './supervisor';

export interface AttemptDeps {
  controller: SandboxController;
  stateRoot: string;
  queue: TaskQueue;
  /** The queue's state now (the runner re-reads the task for cancel requests). */
  book: () => TaskBook;
  graceMs: () => number;
  /** Destroys a finished attempt's sandbox, off the runner's path. */
  destroy: (record: SandboxRecord) => void;
  log: (message: string) => void;
  pollMs: number;
}

/** How long one look waits in the sandbox for the command to end: it answers at once when it does. */
const WAIT_MS = 1000;

type Next = 'succeeded' | 'failed' | 'cancelled' | 'queued';

/**
 * Carries one attempt of a task from `assigned` to its end: pushes the workspace, starts the
 * command under the in-sandbox supervisor (or finds it started: a scheduler restarted mid-way
 * never starts it twice), watches it, and writes how it ended. A sandbox that dies or a machine
 * that stays silent past the grace period ends the attempt so the task can move elsewhere.
 */
export class AttemptRunner {
  private readonly stopped = new AbortController();
  private cancelSent = false;

  constructor(
    private readonly deps: AttemptDeps,
    readonly taskId: string,
    readonly attempt: TaskAttempt,
    /** Whether this process just assigned the attempt (nothing can have started it yet). */
    private readonly fresh = false,
  ) {}

  /** Stops watching (the scheduler is stopping); the command goes on in the sandbox. */
  detach(): void {
    this.stopped.abort();
  }

  async run(): Promise<void> {
    const task = this.task();
    if (!task) return;
    let record: SandboxRecord;
    try {
      record = await this.deps.controller.resolve(this.attempt.sandboxId!);
    } catch (error) {
      return this.end('sandbox-lost', `Its sandbox ${this.attempt.sandboxName ?? ''} is gone (${describeError(error)}).`);
    }
    const run: SandboxRun = (request) => this.deps.controller.inspectExec(record.id, request);
    const paths = attemptPaths(record, task.id, this.attempt.number);
    if (this.attempt.startedAt === undefined) {
      try {
        await this.launch(task, record, run, paths);
      } catch (error) {
        if (this.stopped.signal.aborted) return;
        if (isSandboxError(error, 'cancelled')) return this.end('cancelled', 'Cancelled before its command started.', record);
        const lost = await this.sandboxProblem(record);
        if (lost) return this.end('sandbox-lost', lost, record);
        return this.end('launch-failed', describeError(error), record);
      }
    }
    await this.watch(record, run, paths);
  }

  private task(): Task | undefined {
    return this.deps.book().get(this.taskId);
  }

  private async launch(task: Task, record: SandboxRecord, run: SandboxRun, paths: AttemptPaths): Promise<void> {
    // A runner that did not just assign the task (a restarted scheduler) looks first: if the
    // command started, the workspace must not be pushed again over its work.
    const state = this.fresh ? { started: false } : await inspectSupervised(run, paths);
    if (!state.started) {
      if (task.workspace && task.gates) await prepareGates(this.gating(), task, this.attempt, record);
      else if (task.workspace) await this.deps.controller.push(record.id, { localRoot: task.workspace, signal: this.stopped.signal });
      if (this.task()?.cancelRequested) throw cancelledError('The task');
      const env = {
        ...task.env,
        [TASK_ID_ENV]: task.id,
        [TASK_ATTEMPT_ENV]: String(this.attempt.number),
        [IDEMPOTENCY_ENV]: task.idempotencyKey ?? task.id,
      };
      await launchSupervised(run, paths, { command: task.command, cwd: record.workdir, env, timeoutMs: task.timeoutMs });
    }
    this.deps.queue.append([{ type: 'started', id: task.id, attempt: this.attempt.number }]);
    await this.emit({ type: 'task.started', sandboxId: record.id, taskId: task.id, attempt: this.attempt.number });
  }

  private async watch(record: SandboxRecord, run: SandboxRun, paths: AttemptPaths): Promise<void> {
    let silentSince: number | undefined;
    while (!this.stopped.signal.aborted) {
      if (this.task()?.cancelRequested && !this.cancelSent) {
        this.cancelSent = true;
        cancelSupervised(run, paths).catch((error) => this.deps.log(`Task ${this.taskId}: the cancel did not reach the sandbox: ${describeError(error)}`));
      }
      let state: SupervisedState;
      try {
        state = await inspectSupervised(run, paths, WAIT_MS);
        silentSince = undefined;
      } catch (error) {
        const lost = await this.sandboxProblem(record);
        if (lost) return this.end('sandbox-lost', lost, record);
        silentSince ??= Date.now();
        if (Date.now() - silentSince > this.deps.graceMs()) {
          return this.end(
            'machine-unreachable',
            `Its machine did not answer for ${Math.round(this.deps.graceMs() / 1000)} s (${describeError(error)}).`,
            record,
          );
        }
        await this.pause();
        continue;
      }
      if (state.exit) return this.endByExit(state, record);
      if (!state.started) {
        return this.end('sandbox-lost', "The command's start marker is gone from the sandbox (its files were removed or the sandbox was replaced).", record);
      }
      if (!state.alive) {
        // The supervisor may have written its exit file just after our look: look once more.
        const again = await inspectSupervised(run, paths).catch(() => state);
        if (again.exit) return this.endByExit(again, record);
        return this.end('sandbox-lost', "The command's supervisor is gone (the sandbox restarted under it).", record);
      }
      await this.pause();
    }
  }

  private async endByExit(state: SupervisedState, record: SandboxRecord): Promise<void> {
    const exit = state.exit!;
    const outcome = { exitCode: exit.exitCode, ...(exit.signal ? { signal: exit.signal } : {}) };
    const sizes = { stdout: state.stdoutBytes, stderr: state.stderrBytes };
    if (this.task()?.cancelRequested) return this.end('cancelled', 'Cancelled while it ran.', record, outcome, sizes);
    if (exit.outOfMemory) return this.end('out-of-memory', 'The sandbox ran out of memory and the command was killed.', record, outcome, sizes);
    if (exit.timedOut) return this.end('timed-out', 'The command ran past its timeout and was killed.', record, outcome, sizes);
    const task = this.task();
    if (task?.gates && task.workspace) return this.endGated(task, record, outcome, sizes);
    return this.end('exited', undefined, record, outcome, sizes);
  }

  /** A gated command's end: the gates judge an exit 0; a failure is recorded as a lesson. */
  private async endGated(
    task: Task,
    record: SandboxRecord,
    outcome: { exitCode?: number | null; signal?: string },
    sizes: { stdout: number; stderr: number },
  ): Promise<void> {
    const run: SandboxRun = (request) => this.deps.controller.inspectExec(record.id, request);
    const paths = attemptPaths(record, task.id, this.attempt.number);
    if (outcome.exitCode !== 0) {
      const reason = `The command exited with ${outcome.exitCode ?? outcome.signal ?? 'a signal'}; its change was not judged and the workspace is unchanged.`;
      await recordFailedCommand(this.gating(), task, this.attempt, run, paths, reason, sizes);
      return this.end('exited', reason, record, outcome, sizes);
    }
    let verdict: { next: 'succeeded' | 'failed'; reason?: string };
    try {
      verdict = await gateSucceededCommand(this.gating(), task, this.attempt, record, run, paths, sizes);
    } catch (error) {
      if (this.stopped.signal.aborted) return; // the next scheduler judges it again
      verdict = { next: 'failed', reason: `Its gates could not run: ${describeError(error)}` };
      this.deps.queue.append([{ type: 'gate', id: task.id, attempt: this.attempt.number, phase: 'failed', level: 'L0', reason: verdict.reason! }]);
    }
    return this.end('exited', verdict.reason, record, outcome, sizes, verdict.next);
  }

  private gating(): GatingDeps {
    return {
      controller: this.deps.controller,
      stateRoot: this.deps.stateRoot,
      queue: this.deps.queue,
      task: () => this.task(),
      log: this.deps.log,
      pollMs: this.deps.pollMs,
      signal: this.stopped.signal,
    };
  }

  /** Says what is wrong with the sandbox when it is not running any more, or undefined when it is (or cannot be told). */
  private async sandboxProblem(record: SandboxRecord): Promise<string | undefined> {
    try {
      const now = await this.deps.controller.status(record.id);
      return now.state === 'running' ? undefined : `Its sandbox ${record.name} is ${now.state}${now.problem ? ` (${now.problem})` : ''}.`;
    } catch (error) {
      return isSandboxError(error, 'not-found') ? `Its sandbox ${record.name} is gone.` : undefined;
    }
  }

  private async end(
    end: AttemptEnd,
    reason: string | undefined,
    record?: SandboxRecord,
    outcome: { exitCode?: number | null; signal?: string } = {},
    sizes?: { stdout: number; stderr: number },
    /** The gates' decision on a command that exited 0. */
    decided?: 'succeeded' | 'failed',
  ): Promise<void> {
    const task = this.task();
    // A detached runner (its scheduler stopping) leaves the end to the next scheduler.
    if (!task || this.stopped.signal.aborted) return;
    let next = decided && !task.cancelRequested ? decided : nextState(task, end, outcome.exitCode);
    if (next === 'succeeded' && task.resultDir && record) {
      try {
        await this.deps.controller.pull(record.id, { localRoot: task.resultDir });
      } catch (error) {
        next = 'failed';
        reason = `The command succeeded but its results could not be pulled to ${task.resultDir}: ${describeError(error)}`;
      }
    }
    // Kept before the end is written: whoever sees the task ended finds its output.
    if (record && end !== 'sandbox-lost' && end !== 'machine-unreachable') await this.saveOutput(record, sizes);
    this.deps.queue.append([
      {
        type: 'ended',
        id: task.id,
        attempt: this.attempt.number,
        end,
        next,
        ...(outcome.exitCode !== undefined ? { exitCode: outcome.exitCode } : {}),
        ...(outcome.signal ? { signal: outcome.signal } : {}),
        ...(reason ? { reason } : {}),
      },
    ]);
    if (record) {
      await this.emit({
        type: 'task.ended',
        sandboxId: record.id,
        taskId: task.id,
        attempt: this.attempt.number,
        end,
        next,
        ...(outcome.exitCode !== undefined ? { exitCode: outcome.exitCode } : {}),
        durationMs: Date.now() - Date.parse(this.attempt.assignedAt),
      });
    }
    this.deps.log(`Task ${task.id} attempt ${this.attempt.number}: ${end}${reason ? ` (${reason})` : ''}; now ${next}.`);
    // The pre-task snapshot and local copies are no longer needed once the end is written.
    if (task.gates) await discardGateWork(this.deps.controller, this.deps.stateRoot, task.id, this.attempt.number).catch(() => undefined);
    // Destroyed in the background: the slot is free as soon as the task has ended.
    if (record && !task.keep) this.deps.destroy(record);
  }

  /** Keeps the attempt's output (its first SAVED_OUTPUT_BYTES per stream) in the state dir, for after its sandbox is gone. */
  private async saveOutput(record: SandboxRecord, sizes?: { stdout: number; stderr: number }): Promise<void> {
    if (this.attempt.startedAt === undefined && this.task()?.attempts.at(-1)?.startedAt === undefined) return;
    const run: SandboxRun = (request) => this.deps.controller.inspectExec(record.id, request);
    const paths = attemptPaths(record, this.taskId, this.attempt.number);
    for (const stream of ['stdout', 'stderr'] as const) {
      try {
        const chunks: Buffer[] = [];
        let offset = 0;
        // The sizes the last look saw are final (the supervisor writes its exit file last): no read past them.
        const limit = Math.min(SAVED_OUTPUT_BYTES, sizes ? sizes[stream] : SAVED_OUTPUT_BYTES);
        while (offset < limit) {
          const { data, nextOffset } = await readSupervisedOutput(run, paths, stream, offset, Math.min(1024 * 1024, limit - offset));
          if (data.length === 0) break;
          chunks.push(data);
          offset = nextOffset;
        }
        await writeFileAtomic(savedOutputFile(this.deps.stateRoot, this.taskId, this.attempt.number, stream), Buffer.concat(chunks));
      } catch (error) {
        this.deps.log(`Task ${this.taskId}: its ${stream} could not be kept: ${describeError(error)}`);
      }
    }
  }

  /** Tells the bus (and so the sandbox's journal and events.jsonl); a journal that cannot be written stops nothing here. */
  private async emit(event: EventInput): Promise<void> {
    await this.deps.controller.events.emit(event).catch((error) => this.deps.log(`Task ${this.taskId}: ${describeError(error)}`));
  }

  private pause(): Promise<void> {
    return pause(this.deps.pollMs, this.stopped.signal);
  }
}

/** What a task becomes when an attempt ends: machine failures move it on while attempts remain. */
export function nextState(task: Task, end: AttemptEnd, exitCode?: number | null): Next {
  if (end === 'cancelled' || task.cancelRequested) return 'cancelled';
  if (end === 'exited') return exitCode === 0 ? 'succeeded' : 'failed';
  const moves = end === 'sandbox-lost' || end === 'machine-unreachable' || end === 'out-of-memory';
  return moves && task.attempts.length < task.maxAttempts ? 'queued' : 'failed';
}
