import type { Gauge, KnownSandbox, Sample } from './store';

/** The labels every series of one sandbox carries, in Prometheus and as OTLP attributes. */
export interface SandboxLabels {
  sandbox: string;
  sandbox_id: string;
  provider: string;
}

/**
 * How long a sandbox's series outlive its last sample: three sampling rounds, so one slow or
 * missed round keeps them, and a stopped or deleted sandbox leaves the export soon after.
 */
export function staleAfterMs(sampleIntervalMs: number): number {
  return 3 * sampleIntervalMs;
}

export function sandboxLabels(sandboxId: string, known: ReadonlyMap<string, KnownSandbox> | undefined): SandboxLabels {
  const sandbox = known?.get(sandboxId);
  return { sandbox: sandbox?.name || sandboxId, sandbox_id: sandboxId, provider: sandbox?.provider ?? '' };
}

/**
 * A gauge's name as an exported metric's: lower case, runs of anything but letters, digits and
 * '_' as one '_' (`queue.depth` and `queue-depth` are both `queue_depth`).
 */
export function gaugeMetricName(name: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return cleaned === '' ? 'unnamed' : cleaned;
}

/**
 * The newest values of what the collector saw, per sandbox, for the exporters: a sandbox not seen
 * (no sample, no gauge) for the stale time is forgotten, so its series leave the export.
 */
export class NewestValues {
  private readonly newestSamples = new Map<string, Sample>();
  /** By exported gauge name, then sandbox id ('' for gauges of no one sandbox). */
  private readonly newestGauges = new Map<string, Map<string, number>>();
  private readonly lastSeen = new Map<string, number>();
  private known: ReadonlyMap<string, KnownSandbox> | undefined;

  constructor(
    private readonly staleAfter: number,
    private readonly now: () => number = Date.now,
  ) {}

  addSamples(samples: readonly Sample[], known: ReadonlyMap<string, KnownSandbox>): void {
    this.known = known;
    for (const sample of samples) {
      const previous = this.newestSamples.get(sample.sandboxId);
      if (previous && previous.time > sample.time) continue;
      this.newestSamples.set(sample.sandboxId, sample);
      this.lastSeen.set(sample.sandboxId, this.now());
    }
  }

  addGauges(gauges: readonly Gauge[]): void {
    for (const gauge of gauges) {
      if (!Number.isFinite(gauge.value)) continue;
      const name = gaugeMetricName(gauge.name);
      let bySandbox = this.newestGauges.get(name);
      if (!bySandbox) this.newestGauges.set(name, (bySandbox = new Map()));
      bySandbox.set(gauge.sandboxId, gauge.value);
      if (gauge.sandboxId !== '') this.lastSeen.set(gauge.sandboxId, this.now());
    }
  }

  /** The sandboxes seen within the stale time, each with its newest sample if it has one. */
  samples(): { sample: Sample; labels: SandboxLabels }[] {
    this.forgetStale();
    return [...this.newestSamples.values()].map((sample) => ({ sample, labels: sandboxLabels(sample.sandboxId, this.known) }));
  }

  /** Each gauge's newest values; labels are left out for a gauge of no one sandbox. */
  gauges(): { name: string; values: { labels?: SandboxLabels; value: number }[] }[] {
    this.forgetStale();
    return [...this.newestGauges].map(([name, bySandbox]) => ({
      name,
      values: [...bySandbox].map(([sandboxId, value]) => (sandboxId === '' ? { value } : { labels: sandboxLabels(sandboxId, this.known), value })),
    }));
  }

  private forgetStale(): void {
    const cutoff = this.now() - this.staleAfter;
    for (const [sandboxId, seen] of this.lastSeen) {
      if (seen >= cutoff) continue;
      this.lastSeen.delete(sandboxId);
      this.newestSamples.delete(sandboxId);
      for (const bySandbox of this.newestGauges.values()) bySandbox.delete(sandboxId);
    }
  }
}
