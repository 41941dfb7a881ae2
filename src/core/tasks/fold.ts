import { createHash } from 'node:crypto';
import { describeError } from '../errors';
import { GATE_LEVELS, GATE_PHASES, type GateLevel, type GatePhase } from '../gates/types';
import { isFinished, MAX_ATTEMPTS, normalizeSpec, TASK_STATES, type AttemptEnd, type Task, type TaskSpec, type TaskState } from './model';

/**
 * The lines of task_queue.jsonl (docs/tasks.md). Every event but a plain task object carries an
 * `eid`, unique per line written, so a line appended twice (an appender that saw the file swapped
 * by a compaction re-appends) counts once.
 */
export type QueueEvent =
  | { type: 'added'; eid: string; time: string; task: TaskSpec & { id: string } }
  | { type: 'assigned'; eid: string; time: string; id: string; attempt: number; sandboxId: string; sandboxName: string; placement: string; warm: boolean }
  | { type: 'started'; eid: string; time: string; id: string; attempt: number }
  | {
      type: 'ended';
      eid: string;
      time: string;
      id: string;
      attempt: number;
      end: AttemptEnd;
      exitCode?: number | null;
      signal?: string;
      reason?: string;
      /** What the task is now: finished, or queued again for another attempt. */
      next: 'succeeded' | 'failed' | 'cancelled' | 'queued';
    }
  | { type: 'cancel'; eid: string; time: string; id: string }
  | { type: 'retry'; eid: string; time: string; id: string }
  /** The scheduler cannot place a queued task (an unknown profile, a sandbox that cannot be made). */
  | { type: 'rejected'; eid: string; time: string; id: string; reason: string }
  /** Where the gates are with an attempt's change (docs/gates.md). */
  | { type: 'gate'; eid: string; time: string; id: string; attempt: number; phase: GatePhase; level?: GateLevel; reason?: string }
  /** A person's decision on a change waiting for review. */
  | { type: 'review'; eid: string; time: string; id: string; decision: 'approve' | 'reject'; note?: string }
  /** Written by compaction: a task's whole state. */
  | { type: 'snapshot'; task: Task }
  /** Written by compaction: the eids of the lines it folded, so one appended again after it counts once. */
  | { type: 'seen'; eids: string[] };

const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** A line that could not be used, with its number in the file read, and why. */
export interface QueueProblem {
  line: number;
  problem: string;
}

/**
 * The state of the queue: the fold of its lines. Lines are applied in file order; a line that
 * does not apply (an unknown task, a stale attempt, a duplicate) changes nothing.
 */
export class TaskBook {
  /** In the order tasks were added: FIFO within a priority. */
  readonly tasks = new Map<string, Task>();
  readonly problems: QueueProblem[] = [];
  private readonly byKey = new Map<string, string>();
  private readonly seen = new Set<string>();
  /** eids of event lines (not of `seen` lines): what the next compaction must remember. */
  private readonly folded: string[] = [];
  /** How many plain task lines with the same text came before, so each gets its own stable id. */
  private readonly plainCounts = new Map<string, number>();
  /** Tasks changed since the last `takeChanged`, for callers that react to changes. */
  private changed = new Set<string>();

  get(id: string): Task | undefined {
    return this.tasks.get(id);
  }

  takeChanged(): Task[] {
    const ids = [...this.changed];
    this.changed = new Set();
    return ids.map((id) => this.tasks.get(id)).filter((task): task is Task => task !== undefined);
  }

  byIdempotencyKey(key: string): Task | undefined {
    const id = this.byKey.get(key);
    return id === undefined ? undefined : this.tasks.get(id);
  }

