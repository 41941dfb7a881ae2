import { Counter, Gauge as PromGauge, Registry } from 'prom-client';
import type { CollectorSink } from './sink';
import { gaugeMetricName, NewestValues, type SandboxLabels } from './sandboxSeries';
import type { CollectedEvent, Gauge, KnownSandbox, Sample } from './store';

/** Every metric this exporter serves starts with this. */
export const PROMETHEUS_PREFIX = 'agent_sandboxes_';

const SANDBOX_LABELS = ['sandbox', 'sandbox_id', 'provider'] as const;

interface SampleMetric {
  name: string;
  help: string;
  kind: 'gauge' | 'counter';
  value(sample: Sample): number | undefined;
}

/** The per-sandbox metrics, from each sandbox's newest sample (docs/collector.md lists them). */
export const SAMPLE_METRICS: readonly SampleMetric[] = [
  { name: 'sandbox_cpu_ratio', kind: 'gauge', help: 'CPU in use, in cores (1 is one core busy).', value: (s) => s.cpuPercent / 100 },
  { name: 'sandbox_memory_bytes', kind: 'gauge', help: 'Memory in use.', value: (s) => s.memoryBytes },
  { name: 'sandbox_memory_limit_bytes', kind: 'gauge', help: 'The memory limit, where the sandbox has one.', value: (s) => s.memoryLimitBytes },
  { name: 'sandbox_disk_bytes', kind: 'gauge', help: 'Disk space used by the sandbox.', value: (s) => s.diskBytes },
  { name: 'sandbox_pids', kind: 'gauge', help: 'Processes (and threads) running in the sandbox.', value: (s) => s.pids },
  {
    name: 'sandbox_network_receive_bytes_total',
    kind: 'counter',
    help: 'Bytes received by the sandbox since its machine started.',
    value: (s) => s.netRxBytes,
  },
  {
    name: 'sandbox_network_transmit_bytes_total',
    kind: 'counter',
    help: 'Bytes sent by the sandbox since its machine started.',
    value: (s) => s.netTxBytes,
  },
];

export const EVENTS_METRIC = 'events_total';

/**
 * The collector's numbers in Prometheus's text format: its own registry (never prom-client's
 * global one), filled at each scrape from the newest sample of each sandbox and the newest value
 * of each gauge. A sandbox not seen for the stale time leaves the output; events are counted by
 * type from the moment the exporter started.
 */
export class PrometheusSink implements CollectorSink {
  readonly registry = new Registry();
  private readonly newest: NewestValues;
  private readonly events_: Counter<'type'>;
  private readonly gaugeMetrics = new Map<string, PromGauge<(typeof SANDBOX_LABELS)[number]>>();

  constructor(options: { staleAfterMs: number; now?: () => number }) {
    this.newest = new NewestValues(options.staleAfterMs, options.now);
    for (const metric of SAMPLE_METRICS) this.registerSampleMetric(metric);
    this.events_ = new Counter({
      name: PROMETHEUS_PREFIX + EVENTS_METRIC,
      help: 'Events the collector stored since this exporter started, by type.',
      labelNames: ['type'],
      registers: [this.registry],
    });
  }

  events(events: readonly CollectedEvent[]): void {
    for (const event of events) this.events_.inc({ type: event.type });
  }

  samples(samples: readonly Sample[], sandboxes: ReadonlyMap<string, KnownSandbox>): void {
    this.newest.addSamples(samples, sandboxes);
  }

  gauges(gauges: readonly Gauge[]): void {
    this.newest.addGauges(gauges);
    for (const gauge of gauges) this.gaugeMetric(gaugeMetricName(gauge.name));
  }

  /** The exposition text, as of now. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private registerSampleMetric(metric: SampleMetric): void {
    const newest = this.newest;
    const fill = (set: (labels: SandboxLabels, value: number) => void) => {
      for (const { sample, labels } of newest.samples()) {
        const value = metric.value(sample);
        if (value !== undefined && Number.isFinite(value) && (metric.kind === 'gauge' || value >= 0)) set(labels, value);
      }
    };
    const configuration = { name: PROMETHEUS_PREFIX + metric.name, help: metric.help, labelNames: SANDBOX_LABELS, registers: [this.registry] };
    if (metric.kind === 'counter') {
      // The sample carries the total itself: each scrape states it afresh, as a counter.
      new Counter({
        ...configuration,
        collect() {
          this.reset();
          fill((labels, value) => this.inc({ ...labels }, value));
        },
      });
    } else {
      new PromGauge({
        ...configuration,
        collect() {
          this.reset();
          fill((labels, value) => this.set({ ...labels }, value));
        },
      });
    }
  }

  /** The gauges by name (queue depth, running tasks, cost), each registered when first met. */
  private gaugeMetric(name: string): PromGauge<(typeof SANDBOX_LABELS)[number]> | undefined {
    const existing = this.gaugeMetrics.get(name);
    if (existing) return existing;
    if (this.registry.getSingleMetric(PROMETHEUS_PREFIX + name)) return undefined;
    const newest = this.newest;
    const gauge = new PromGauge({
      name: PROMETHEUS_PREFIX + name,
      help: `The collector's gauge ${name}.`,
      labelNames: SANDBOX_LABELS,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const gauges of newest.gauges()) {
          if (gauges.name !== name) continue;
          for (const { labels, value } of gauges.values) this.set(labels ? { ...labels } : {}, value);
        }
      },
    });
    this.gaugeMetrics.set(name, gauge);
    return gauge;
  }
}
