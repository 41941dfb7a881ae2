import { CollectorStore, type Sample, type StoredEvent } from '../core/collector/store';
import type { SandboxRecord } from '../core/model';
import { describeError } from '../core/errors';
import type { DashboardCost, DashboardEvent, DashboardSandbox, DashboardSnapshot, DashboardTask, DashboardUpdate, SampleSeries } from '../dashboard/protocol';
import { readCostReport } from './costReport';
import { appendSeries } from '../dashboard/protocol';
import { dashboardEventOf, seriesOf, tasksOf } from './dashboardShapes';
import { DesktopThumbnails, type ThumbnailSandboxes } from './dashboardThumbnails';

/** How far back the charts reach. */
export const DASHBOARD_WINDOW_MS = 10 * 60_000;
/** How many events the feed keeps (and a page shows at most). */
const MAX_EVENTS = 500;
/** Pages of MAX_EVENTS one tick reads at most: a burst larger than this is caught up over the next ticks. */
const MAX_EVENT_PAGES = 20;
/** How far back the task timeline reaches. */
const TASK_WINDOW_MS = 60 * 60_000;
/** A sandbox the controller does not list still gets a card while the store has samples this recent. */
const SAMPLED_RECENTLY_MS = 2 * 60_000;

export interface DashboardFeedOptions {
  stateRoot: string;
  /** The sandboxes as the front end knows them (the CLI lists them, VS Code has them already). */
  records(): Promise<readonly SandboxRecord[]> | readonly SandboxRecord[];
  /** For the desktops' thumbnails; none are taken without it. */
  desktops?: ThumbnailSandboxes;
  /** The URL a page loads a thumbnail from; without it, thumbnails travel as data: URLs. */
  thumbnailUrl?: (sandboxId: string, version: number) => string;
  log?: (line: string) => void;
  pollMs?: number;
  recordsEveryMs?: number;
  costEveryMs?: number;
  thumbnailEveryMs?: number;
  windowMs?: number;
  clock?: () => number;
}

/**
 * The dashboard's one source of data, for the browser page and the VS Code webview alike: it
 * reads the collector's store read-only (events after the last id seen, samples after the last
 * time seen, about every second), the sandboxes from the front end, the month's cost as
 * `sandbox cost` reads it, and the desktops' thumbnails; and hands each subscriber a snapshot,
 * then deltas.
 */
export class DashboardFeed {
  private store?: CollectorStore;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly listeners = new Set<(update: DashboardUpdate) => void>();
  private readonly thumbnails?: DesktopThumbnails;
  private readonly clock: () => number;
  private readonly windowMs: number;
  private sandboxes: DashboardSandbox[] = [];
  private series = new Map<string, SampleSeries>();
  private lastSample = new Map<string, Sample>();
  private events: DashboardEvent[] = [];
  private lastEventId = 0;
  private tasks: DashboardTask[] = [];
  private taskEvents: Parameters<typeof tasksOf>[0] = [];
  /** Set when the task timeline changed since the last delta. */
  private tasksChanged = false;
  private cost: DashboardCost | null = null;
  private problems: string[] = [];
  private storeProblem?: string;
  private costProblem?: string;
  private records: readonly SandboxRecord[] = [];
  private recordsAt = 0;
  private costAt = 0;
  private ready?: Promise<void>;

  constructor(private readonly options: DashboardFeedOptions) {
    this.clock = options.clock ?? Date.now;
    this.windowMs = options.windowMs ?? DASHBOARD_WINDOW_MS;
    if (options.desktops) this.thumbnails = new DesktopThumbnails(options.desktops, options.thumbnailEveryMs ?? 5_000, options.log);
  }

  /** Reads everything once, then keeps polling; resolves once the first snapshot is ready. */
  start(): Promise<void> {
    this.ready ??= this.tick().then(() => this.schedule());
    return this.ready;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.thumbnails?.stop();
    this.store?.close();
    this.store = undefined;
    this.listeners.clear();
  }

  /** Everything the page shows now. */
  snapshot(): DashboardSnapshot {
    return {
      type: 'snapshot',
      now: this.clock(),
      windowMs: this.windowMs,
      sandboxes: this.sandboxes,
      series: Object.fromEntries(this.series),
      events: this.events,
      tasks: this.tasks,
      cost: this.cost,
      problems: this.problems,
    };
  }

  /** A snapshot now, then a delta whenever something changed; returns the unsubscribe. */
  subscribe(listener: (update: DashboardUpdate) => void): () => void {
    this.listeners.add(listener);
    listener(this.snapshot());
    return () => this.listeners.delete(listener);
  }

