import type { KnownSandbox, Sample } from '../core/collector/store';
import { formatSize } from '../core/profile';

/** What `sandbox metrics` and `sandbox top` say when no collector runs, or none ever ran. */
export const START_COLLECTOR_HINT = 'start one with `sandbox daemon start` (it runs the collector) or `sandbox collector run`';

/** A sample with the network rates since the one before it (bytes per second), where both had counters. */
export interface RatedSample extends Sample {
  netRxPerSecond?: number;
  netTxPerSecond?: number;
}

/** The rate of a cumulative counter between two samples; undefined when it went back (a restart) or is missing. */
function rate(before: number | undefined, after: number | undefined, seconds: number): number | undefined {
  if (before === undefined || after === undefined || seconds <= 0 || after < before) return undefined;
  return (after - before) / seconds;
}

export function withRates(previous: Sample | undefined, sample: Sample): RatedSample {
  const rated: RatedSample = { ...sample };
  if (!previous) return rated;
  const seconds = (sample.time - previous.time) / 1000;
  const rx = rate(previous.netRxBytes, sample.netRxBytes, seconds);
  const tx = rate(previous.netTxBytes, sample.netTxBytes, seconds);
  if (rx !== undefined) rated.netRxPerSecond = rx;
  if (tx !== undefined) rated.netTxPerSecond = tx;
  return rated;
}

/**
 * A window's samples in at most `rows` rows of equal time: CPU and memory averaged, disk and
 * processes as at the row's end, network as the rate over the row.
 */
export function summarize(samples: readonly Sample[], rows: number): RatedSample[] {
  if (samples.length === 0) return [];
  const start = samples[0]!.time;
  const span = Math.max(1, samples[samples.length - 1]!.time - start + 1);
  const width = Math.max(1, Math.ceil(span / Math.max(1, rows)));
  const buckets = new Map<number, Sample[]>();
  for (const sample of samples) {
    const key = Math.floor((sample.time - start) / width);
    const bucket = buckets.get(key) ?? [];
    bucket.push(sample);
    buckets.set(key, bucket);
  }
  const result: RatedSample[] = [];
  let previousLast: Sample | undefined;
  for (const bucket of buckets.values()) {
    const last = bucket[bucket.length - 1]!;
    const average = (pick: (sample: Sample) => number) => bucket.reduce((sum, sample) => sum + pick(sample), 0) / bucket.length;
    const row: Sample = { ...last, cpuPercent: average((s) => s.cpuPercent), memoryBytes: Math.round(average((s) => s.memoryBytes)) };
    result.push(withRates(previousLast ?? (bucket.length > 1 ? bucket[0] : undefined), row));
    previousLast = last;
  }
  return result;
}

const dash = '-';

export function formatPercent(value: number | undefined): string {
  return value === undefined ? dash : `${value.toFixed(1)}%`;
}

export function formatBytes(value: number | undefined): string {
  return value === undefined ? dash : formatSize(Math.round(value));
}

export function formatRate(value: number | undefined): string {
  return value === undefined ? dash : `${formatSize(Math.round(value))}/s`;
}

/** The rows of `sandbox metrics`' table, header first. */
export function metricsRows(samples: readonly RatedSample[]): string[][] {
  const rows = [['TIME', 'CPU', 'MEM', 'DISK', 'NET IN', 'NET OUT', 'PIDS']];
  for (const sample of samples) {
    rows.push([
      new Date(sample.time).toISOString().replace('T', ' ').slice(0, 19),
      formatPercent(sample.cpuPercent),
      formatBytes(sample.memoryBytes),
      formatBytes(sample.diskBytes),
      formatRate(sample.netRxPerSecond),
      formatRate(sample.netTxPerSecond),
      sample.pids === undefined ? dash : String(sample.pids),
    ]);
  }
  return rows;
}

/** One line of `sandbox top`: the newest sample of a sandbox, with its name and provider. */
export interface TopEntry {
  sandboxId: string;
  name: string;
  provider?: string;
  sample: RatedSample;
}

/** The rows of `sandbox top`'s table, header first, like `docker stats`. */
export function topRows(entries: readonly TopEntry[]): string[][] {
  const rows = [['NAME', 'PROVIDER', 'CPU', 'MEM / LIMIT', 'MEM', 'NET I/O', 'PIDS']];
  for (const { name, provider, sample } of entries) {
    const limit = sample.memoryLimitBytes;
    rows.push([
      name,
      provider ?? dash,
      formatPercent(sample.cpuPercent),
      `${formatBytes(sample.memoryBytes)} / ${formatBytes(limit)}`,
      limit ? formatPercent((sample.memoryBytes / limit) * 100) : dash,
      `${formatRate(sample.netRxPerSecond)} / ${formatRate(sample.netTxPerSecond)}`,
      sample.pids === undefined ? dash : String(sample.pids),
    ]);
  }
  return rows;
}

/** The sandbox a name, an id, or a unique prefix of either means, among those the store knows. */
export function matchKnown(known: readonly KnownSandbox[], ref: string): KnownSandbox | undefined {
  const exact = known.find((sandbox) => sandbox.sandboxId === ref || sandbox.name === ref);
  if (exact) return exact;
  const prefixed = known.filter((sandbox) => sandbox.sandboxId.startsWith(ref) || sandbox.name.startsWith(ref));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}
