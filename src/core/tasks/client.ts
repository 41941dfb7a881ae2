import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, statSync } from 'node:fs';
import * as path from 'node:path';
import type { SandboxController } from '../controller';
import { SandboxError } from '../errors';
import { findProfile, readTasksConfig } from './config';
import { GATES_FILE } from '../gates/config';
import { preTaskSnapshotName } from '../gates/paths';
import { MAX_ATTEMPTS, normalizeSpec, type Task, type TaskSpec, type TaskState } from './model';
import { TaskQueue } from './queue';
import { attemptPaths, readSupervisedOutput } from './supervisor';

/** Where a finished attempt's output is kept once its sandbox is gone. */
export function savedOutputFile(stateRoot: string, taskId: string, attempt: number, stream: 'stdout' | 'stderr'): string {
  return path.join(stateRoot, 'task-output', taskId, `${attempt}.${stream}`);
}

/** Gates are on by default for a workspace that has a gates file. */
function withDefaultGates(spec: TaskSpec): TaskSpec {
  if (spec.gates === undefined && spec.workspace !== undefined && existsSync(path.join(spec.workspace, GATES_FILE))) spec.gates = true;
  return spec;
}

/** Most bytes of each stream kept per attempt after its sandbox is gone (the end of the output). */
export const SAVED_OUTPUT_BYTES = 4 * 1024 * 1024;

/**
 * What the front ends (CLI, VS Code, agents) do with tasks: add them, look at them, cancel and
 * retry them. Every change is a line appended to task_queue.jsonl; the daemon's scheduler acts on it.
 */
export class TaskClient {
  readonly queue: TaskQueue;

  constructor(readonly stateRoot: string) {
    this.queue = new TaskQueue(stateRoot);
  }

  /** Adds a task (checked as hostile input); a task with the same idempotency key is returned instead. */
  async add(input: Record<string, unknown>): Promise<{ task: Task; existing: boolean }> {
    const spec = withDefaultGates(normalizeSpec(input));
    await this.check(spec.profile, spec.workspace);
    if (spec.idempotencyKey !== undefined) {
      const existing = this.queue.load().byIdempotencyKey(spec.idempotencyKey);
      if (existing) return { task: existing, existing: true };
    }
    const id = `t${randomBytes(4).toString('hex')}`;
    this.queue.append([{ type: 'added', task: { ...spec, id } }]);
    const task = this.queue.load().get(id) ?? this.queue.load().byIdempotencyKey(spec.idempotencyKey ?? '');
    if (!task) throw new SandboxError('conflict', `The task was written to ${this.queue.file} but does not read back; check the file.`);
    return { task, existing: task.id !== id };
  }

