import * as path from 'node:path';
import type { SandboxController } from '../controller';
import { describeError } from '../errors';
import { GATES_AGENT_PREFIX } from '../gates/freshRun';
import type { SandboxRecord } from '../model';
import { writeFileAtomic } from '../store/files';
import { AttemptRunner } from './attempt';
import { BackgroundWork } from './background';
import { PlacementBoard } from './board';
import { Claims } from './claims';
import { findProfile, readSchedulerConfig, type TasksConfig } from './config';
import type { TaskBook } from './fold';
import { currentAttempt, type Task } from './model';
import { placementOrder } from './ordering';
import { targetKeyOf } from './placement';
import { WarmPool, type PoolStatus } from './pool';
import { COMPACT_AFTER_LINES, TaskQueue } from './queue';

/** How long a stop waits for sandboxes being made or destroyed. */
const STOP_WAIT_MS = 60_000;

export const SCHEDULER_STATUS_FILE = 'scheduler-status.json';
/** A task whose sandbox could not be made this many times in a row fails. */
const MAX_CREATE_FAILURES = 3;
/** How often sandboxes of ended tasks are looked for. */
const SWEEP_EVERY_MS = 30_000;

export interface SchedulerOptions {
  controller: SandboxController;
  stateRoot: string;
  log?: (message: string) => void;
  /** How often the queue and the machines are looked at. */
  tickMs?: number;
  /** How often a running command's state is read from its sandbox. */
  pollMs?: number;
}

/** What the scheduler shows of itself (scheduler-status.json, for the CLI and VS Code). */
export interface SchedulerStatus {
  pid: number;
  updatedAt: string;
  queued: number;
  placed: number;
  pools: PoolStatus[];
  placements: { key: string; reachable: boolean; problem?: string; cpus: number; memory: number; declared: boolean; tasks: number }[];
  problems: string[];
}

/**
 * Places queued tasks, by priority, each in its own sandbox: a warm one from its profile's pool
 * when there is one, else a new one on the machine with the most room, within the limits; keeps
 * the pools filled and trimmed; and carries each placed task to its end (AttemptRunner).
 */
export class Scheduler {
  readonly queue: TaskQueue;
  private readonly controller: SandboxController;
  private readonly log: (message: string) => void;
  private readonly tickMs: number;
  private readonly pollMs: number;
  private readonly claims: Claims;
  private readonly board: PlacementBoard;
  private readonly pool: WarmPool;
  private readonly runners = new Map<string, AttemptRunner>();
  /** Tasks whose new sandbox is being made: taskId -> placement key. */
  private readonly placing = new Map<string, string>();
  private readonly createFailures = new Map<string, number>();
  private readonly destroying = new Set<string>();
  private sweptAt = 0;
  private book: TaskBook;
  private config?: TasksConfig;
  private stopping = false;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private readonly background = new BackgroundWork();

  constructor(private readonly options: SchedulerOptions) {
    this.controller = options.controller;
    this.queue = new TaskQueue(options.stateRoot);
    this.log = options.log ?? (() => undefined);
    this.tickMs = options.tickMs ?? 300;
    this.pollMs = options.pollMs ?? 250;
    this.claims = new Claims(options.stateRoot);
    this.board = new PlacementBoard(this.controller, this.log);
    this.pool = new WarmPool({ controller: this.controller, claims: this.claims, board: this.board, log: this.log, background: this.background });
    this.book = this.queue.load();
  }

  async start(): Promise<void> {
    this.config = await readSchedulerConfig(this.options.stateRoot);
    await this.claims.load();
    this.book = this.queue.load();
    for (const problem of this.queue.problems()) this.log(problem);
    // A claim no task names was written by a scheduler that died before its `assigned` line.
    const named = new Set([...this.book.tasks.values()].flatMap((task) => task.attempts.map((a) => a.sandboxId)));
    await this.claims.retain((id) => named.has(id));
    await this.board.refresh(this.config, true);
    this.schedule(0);
  }

