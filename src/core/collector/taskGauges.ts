/**
 * The collector's numbers that are not a sandbox's sample: the task queue's depth and the tasks
 * running (from the queue file, read where the last round stopped), each ended task attempt's
 * duration, and each sandbox's cost so far this month (from the cost ledger; only cloud
 * sandboxes cost).
 */
import { monthFigures } from '../cost/budget';
import { CostLedger } from '../cost/ledger';
import { readBudgetSettings } from '../cost/settings';
import type { StateStore } from '../store/stateStore';
import { TaskQueue } from '../tasks/queue';
import type { CollectorPart } from './collector';
import type { CollectorStore, Gauge, IngestBatch } from './store';

export const QUEUE_DEPTH_GAUGE = 'queue_depth';
export const TASKS_RUNNING_GAUGE = 'tasks_running';
export const TASK_DURATION_GAUGE = 'task_duration_ms';
export const COST_GAUGE = 'cost_usd';

export interface TaskGaugesOptions {
  stateRoot: string;
  /** The records, to name a ledger's sandbox (kept by name) by its id. */
  records: Pick<StateStore, 'listRecords'>;
  intervalMs: number;
  clock?: () => number;
}

export class TaskGaugesPart implements CollectorPart {
  readonly name = 'task and cost gauges';
  readonly intervalMs: number;
  private readonly queue: TaskQueue;
  private readonly ledger: CostLedger;
  private readonly clock: () => number;
  /** Attempts whose duration was told already, by `task/attempt`. */
  private readonly told = new Set<string>();
  /** The cost last stored per sandbox. */
  private readonly lastCost = new Map<string, number>();

  constructor(private readonly options: TaskGaugesOptions) {
    this.intervalMs = options.intervalMs;
    this.clock = options.clock ?? Date.now;
    this.queue = new TaskQueue(options.stateRoot);
    this.ledger = new CostLedger(options.stateRoot, this.clock);
  }

  async collect(store: CollectorStore): Promise<IngestBatch> {
    const now = this.clock();
    const gauges: Gauge[] = [...this.taskGauges(now)];
    const problems: IngestBatch['problems'] = [];
    try {
      gauges.push(...(await this.costGauges(store, now)));
    } catch (error) {
      problems.push({ time: now, source: 'cost', message: `The cost ledger could not be read: ${(error as Error).message}` });
    }
    return { gauges, problems };
  }

  private taskGauges(now: number): Gauge[] {
    const tasks = [...this.queue.load().tasks.values()];
    const gauges: Gauge[] = [
      { name: QUEUE_DEPTH_GAUGE, sandboxId: '', time: now, value: tasks.filter((t) => t.state === 'queued').length },
      { name: TASKS_RUNNING_GAUGE, sandboxId: '', time: now, value: tasks.filter((t) => t.state === 'running' || t.state === 'assigned').length },
    ];
    const present = new Set<string>();
    for (const task of tasks) {
      for (const attempt of task.attempts) {
        const key = `${task.id}/${attempt.number}`;
        present.add(key);
        if (attempt.endedAt === undefined || this.told.has(key)) continue;
        this.told.add(key);
        const ended = Date.parse(attempt.endedAt);
        const assigned = Date.parse(attempt.assignedAt);
        if (Number.isNaN(ended) || Number.isNaN(assigned)) continue;
        // As task.ended tells it: from placement to the end.
        gauges.push({ name: TASK_DURATION_GAUGE, sandboxId: attempt.sandboxId ?? '', time: ended, value: Math.max(0, ended - assigned) });
      }
    }
    // Tasks the queue no longer keeps (compacted away) are forgotten here too.
    for (const key of this.told) if (!present.has(key)) this.told.delete(key);
    return gauges;
  }

  private async costGauges(store: CollectorStore, now: number): Promise<Gauge[]> {
    const book = await this.ledger.load();
    if (book.machines.size === 0 && book.snapshots.size === 0) return [];
    const figures = monthFigures(book, now, await readBudgetSettings(this.options.stateRoot));
    const idByName = new Map<string, string>();
    // The store knows deleted sandboxes' names too; the records win for the living.
    for (const known of store.sandboxes()) idByName.set(known.name, known.sandboxId);
    for (const record of await this.options.records.listRecords()) idByName.set(record.name, record.id);
    const gauges: Gauge[] = [];
    for (const row of figures.bySandbox) {
      // A sandbox neither knows (made and deleted while no collector ran) keeps its name as its key.
      const sandboxId = idByName.get(row.sandbox) ?? row.sandbox;
      // What no longer runs costs the same round after round: stored when it changes (and once per collector), not every interval.
      if (row.usdPerHour === undefined && this.lastCost.get(sandboxId) === row.spentUsd) continue;
      this.lastCost.set(sandboxId, row.spentUsd);
      gauges.push({ name: COST_GAUGE, sandboxId, time: now, value: row.spentUsd });
    }
    return gauges;
  }
}