  /**
   * Adds every task of a file of JSON lines (plain task objects): all of them, or, when one line
   * is wrong, none, with the line named.
   */
  async importFile(file: string): Promise<Task[]> {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      throw new SandboxError('not-found', `The file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); give a file of task lines.`);
    }
    const specs = [];
    for (const [index, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new SandboxError('invalid-input', `Line ${index + 1} of ${file} is not JSON; nothing was imported.`);
      }
      try {
        const spec = withDefaultGates(normalizeSpec((value ?? {}) as Record<string, unknown>));
        await this.check(spec.profile, spec.workspace);
        specs.push(spec);
      } catch (error) {
        throw new SandboxError('invalid-input', `Line ${index + 1} of ${file}: ${(error as Error).message} Nothing was imported.`);
      }
    }
    if (specs.length === 0) throw new SandboxError('invalid-input', `${file} holds no task; give one JSON object per line.`);
    const ids = specs.map(() => `t${randomBytes(4).toString('hex')}`);
    this.queue.append(specs.map((spec, i) => ({ type: 'added' as const, task: { ...spec, id: ids[i]! } })));
    const book = this.queue.load();
    return ids.map((id) => book.get(id)).filter((task): task is Task => task !== undefined);
  }

  private async check(profile: string, workspace: string | undefined): Promise<void> {
    findProfile(await readTasksConfig(this.stateRoot), profile);
    if (workspace !== undefined) {
      let isDirectory = false;
      try {
        isDirectory = statSync(workspace).isDirectory();
      } catch {
        // reported below
      }
      if (!isDirectory) throw new SandboxError('invalid-input', `The workspace ${workspace} is not a folder; give an existing folder to push.`);
    }
  }

  list(state?: TaskState): Task[] {
    const tasks = [...this.queue.load().tasks.values()];
    return state ? tasks.filter((task) => task.state === state) : tasks;
  }

  /** The pre-task snapshots of attempts not ended yet, each with who needs it: a prune must leave them. */
  snapshotHolders(): Map<string, string> {
    const holders = new Map<string, string>();
    for (const task of this.list()) {
      for (const attempt of task.attempts) if (attempt.end === undefined) holders.set(preTaskSnapshotName(task.id, attempt.number), `task ${task.id}`);
    }
    return holders;
  }

  /** A task by id or a unique prefix of it. */
  resolve(ref: string): Task {
    const book = this.queue.load();
    const exact = book.get(ref);
    if (exact) return exact;
    const matches = [...book.tasks.values()].filter((task) => task.id.startsWith(ref));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1)
      throw new SandboxError(
        'ambiguous',
        `"${ref}" matches ${matches.length} tasks (${matches
          .slice(0, 3)
          .map((t) => t.id)
          .join(', ')}...); give more of the id.`,
      );
    throw new SandboxError('not-found', `There is no task "${ref}"; see \`sandbox task list\`.`);
  }

  cancel(ref: string): Task {
    const task = this.resolve(ref);
    if (task.state === 'succeeded' || task.state === 'failed' || task.state === 'cancelled') {
      throw new SandboxError('wrong-state', `Task ${task.id} has already ${task.state === 'cancelled' ? 'been cancelled' : task.state}; nothing to cancel.`);
    }
    this.queue.append([{ type: 'cancel', id: task.id }]);
    return this.resolve(task.id);
  }

  retry(ref: string): Task {
    const task = this.resolve(ref);
    if (task.state !== 'failed' && task.state !== 'cancelled') {
      throw new SandboxError('wrong-state', `Task ${task.id} is ${task.state}; only a failed or cancelled task can be retried.`);
    }
    if (task.attempts.length >= MAX_ATTEMPTS) {
      throw new SandboxError('wrong-state', `Task ${task.id} has had ${task.attempts.length} attempts, the most a task may have; add it again as a new task.`);
    }
    this.queue.append([{ type: 'retry', id: task.id }]);
    return this.resolve(task.id);
  }

  /** A person's decision on a change waiting for review: approve applies it, reject rolls it back (with the note as a lesson). */
  review(ref: string, decision: 'approve' | 'reject', note?: string): Task {
    const task = this.resolve(ref);
    if (task.gate?.phase !== 'review') {
      const where = task.gate ? `its change is ${task.gate.phase}` : 'it has no change under review';
      throw new SandboxError('wrong-state', `Task ${task.id} is not waiting for review (${where}); see \`sandbox task show ${task.id}\`.`);
    }
    if (task.gate.review)
      throw new SandboxError('wrong-state', `Task ${task.id} was already ${task.gate.review.decision === 'approve' ? 'approved' : 'rejected'}.`);
    this.queue.append([{ type: 'review', id: task.id, decision, ...(note ? { note } : {}) }]);
    return this.resolve(task.id);
  }

  /**
   * Output of a task's latest attempt from `offset`: from its sandbox while it runs, from the state
   * dir once it ended and its sandbox is gone. Empty when nothing ran yet.
   */
  async output(controller: SandboxController, task: Task, stream: 'stdout' | 'stderr', offset: number): Promise<{ data: Buffer; nextOffset: number }> {
    const attempt = task.attempts[task.attempts.length - 1];
    if (!attempt?.startedAt) return { data: Buffer.alloc(0), nextOffset: offset };
    const saved = savedOutputFile(this.stateRoot, task.id, attempt.number, stream);
    try {
      const data = await fs.readFile(saved);
      return { data: data.subarray(offset), nextOffset: Math.max(offset, data.length) };
    } catch {
      // not saved yet: read it from the sandbox
    }
    if (!attempt.sandboxId) return { data: Buffer.alloc(0), nextOffset: offset };
    try {
      const record = await controller.resolve(attempt.sandboxId);
      return await readSupervisedOutput((request) => controller.inspectExec(record.id, request), attemptPaths(record, task.id, attempt.number), stream, offset);
    } catch {
      return { data: Buffer.alloc(0), nextOffset: offset };
    }
  }
}