  /** Stops placing and watching; commands already started go on in their sandboxes. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.ticking;
    for (const runner of this.runners.values()) runner.detach();
    // Sandboxes being made or destroyed finish first, so a stop leaves nothing half-done; but a
    // machine that stopped answering must not hold the stop: past the bound, the next
    // scheduler's sweep and reconcile finish what is left.
    const settled = await this.background.settled(STOP_WAIT_MS);
    if (!settled)
      this.log(`Scheduler: stopped with work still under way after ${STOP_WAIT_MS / 1000} s (a machine not answering); the next start finishes it.`);
  }

  private schedule(delay: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick()
        .catch((error) => this.log(`Scheduler: ${describeError(error)}`))
        .finally(() => {
          this.ticking = undefined;
          this.schedule(this.tickMs);
        });
    }, delay);
  }

  /** One look at everything: the queue, the placed tasks, the pools. */
  async tick(): Promise<void> {
    const config = await readSchedulerConfig(this.options.stateRoot).then(
      (fresh) => (this.config = fresh),
      (error) => {
        this.log(describeError(error));
        return this.config!;
      },
    );
    if (this.queue.linesSinceCompaction > COMPACT_AFTER_LINES) this.queue.compact();
    const records = await this.controller.list();
    await this.board.refresh(config);
    // Read after the waits above: a runner that ended meanwhile has written its end line before
    // leaving `runners`, so an ended task is never watched a second time from a stale book.
    this.book = this.queue.load();
    for (const task of this.book.tasks.values()) {
      if ((task.state === 'assigned' || task.state === 'running') && !this.runners.has(task.id)) this.watch(task);
    }
    await this.place(config, records);
    this.pool.maintain(config, records);
    this.sweep(records);
    await this.writeStatus(config, records);
  }

  private active(): number {
    return this.runners.size + this.placing.size;
  }

  private watch(task: Task, fresh = false): void {
    const attempt = currentAttempt(task);
    if (!attempt) return;
    const runner = new AttemptRunner(
      {
        controller: this.controller,
        stateRoot: this.options.stateRoot,
        queue: this.queue,
        book: () => (this.book = this.queue.load()),
        graceMs: () => (this.config?.graceSeconds ?? 30) * 1000,
        destroy: (record) => this.destroy(record.id, record.name),
        log: this.log,
        pollMs: this.pollMs,
      },
      task.id,
      attempt,
      fresh,
    );
    this.runners.set(task.id, runner);
    this.background
      .track(runner.run())
      .catch((error) => this.log(`Task ${task.id}: ${describeError(error)}`))
      .finally(() => this.runners.get(task.id) === runner && this.runners.delete(task.id));
  }

  /** Destroys a sandbox whose task ended, once at a time per sandbox; a failure is tried again by the sweep. */
  private destroy(id: string, name: string): void {
    if (this.destroying.has(id)) return;
    this.destroying.add(id);
    this.background
      .track(this.controller.delete(id))
      .catch((error) => this.log(`Could not destroy ${name}: ${describeError(error)}`))
      .finally(() => this.destroying.delete(id));
  }

  /** Sandboxes of ended tasks still there (a destroy that failed, a scheduler that died before it): destroyed now. */
  private sweep(records: SandboxRecord[]): void {
    if (Date.now() - this.sweptAt < SWEEP_EVERY_MS) return;
    this.sweptAt = Date.now();
    const ended = new Map<string, Task>();
    for (const task of this.book.tasks.values()) {
      for (const attempt of task.attempts) if (attempt.end !== undefined && attempt.sandboxId && !task.keep) ended.set(attempt.sandboxId, task);
    }
    for (const record of records) {
      if (ended.has(record.id) && record.state !== 'creating' && ![...this.runners.values()].some((runner) => runner.attempt.sandboxId === record.id)) {
        this.destroy(record.id, record.name);
      }
      // A sandbox the gates made for a task nobody judges now (its scheduler died mid-way) goes too.
      const judged = record.agentId.startsWith(GATES_AGENT_PREFIX) ? record.agentId.slice(GATES_AGENT_PREFIX.length) : undefined;
      if (judged !== undefined && record.state !== 'creating' && !this.runners.has(judged)) this.destroy(record.id, record.name);
    }
  }

