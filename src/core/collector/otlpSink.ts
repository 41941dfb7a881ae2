// OpenTelemetry's SDK is heavy: this file is its own bundle (dist/otlp.js), loaded only when
// collector.json names an OTLP endpoint (see src/app/collectorSinks.ts). Nothing else imports it.
import type { Attributes, AttributeValue, BatchObservableResult, Observable } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { NewestValues } from './sandboxSeries';
import type { CollectorSink } from './sink';
import type { CollectedEvent, Gauge, KnownSandbox, Sample } from './store';

export const OTLP_SERVICE_NAME = 'agent-sandboxes';
/** Every metric sent starts with this, as every Prometheus one starts with agent_sandboxes_. */
export const OTLP_METRIC_PREFIX = 'agent_sandboxes.';

export interface OtlpSinkOptions {
  /** The receiver's base URL (http://host:4318): metrics go to /v1/metrics, events to /v1/logs. */
  endpoint: string;
  /** The endpoint as it may be logged (without credentials written into the URL). */
  endpointForLogs: string;
  /** Sent with every request; may carry a token, so never logged. */
  headers?: Record<string, string>;
  /** How often metrics are sent. */
  intervalMs: number;
  staleAfterMs: number;
  log: (line: string) => void;
}

interface SampleInstrument {
  name: string;
  unit: string;
  description: string;
  kind: 'gauge' | 'counter';
  /** One value per attribute set: the network's two directions are one counter. */
  values(sample: Sample): [number | undefined, Attributes?][];
}

/** The per-sandbox metrics, from each sandbox's newest sample (docs/collector.md lists them). */
export const OTLP_SAMPLE_METRICS: readonly SampleInstrument[] = [
  { name: 'sandbox.cpu.usage', unit: '{cpu}', kind: 'gauge', description: 'CPU in use, in cores (1 is one core busy).', values: (s) => [[s.cpuPercent / 100]] },
  { name: 'sandbox.memory.usage', unit: 'By', kind: 'gauge', description: 'Memory in use.', values: (s) => [[s.memoryBytes]] },
  {
    name: 'sandbox.memory.limit',
    unit: 'By',
    kind: 'gauge',
    description: 'The memory limit, where the sandbox has one.',
    values: (s) => [[s.memoryLimitBytes]],
  },
  { name: 'sandbox.disk.usage', unit: 'By', kind: 'gauge', description: 'Disk space used by the sandbox.', values: (s) => [[s.diskBytes]] },
  { name: 'sandbox.process.count', unit: '{process}', kind: 'gauge', description: 'Processes running in the sandbox.', values: (s) => [[s.pids]] },
  {
    name: 'sandbox.network.io',
    unit: 'By',
    kind: 'counter',
    description: 'Bytes received and sent by the sandbox since its machine started.',
    values: (s) => [
      [s.netRxBytes, { 'network.io.direction': 'receive' }],
      [s.netTxBytes, { 'network.io.direction': 'transmit' }],
    ],
  },
];

/**
 * Sends the collector's numbers and events to an OTLP/HTTP receiver in protobuf: the newest
 * sample of each sandbox and the newest value of each gauge as observable instruments read on
 * every export, and each event as a log record (its type as the event name). Closing flushes both.
 */
export class OtlpSink implements CollectorSink {
  private readonly newest: NewestValues;
  private readonly meterProvider: MeterProvider;
  private readonly loggerProvider: LoggerProvider;
  private readonly gaugeNames = new Set<string>();
  private readonly failures = new FailureLog();