  /** The newest thumbnail PNG of a desktop sandbox. */
  thumbnail(sandboxId: string): Buffer | undefined {
    return this.thumbnails?.get(sandboxId)?.png;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick().finally(() => this.schedule()), this.options.pollMs ?? 1_000);
  }

  private async tick(): Promise<void> {
    try {
      const now = this.clock();
      const sandboxes = await this.readSandboxes(now);
      if (this.stopped) return;
      const store = this.openStore();
      const series = store ? this.readSamples(store, sandboxes, now) : {};
      const events = store ? this.readEvents(store, now) : [];
      const tasks = this.tasksChanged ? this.tasks : undefined;
      this.tasksChanged = false;
      const cost = await this.readCost(now);
      const problems = [this.storeProblem, this.costProblem].filter((p): p is string => p !== undefined);
      const problemsChanged = JSON.stringify(problems) !== JSON.stringify(this.problems);
      this.problems = problems;
      if (this.stopped) return;
      const update: DashboardUpdate = {
        type: 'delta',
        now,
        series,
        events,
        ...(sandboxes ? { sandboxes } : {}),
        ...(tasks ? { tasks } : {}),
        ...(cost !== undefined ? { cost } : {}),
        ...(problemsChanged ? { problems } : {}),
      };
      if (sandboxes || tasks || cost !== undefined || problemsChanged || events.length > 0 || Object.keys(series).length > 0) this.publish(update);
    } catch (error) {
      this.options.log?.(`Dashboard: ${describeError(error)}`);
    }
  }

  private publish(update: DashboardUpdate): void {
    for (const listener of this.listeners) {
      try {
        listener(update);
      } catch (error) {
        this.options.log?.(`Dashboard: a page's listener failed: ${describeError(error)}`);
      }
    }
  }

  /** The store, opened on first use; none once stopped (stop closed it for good). */
  private openStore(): CollectorStore | undefined {
    if (this.stopped) return undefined;
    if (this.store) return this.store;
    try {
      this.store = CollectorStore.openForReading(this.options.stateRoot);
      this.storeProblem = this.store ? undefined : 'The collector has not run for this state dir yet: start it with `sandbox collector run` (or the daemon).';
    } catch (error) {
      this.storeProblem = `The collector's store cannot be read: ${describeError(error)}`;
    }
    return this.store;
  }

  /** The cards: running sandboxes, and any the store sampled lately. The whole list when it changed. */
  private async readSandboxes(now: number): Promise<DashboardSandbox[] | undefined> {
    if (now - this.recordsAt >= (this.options.recordsEveryMs ?? 2_000) || this.recordsAt === 0) {
      this.recordsAt = now;
      try {
        this.records = await this.options.records();
      } catch (error) {
        this.options.log?.(`Dashboard: the sandboxes could not be listed: ${describeError(error)}`);
      }
    }
    // Stopped while the records were listed: the store stays closed.
    if (this.stopped) return undefined;
    const cards = new Map<string, DashboardSandbox>();
    for (const record of this.records) {
      if (record.state !== 'running') continue;
      cards.set(record.id, {
        id: record.id,
        name: record.name,
        provider: record.provider,
        state: record.state,
        desktop: Boolean(record.profile.desktop),
        ...(record.agentId ? { agent: record.agentId } : {}),
      });
    }
    const store = this.openStore();
    if (store) {
      const recent = new Set(store.latestSamples(now - SAMPLED_RECENTLY_MS).map((sample) => sample.sandboxId));
      for (const known of store.sandboxes()) {
        if (cards.has(known.sandboxId) || !recent.has(known.sandboxId) || known.deleted !== undefined) continue;
        const record = this.records.find((r) => r.id === known.sandboxId);
        cards.set(known.sandboxId, {
          id: known.sandboxId,
          name: known.name,
          provider: known.provider ?? record?.provider ?? 'unknown',
          state: record?.state ?? 'unknown',
          desktop: Boolean(record?.profile.desktop),
          ...(known.agent ? { agent: known.agent } : {}),
        });
      }
    }
    const desktops = [...cards.values()].filter((card) => card.desktop && card.state === 'running');
    this.thumbnails?.watch(desktops.map((card) => card.id));
    for (const card of cards.values()) {
      const thumbnail = this.thumbnails?.get(card.id);
      if (!thumbnail) continue;
      card.thumbnail = this.options.thumbnailUrl
        ? this.options.thumbnailUrl(card.id, thumbnail.version)
        : `data:image/png;base64,${thumbnail.png.toString('base64')}`;
    }
    const sandboxes = [...cards.values()].sort((a, b) => a.name.localeCompare(b.name));
    if (JSON.stringify(sandboxes) === JSON.stringify(this.sandboxes)) return undefined;
    this.sandboxes = sandboxes;
    return sandboxes;
  }

  /** New samples of every card's sandbox since the last one seen; the charts' window is trimmed. */
  private readSamples(store: CollectorStore, sandboxes: DashboardSandbox[] | undefined, now: number): Record<string, SampleSeries> {
    const since = now - this.windowMs;
    const fresh: Record<string, SampleSeries> = {};
    for (const card of sandboxes ?? this.sandboxes) {
      const last = this.lastSample.get(card.id);
      const samples = store.samples(card.id, last ? last.time + 1 : since, now + 60_000);
      if (samples.length === 0) continue;
      const more = seriesOf(samples, last);
      this.lastSample.set(card.id, samples[samples.length - 1]!);
      this.series.set(card.id, appendSeries(this.series.get(card.id) ?? seriesOf([]), more, since / 1000));
      fresh[card.id] = more;
    }
    for (const id of this.series.keys()) {
      if (this.sandboxes.some((card) => card.id === id)) continue;
      this.series.delete(id);
      this.lastSample.delete(id);
    }
    return fresh;
  }

  /**
   * Events stored since the last one seen (the newest MAX_EVENTS at first); the task timeline follows
   * them. A burst is read page by page, oldest first, so no task event is skipped; what a tick cannot
   * read (past MAX_EVENT_PAGES) the next one does.
   */
  private readEvents(store: CollectorStore, now: number): DashboardEvent[] {
    if (this.lastEventId === 0) {
      this.taskEvents = store.events({ since: now - TASK_WINDOW_MS, types: ['task.'], limit: 5_000 });
      this.tasks = tasksOf(this.taskEvents);
      this.tasksChanged = this.taskEvents.length > 0;
      return this.showEvents(store.events({ since: now - TASK_WINDOW_MS, limit: MAX_EVENTS }));
    }
    const fresh: StoredEvent[] = [];
    const taskEvents: StoredEvent[] = [];
    for (let page = 0; page < MAX_EVENT_PAGES; page++) {
      const stored = store.events({ afterId: this.lastEventId, limit: MAX_EVENTS });
      if (stored.length === 0) break;
      this.lastEventId = stored[stored.length - 1]!.id;
      taskEvents.push(...stored.filter((event) => event.type.startsWith('task.')));
      fresh.push(...stored);
      fresh.splice(0, Math.max(0, fresh.length - MAX_EVENTS));
      if (stored.length < MAX_EVENTS) break;
    }
    if (taskEvents.length > 0) {
      this.taskEvents = [...this.taskEvents, ...taskEvents].filter((event) => event.time >= now - TASK_WINDOW_MS);
      this.tasks = tasksOf(this.taskEvents);
      this.tasksChanged = true;
    }
    return this.showEvents(fresh);
  }

  /** Adds stored events to the list shown (the newest MAX_EVENTS); returns them as the page gets them. */
  private showEvents(stored: StoredEvent[]): DashboardEvent[] {
    if (stored.length === 0) return [];
    this.lastEventId = Math.max(this.lastEventId, stored[stored.length - 1]!.id);
    const events = stored.map(dashboardEventOf);
    this.events = [...this.events, ...events].slice(-MAX_EVENTS);
    return events;
  }

  /** The month's cost, read again every minute; undefined when unchanged. */
  private async readCost(now: number): Promise<DashboardCost | null | undefined> {
    if (this.costAt !== 0 && now - this.costAt < (this.options.costEveryMs ?? 60_000)) return undefined;
    this.costAt = now;
    let cost: DashboardCost | null = null;
    try {
      const report = await readCostReport({ stateRoot: this.options.stateRoot, clock: this.clock });
      cost = {
        month: report.month,
        budgetUsd: report.budgetUsd,
        spentUsd: report.spentUsd,
        projectedUsd: report.projectedUsd,
        committedUsd: report.committedUsd,
        leftUsd: report.leftUsd,
      };
      this.costProblem = undefined;
    } catch (error) {
      this.costProblem = `The month's cost cannot be read: ${describeError(error)}`;
    }
    if (JSON.stringify(cost) === JSON.stringify(this.cost)) return undefined;
    this.cost = cost;
    return cost;
  }
}