  /** How many placed tasks each machine and provider has, for the limits. */
  private placedCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    const bump = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
    for (const runner of this.runners.values()) {
      const key = runner.attempt.placement ?? 'docker';
      bump(key);
      bump(`provider:${key.split(':')[0]}`);
    }
    for (const key of this.placing.values()) {
      bump(key);
      bump(`provider:${key.split(':')[0]}`);
    }
    return counts;
  }

  private async place(config: TasksConfig, records: SandboxRecord[]): Promise<void> {
    // Tasks waiting for a new sandbox stay in the order: a warm one that comes free first goes to
    // the task first in line, and the sandbox being made joins the pool when it is ready.
    const queued = [...this.book.tasks.values()].filter((task) => task.state === 'queued' && !this.runners.has(task.id));
    if (queued.length === 0) return;
    for (const task of placementOrder(queued, Date.now(), config.agingMinutes * 60_000)) {
      const waiting = this.placing.has(task.id);
      if (!waiting && this.active() >= config.limits.global) return;
      let taskProfile;
      try {
        taskProfile = findProfile(config, task.profile);
      } catch (error) {
        this.reject(task, describeError(error));
        continue;
      }
      const counts = this.placedCounts();
      const allowed = (key: string): boolean => {
        const provider = key.split(':')[0] as keyof TasksConfig['limits']['perProvider'];
        const perPlacement = config.limits.perPlacement[key];
        const perProvider = config.limits.perProvider[provider];
        return (
          (perPlacement === undefined || (counts.get(key) ?? 0) < perPlacement) &&
          (perProvider === undefined || (counts.get(`provider:${provider}`) ?? 0) < perProvider)
        );
      };
      // A task that lost its machine goes elsewhere when it can.
      const avoid = new Set(task.attempts.filter((a) => a.end !== undefined && a.end !== 'exited').map((a) => a.placement ?? ''));
      const warm = await this.pool.claim(records, task.profile, waiting ? () => true : allowed, avoid);
      if (warm) {
        this.placing.delete(task.id);
        this.assign(task, warm, true);
        continue;
      }
      if (waiting) continue;
      const pool = config.pools[task.profile];
      if (pool && this.pool.members(records, task.profile) >= pool.max) continue;
      const view = this.board.choose(records, taskProfile, { avoid, allowed });
      if (!view) {
        const never = this.board.neverFits(taskProfile);
        if (never) this.reject(task, never);
        continue; // no machine has room now; it waits
      }
      this.placing.set(task.id, view.target.key);
      this.background.track(this.pool.create(config, task.profile, view)).then(
        async (record) => {
          this.placing.delete(task.id);
          this.createFailures.delete(task.id);
          const now = this.queue.load().get(task.id);
          // Cancelled meanwhile, or this scheduler is stopping: the sandbox joins the pool.
          if (now?.state !== 'queued' || this.stopping) return;
          await this.claims.add(record.id);
          this.assign(now, record, false);
        },
        (error) => {
          this.placing.delete(task.id);
          const failures = (this.createFailures.get(task.id) ?? 0) + 1;
          this.createFailures.set(task.id, failures);
          this.log(`Task ${task.id}: could not make its sandbox on ${view.target.key}: ${describeError(error)}`);
          if (failures >= MAX_CREATE_FAILURES) this.reject(task, `Its sandbox could not be made ${failures} times; last: ${describeError(error)}`);
        },
      );
    }
  }

  private assign(task: Task, record: SandboxRecord, warm: boolean): void {
    this.queue.append([
      {
        type: 'assigned',
        id: task.id,
        attempt: task.attempts.length + 1,
        sandboxId: record.id,
        sandboxName: record.name,
        placement: targetKeyOf(record),
        warm,
      },
    ]);
    this.book = this.queue.load();
    const placed = this.book.get(task.id);
    void this.background
      .track(
        this.controller.events.emit({
          type: 'task.placed',
          sandboxId: record.id,
          taskId: task.id,
          attempt: task.attempts.length + 1,
          placement: targetKeyOf(record),
          warm,
          priority: task.priority,
        }),
      )
      .catch((error) => this.log(`Task ${task.id}: ${describeError(error)}`));
    if (placed && placed.state === 'assigned') this.watch(placed, true);
  }

  private reject(task: Task, reason: string): void {
    this.log(`Task ${task.id} cannot be placed: ${reason}`);
    this.queue.append([{ type: 'rejected', id: task.id, reason }]);
    this.book = this.queue.load();
  }

  private async writeStatus(config: TasksConfig, records: SandboxRecord[]): Promise<void> {
    const counts = this.placedCounts();
    const tasks = [...this.book.tasks.values()];
    const status: SchedulerStatus = {
      pid: process.pid,
      updatedAt: new Date().toISOString(),
      queued: tasks.filter((task) => task.state === 'queued').length,
      placed: this.active(),
      pools: this.pool.status(config, records),
      placements: this.board.snapshot().map((view) => ({
        key: view.target.key,
        reachable: view.reachable,
        ...(view.problem ? { problem: view.problem } : {}),
        cpus: view.capacity.cpus,
        memory: view.capacity.memory,
        declared: view.capacity.declared,
        tasks: counts.get(view.target.key) ?? 0,
      })),
      problems: this.queue.problems().slice(0, 20),
    };
    await writeFileAtomic(path.join(this.options.stateRoot, SCHEDULER_STATUS_FILE), JSON.stringify(status, null, 2) + '\n');
  }
}
