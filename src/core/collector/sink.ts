import type { CollectedEvent, Gauge, KnownSandbox, Sample } from './store';

/**
 * Where the collector hands what it gathered, besides its store: the Prometheus endpoint keeps
 * the newest values, the OTLP exporter sends them on, the dashboard pushes them to its pages.
 * A sink must not throw and must not block: the collector calls it and moves on.
 */
export interface CollectorSink {
  /** Events just stored, oldest first. */
  events?(events: readonly CollectedEvent[]): void;
  /** Samples of one round, and the sandboxes they belong to. */
  samples?(samples: readonly Sample[], sandboxes: ReadonlyMap<string, KnownSandbox>): void;
  gauges?(gauges: readonly Gauge[]): void;
  close?(): Promise<void>;
}
