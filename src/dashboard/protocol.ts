/**
 * What the dashboard page and its host say to each other. The host is the `sandbox dashboard`
 * server (JSON over server-sent events, actions as plain requests) or the VS Code extension
 * (postMessage). Both build these from one source, src/app/dashboardFeed.ts.
 */

export interface DashboardSandbox {
  id: string;
  name: string;
  provider: string;
  /** The controller's state ('running', 'stopped', …), or 'unknown' when only the store knows it. */
  state: string;
  desktop: boolean;
  agent?: string;
  /** The newest thumbnail of a running desktop: a URL the page may load (same origin or data:). */
  thumbnail?: string;
}

/** One sandbox's samples as uPlot takes them: times in seconds, one array per series. */
export interface SampleSeries {
  time: number[];
  /** 100 is one core busy. */
  cpu: number[];
  memory: number[];
  /** Bytes per second since the sample before; null for the first one, or after a restart. */
  rx: (number | null)[];
  tx: (number | null)[];
}

export interface DashboardEvent {
  id: number;
  /** Milliseconds since the epoch. */
  time: number;
  type: string;
  sandboxId: string;
  sandbox: string;
  task?: string;
  agent?: string;
  /** One line on what happened, made from the event's fields. */
  summary: string;
}

/** One attempt of a task in one sandbox, from its task.placed / task.started / task.ended events. */
export interface DashboardTask {
  task: string;
  attempt: number;
  sandbox: string;
  placed?: number;
  started?: number;
  ended?: number;
  /** What the task became when the attempt ended (succeeded, failed, cancelled, queued). */
  outcome?: string;
}

export interface DashboardCost {
  month: string;
  budgetUsd: number;
  spentUsd: number;
  projectedUsd: number;
  committedUsd: number;
  leftUsd: number;
}

export interface DashboardSnapshot {
  type: 'snapshot';
  /** When the host took it (ms). */
  now: number;
  /** How far back the charts reach (ms). */
  windowMs: number;
  sandboxes: DashboardSandbox[];
  series: Record<string, SampleSeries>;
  events: DashboardEvent[];
  tasks: DashboardTask[];
  cost: DashboardCost | null;
  /** Why the cost is missing, or why the store cannot be read, in one sentence each. */
  problems: string[];
}

/** What changed since the last update: new points and events; whole lists when they changed. */
export interface DashboardDelta {
  type: 'delta';
  now: number;
  sandboxes?: DashboardSandbox[];
  series: Record<string, SampleSeries>;
  events: DashboardEvent[];
  tasks?: DashboardTask[];
  cost?: DashboardCost | null;
  problems?: string[];
}

export type DashboardUpdate = DashboardSnapshot | DashboardDelta;

/** From the page to its host. */
export type DashboardRequest =
  | { type: 'ready' }
  | { type: 'openDesktop'; sandboxId: string }
  /** The page's Content Security Policy refused something: a bug of the page, logged by the host. */
  | { type: 'refused'; directive: string; blocked: string };

/** What the page reads from its element #dashboard-config. */
export interface DashboardConfig {
  transport: 'vscode' | 'events';
}

/**
 * `series` with `more` appended, then cut to the points at or after `sinceSeconds`: one rule for
 * the host's window and the page's, so both show the same points.
 */
export function appendSeries(series: SampleSeries | undefined, more: SampleSeries, sinceSeconds: number): SampleSeries {
  const joined: SampleSeries = series
    ? {
        time: [...series.time, ...more.time],
        cpu: [...series.cpu, ...more.cpu],
        memory: [...series.memory, ...more.memory],
        rx: [...series.rx, ...more.rx],
        tx: [...series.tx, ...more.tx],
      }
    : more;
  const first = joined.time.findIndex((time) => time >= sinceSeconds);
  const from = first === -1 ? joined.time.length : first;
  if (from === 0) return joined;
  return {
    time: joined.time.slice(from),
    cpu: joined.cpu.slice(from),
    memory: joined.memory.slice(from),
    rx: joined.rx.slice(from),
    tx: joined.tx.slice(from),
  };
}