  /** Applies one line of text (without its newline). True when it was an event line whose eid had not been seen. */
  applyLine(text: string, lineNumber: number): boolean {
    if (text.trim() === '') return false;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.problems.push({ line: lineNumber, problem: 'not JSON (a write cut short, or not written by a queue writer); skipped' });
      return false;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.problems.push({ line: lineNumber, problem: 'not a JSON object; skipped' });
      return false;
    }
    const record = value as Record<string, unknown>;
    const fresh = record.type !== undefined && typeof record.eid === 'string' && !this.seen.has(record.eid);
    try {
      if (record.type === undefined) this.applyPlain(text, record);
      else this.apply(record as unknown as QueueEvent);
    } catch (error) {
      this.problems.push({ line: lineNumber, problem: `${describeError(error)} Skipped.` });
      return false;
    }
    return fresh;
  }

  /** A plain task object from another tool: "add this task", with an id from its text. */
  private applyPlain(text: string, record: Record<string, unknown>): void {
    const spec = normalizeSpec(record);
    const digest = createHash('sha256').update(text).digest('hex').slice(0, 10);
    const occurrence = this.plainCounts.get(digest) ?? 0;
    this.plainCounts.set(digest, occurrence + 1);
    const id = `t${digest}${occurrence ? `-${occurrence}` : ''}`;
    const time = typeof record.time === 'string' && !Number.isNaN(Date.parse(record.time)) ? record.time : new Date().toISOString(); // when first read: a plain line carries no time
    this.add({ ...spec, id }, time);
  }

  apply(event: QueueEvent): void {
    if ('eid' in event) {
      if (typeof event.eid !== 'string') throw new Error('The line has no event id.');
      if (this.seen.has(event.eid)) return;
      this.seen.add(event.eid);
      this.folded.push(event.eid);
    }
    switch (event.type) {
      case 'added': {
        const spec = normalizeSpec(event.task as unknown as Record<string, unknown>) as TaskSpec & { id: string };
        spec.id = String(event.task.id);
        return this.add(spec, event.time);
      }
      case 'snapshot':
        return this.restore(event.task);
      case 'seen':
        for (const eid of event.eids ?? []) this.seen.add(eid);
        return;
      case 'cancel':
        return this.cancel(event.id, event.time);
      case 'retry':
        return this.retry(event.id, event.time);
      case 'rejected':
        return this.rejected(event.id, event.time, event.reason);
      case 'assigned':
      case 'started':
      case 'ended':
        return this.attempt(event);
      case 'gate':
        return this.gate(event);
      case 'review':
        return this.review(event);
      default:
        throw new Error(`The event type "${String((event as { type: unknown }).type)}" is not known.`);
    }
  }

  private add(spec: TaskSpec & { id: string }, time: string): void {
    if (!TASK_ID.test(spec.id)) throw new Error(`The task id "${spec.id}" is not an id.`);
    if (this.tasks.has(spec.id)) return;
    if (spec.idempotencyKey !== undefined && this.byKey.has(spec.idempotencyKey)) return;
    // The spec is this fold's own object (normalizeSpec made it): it becomes the task, uncopied.
    const task = spec as Task;
    task.state = 'queued';
    task.createdAt = time;
    task.updatedAt = time;
    task.attempts = [];
    this.put(task);
  }

  private restore(task: Task): void {
    if (typeof task?.id !== 'string' || !Array.isArray(task.attempts)) throw new Error('The snapshot line holds no task.');
    if (!TASK_ID.test(task.id)) throw new Error(`The task id "${task.id}" is not an id.`);
    if (!TASK_STATES.includes(task.state)) throw new Error(`The snapshot's state "${String(task.state)}" is not a task state.`);
    // A task's `attempts` is its list of attempts; the spec's count of attempts is `maxAttempts`.
    const { attempts: _attempts, ...fields } = task;
    const spec = normalizeSpec(fields as unknown as Record<string, unknown>);
    this.tasks.delete(task.id);
    this.put({ ...task, ...spec });
    // A plain line with the same text appended after a compaction is another task: count this one.
    const plain = /^t([0-9a-f]{10})(?:-([1-9][0-9]*))?$/.exec(task.id);
    if (plain) this.plainCounts.set(plain[1]!, Math.max(this.plainCounts.get(plain[1]!) ?? 0, Number(plain[2] ?? 0) + 1));
  }

  private put(task: Task): void {
    this.tasks.set(task.id, task);
    if (task.idempotencyKey !== undefined) this.byKey.set(task.idempotencyKey, task.id);
    this.changed.add(task.id);
  }

  private touch(task: Task, time: string, state?: TaskState): void {
    if (state) task.state = state;
    task.updatedAt = time;
    this.changed.add(task.id);
  }

  private cancel(id: string, time: string): void {
    const task = this.tasks.get(id);
    if (!task || isFinished(task.state)) return;
    if (task.state === 'queued') {
      task.reason = 'Cancelled before it was placed.';
      this.touch(task, time, 'cancelled');
    } else {
      task.cancelRequested = true;
      this.touch(task, time);
    }
  }

  private rejected(id: string, time: string, reason: string): void {
    const task = this.tasks.get(id);
    if (!task || task.state !== 'queued') return;
    task.reason = typeof reason === 'string' ? reason.slice(0, 500) : 'It could not be placed.';
    this.touch(task, time, 'failed');
  }

  private gate(event: Extract<QueueEvent, { type: 'gate' }>): void {
    const task = this.tasks.get(event.id);
    if (!task || !GATE_PHASES.includes(event.phase) || (event.level !== undefined && !GATE_LEVELS.includes(event.level))) return;
    if (!Number.isInteger(event.attempt) || event.attempt !== task.attempts.length) return;
    // A decision made on this attempt's change stays with it when the gates look again after a restart.
    const review = task.gate?.attempt === event.attempt ? task.gate.review : undefined;
    task.gate = { attempt: event.attempt, phase: event.phase };
    if (event.level) task.gate.level = event.level;
    if (typeof event.reason === 'string') task.gate.reason = event.reason.slice(0, 500);
    if (review) task.gate.review = review;
    this.touch(task, event.time);
  }

  private review(event: Extract<QueueEvent, { type: 'review' }>): void {
    const task = this.tasks.get(event.id);
    if (!task?.gate || task.gate.phase !== 'review' || task.gate.review) return;
    if (event.decision !== 'approve' && event.decision !== 'reject') return;
    task.gate.review = { decision: event.decision, time: event.time };
    if (typeof event.note === 'string' && event.note !== '') task.gate.review.note = event.note.slice(0, 2000);
    this.touch(task, event.time);
  }

  private retry(id: string, time: string): void {
    const task = this.tasks.get(id);
    if (!task || (task.state !== 'failed' && task.state !== 'cancelled') || task.attempts.length >= MAX_ATTEMPTS) return;
    task.maxAttempts = task.attempts.length + 1;
    delete task.reason;
    delete task.cancelRequested;
    this.touch(task, time, 'queued');
  }

  private attempt(event: Extract<QueueEvent, { type: 'assigned' | 'started' | 'ended' }>): void {
    const task = this.tasks.get(event.id);
    if (!task) return;
    const last = task.attempts[task.attempts.length - 1];
    if (event.type === 'assigned') {
      if (task.state !== 'queued' || event.attempt !== task.attempts.length + 1) return;
      task.attempts.push({
        number: event.attempt,
        sandboxId: event.sandboxId,
        sandboxName: event.sandboxName,
        placement: event.placement,
        warm: event.warm,
        assignedAt: event.time,
      });
      return this.touch(task, event.time, 'assigned');
    }
    if (!last || last.number !== event.attempt || last.end !== undefined) return;
    if (event.type === 'started') {
      last.startedAt = event.time;
      return this.touch(task, event.time, 'running');
    }
    last.endedAt = event.time;
    last.end = event.end;
    if (event.exitCode !== undefined) last.exitCode = event.exitCode;
    if (event.signal !== undefined) last.signal = event.signal;
    if (event.reason !== undefined) last.reason = event.reason;
    if (event.next === 'queued') {
      delete task.cancelRequested;
    } else if (event.next !== 'succeeded') {
      task.reason = event.reason ?? (event.exitCode !== undefined ? `The command exited with ${event.exitCode}.` : 'The attempt ended.');
    }
    this.touch(task, event.time, event.next);
  }

  /** The lines a compaction writes: every task's state, oldest first, then the eids folded. */
  snapshotLines(keep: (task: Task) => boolean): string[] {
    const lines: string[] = [];
    for (const task of this.tasks.values()) if (keep(task)) lines.push(JSON.stringify({ type: 'snapshot', task }));
    return lines;
  }

  /** The eids of the event lines folded (a compaction's own `seen` list is not carried on again). */
  foldedEids(): string[] {
    return [...this.folded];
  }
}
