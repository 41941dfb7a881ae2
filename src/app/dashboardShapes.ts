/**
 * The dashboard's data from the collector's rows: pure functions, shared by its feed and tests.
 * Everything here may come from inside a sandbox, so it is only ever shown as text.
 */
import type { Sample, StoredEvent } from '../core/collector/store';
import type { DashboardEvent, DashboardTask, SampleSeries } from '../dashboard/protocol';

/** The longest summary of an event; the rest is cut. */
const MAX_SUMMARY_CHARS = 200;

export function emptySeries(): SampleSeries {
  return { time: [], cpu: [], memory: [], rx: [], tx: [] };
}

/** Per second since `before`; null when there is no before, no counter, or the counter went back (a restart). */
function rate(counter: number | undefined, previous: number | undefined, seconds: number): number | null {
  if (counter === undefined || previous === undefined || seconds <= 0 || counter < previous) return null;
  return (counter - previous) / seconds;
}

/**
 * Samples (oldest first) as chart series; `previous` is the sample before the first one, so the
 * first network rate of a delta is known too.
 */
export function seriesOf(samples: readonly Sample[], previous?: Sample): SampleSeries {
  const series = emptySeries();
  let before = previous;
  for (const sample of samples) {
    const seconds = before ? (sample.time - before.time) / 1000 : 0;
    series.time.push(sample.time / 1000);
    series.cpu.push(round(sample.cpuPercent, 1));
    series.memory.push(sample.memoryBytes);
    series.rx.push(roundOrNull(rate(sample.netRxBytes, before?.netRxBytes, seconds)));
    series.tx.push(roundOrNull(rate(sample.netTxBytes, before?.netTxBytes, seconds)));
    before = sample;
  }
  return series;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function roundOrNull(value: number | null): number | null {
  return value === null ? null : Math.round(value);
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** One line on an event: its telling fields first, then the others as key=value. */
export function summarize(event: StoredEvent): string {
  const data = event.data;
  const command = Array.isArray(data.command) ? data.command.map(String).join(' ') : text(data.command);
  const parts: string[] = [];
  if (command !== undefined) parts.push(command);
  for (const [key, value] of Object.entries(data)) {
    if (key === 'command' || key === 'sandboxId' || key === 'time' || key === 'type' || key === 'name') continue;
    const shown = text(value);
    if (shown !== undefined) parts.push(`${key}=${shown}`);
  }
  const line = parts.join(' ').replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return line.length > MAX_SUMMARY_CHARS ? `${line.slice(0, MAX_SUMMARY_CHARS - 1)}…` : line;
}

export function dashboardEventOf(event: StoredEvent): DashboardEvent {
  return {
    id: event.id,
    time: event.time,
    type: event.type,
    sandboxId: event.sandboxId,
    sandbox: event.sandbox,
    ...(event.task ? { task: event.task } : {}),
    ...(event.agent ? { agent: event.agent } : {}),
    summary: summarize(event),
  };
}

/** The task of a task.* event: its column, else the journal's own field. */
function taskOf(event: StoredEvent): string | undefined {
  return event.task ?? text(event.data.taskId);
}

/**
 * Task attempts from their task.placed / task.started / task.ended events (oldest first), newest
 * placement first. An attempt without an end is running (or waiting to start).
 */
export function tasksOf(events: readonly StoredEvent[]): DashboardTask[] {
  const attempts = new Map<string, DashboardTask>();
  for (const event of events) {
    if (!event.type.startsWith('task.')) continue;
    const task = taskOf(event);
    if (!task) continue;
    const attempt = Number(event.data.attempt ?? 1) || 1;
    const key = `${task}#${attempt}`;
    const entry = attempts.get(key) ?? { task, attempt, sandbox: event.sandbox || event.sandboxId };
    if (event.sandbox) entry.sandbox = event.sandbox;
    if (event.type === 'task.placed') entry.placed = event.time;
    else if (event.type === 'task.started') entry.started = event.time;
    else if (event.type === 'task.ended') {
      entry.ended = event.time;
      const outcome = text(event.data.next);
      if (outcome) entry.outcome = outcome;
    } else continue;
    attempts.set(key, entry);
  }
  const start = (task: DashboardTask) => task.placed ?? task.started ?? task.ended ?? 0;
  return [...attempts.values()].sort((a, b) => start(b) - start(a));
}