  constructor(private readonly options: OtlpSinkOptions) {
    this.newest = new NewestValues(options.staleAfterMs);
    const base = options.endpoint.replace(/\/+$/, '');
    const headers = { ...options.headers };
    const resource = resourceFromAttributes({ 'service.name': OTLP_SERVICE_NAME });
    const timeoutMillis = Math.min(options.intervalMs, 10_000);
    const metricExporter = this.reporting('metrics', new OTLPMetricExporter({ url: `${base}/v1/metrics`, headers, timeoutMillis }));
    this.meterProvider = new MeterProvider({
      resource,
      readers: [new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: options.intervalMs, exportTimeoutMillis: timeoutMillis })],
    });
    const logExporter = this.reportingLogs(new OTLPLogExporter({ url: `${base}/v1/logs`, headers, timeoutMillis }));
    this.loggerProvider = new LoggerProvider({
      resource,
      processors: [new BatchLogRecordProcessor({ exporter: logExporter, scheduledDelayMillis: 1_000, exportTimeoutMillis: timeoutMillis })],
    });
    this.observeSamples();
  }

  events(events: readonly CollectedEvent[]): void {
    const logger = this.loggerProvider.getLogger(OTLP_SERVICE_NAME);
    for (const event of events) {
      logger.emit({
        eventName: event.type,
        timestamp: event.time,
        severityNumber: SeverityNumber.INFO,
        severityText: 'INFO',
        body: `${event.type}${event.sandbox ? ` ${event.sandbox}` : ''}`,
        attributes: eventAttributes(event),
      });
    }
  }

  samples(samples: readonly Sample[], sandboxes: ReadonlyMap<string, KnownSandbox>): void {
    this.newest.addSamples(samples, sandboxes);
  }

  gauges(gauges: readonly Gauge[]): void {
    this.newest.addGauges(gauges);
    for (const { name } of this.newest.gauges()) this.observeGauge(name);
  }

  /** Sends what is pending (the metrics as of now, the events not sent yet), then stops: shutting down flushes. */
  async close(): Promise<void> {
    await Promise.allSettled([this.meterProvider.shutdown(), this.loggerProvider.shutdown()]);
  }

  private observeSamples(): void {
    const meter = this.meterProvider.getMeter(OTLP_SERVICE_NAME);
    const instruments = OTLP_SAMPLE_METRICS.map((metric) => {
      const options = { unit: metric.unit, description: metric.description };
      const name = OTLP_METRIC_PREFIX + metric.name;
      const observable: Observable = metric.kind === 'counter' ? meter.createObservableCounter(name, options) : meter.createObservableGauge(name, options);
      return { metric, observable };
    });
    meter.addBatchObservableCallback(
      (result: BatchObservableResult) => {
        for (const { sample, labels } of this.newest.samples()) {
          for (const { metric, observable } of instruments) {
            for (const [value, extra] of metric.values(sample)) {
              if (value === undefined || !Number.isFinite(value) || (metric.kind === 'counter' && value < 0)) continue;
              result.observe(observable, value, { ...labels, ...extra });
            }
          }
        }
      },
      instruments.map((instrument) => instrument.observable),
    );
  }

  /** The gauges by name (queue depth, running tasks, cost), each an instrument from when it is first met. */
  private observeGauge(name: string): void {
    if (this.gaugeNames.has(name)) return;
    this.gaugeNames.add(name);
    const gauge = this.meterProvider
      .getMeter(OTLP_SERVICE_NAME)
      .createObservableGauge(OTLP_METRIC_PREFIX + name, { description: `The collector's gauge ${name}.` });
    gauge.addCallback((result) => {
      for (const gauges of this.newest.gauges()) {
        if (gauges.name !== name) continue;
        for (const { labels, value } of gauges.values) result.observe(value, labels ? { ...labels } : {});
      }
    });
  }

  /** An export's failure is logged once until one succeeds again; the message names the endpoint, never the headers. */
  private reporting(signal: string, exporter: PushMetricExporter): PushMetricExporter {
    const failures = this.failures;
    const log = this.options.log;
    const endpoint = this.options.endpointForLogs;
    return {
      export(metrics: ResourceMetrics, done) {
        exporter.export(metrics, (result) => {
          failures.record(signal, endpoint, result.error, log);
          done(result);
        });
      },
      forceFlush: () => exporter.forceFlush(),
      shutdown: () => exporter.shutdown(),
      selectAggregationTemporality: exporter.selectAggregationTemporality?.bind(exporter),
      selectAggregation: exporter.selectAggregation?.bind(exporter),
    };
  }

  private reportingLogs(exporter: LogRecordExporter): LogRecordExporter {
    const failures = this.failures;
    const log = this.options.log;
    const endpoint = this.options.endpointForLogs;
    return {
      export(records: ReadableLogRecord[], done) {
        exporter.export(records, (result) => {
          failures.record('events', endpoint, result.error, log);
          done(result);
        });
      },
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    };
  }
}

class FailureLog {
  private readonly failing = new Set<string>();

  record(signal: string, endpoint: string, error: Error | undefined, log: (line: string) => void): void {
    if (!error) {
      if (this.failing.delete(signal)) log(`Collector: OTLP export of ${signal} to ${endpoint} works again.`);
      return;
    }
    if (this.failing.has(signal)) return;
    this.failing.add(signal);
    log(
      `Collector: OTLP export of ${signal} to ${endpoint} failed (${error.message}); it is tried again at the next round. Check the endpoint in collector.json.`,
    );
  }
}

/** An event's columns and its own fields as log record attributes; fields that are objects as JSON. */
function eventAttributes(event: CollectedEvent): Attributes {
  const attributes: Attributes = { 'event.type': event.type, sandbox: event.sandbox, sandbox_id: event.sandboxId };
  if (event.provider) attributes.provider = event.provider;
  if (event.agent) attributes.agent = event.agent;
  if (event.task) attributes.task = event.task;
  for (const [key, value] of Object.entries(event.data)) {
    const attribute = attributeValue(value);
    if (attribute !== undefined) attributes[`data.${key}`] = attribute;
  }
  return attributes;
}

const MAX_ATTRIBUTE_CHARS = 4096;

function attributeValue(value: unknown): AttributeValue | undefined {
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'string') return value.slice(0, MAX_ATTRIBUTE_CHARS);
  if (value === null || value === undefined) return undefined;
  return (JSON.stringify(value) ?? '').slice(0, MAX_ATTRIBUTE_CHARS);
}
