import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { CollectorConfig } from '../core/collector/config';
import type { OtlpSink } from '../core/collector/otlpSink';
import type { PrometheusSink } from '../core/collector/prometheusSink';
import { staleAfterMs } from '../core/collector/sandboxSeries';
import type { CollectorSink } from '../core/collector/sink';
import { describeError } from '../core/errors';
import { PrometheusEndpoint } from './prometheusEndpoint';

/** How often metrics go to an OTLP endpoint that sets no interval. */
export const DEFAULT_OTLP_INTERVAL_MS = 15_000;

/**
 * The exporters collector.json asks for: Prometheus's /metrics on 127.0.0.1 when it sets a
 * port, OTLP/HTTP when it names an endpoint. An exporter that cannot start is logged and left
 * out; the collector runs on without it.
 */
export function collectorSinks(config: CollectorConfig, log: (line: string) => void): CollectorSink[] {
  const sinks: CollectorSink[] = [];
  const staleAfter = staleAfterMs(config.sampleIntervalMs);
  if (config.prometheus) {
    // prom-client loads only when asked for: every other command starts without it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PrometheusSink: Sink } = require('../core/collector/prometheusSink') as { PrometheusSink: typeof PrometheusSink };
    sinks.push(new PrometheusEndpoint(new Sink({ staleAfterMs: staleAfter }), config.prometheus.port, log));
  }
  if (config.otlp) {
    try {
      const Sink = loadOtlpSink();
      sinks.push(
        new Sink({
          endpoint: config.otlp.endpoint,
          endpointForLogs: withoutCredentials(config.otlp.endpoint),
          headers: config.otlp.headers,
          intervalMs: config.otlp.intervalMs ?? DEFAULT_OTLP_INTERVAL_MS,
          staleAfterMs: staleAfter,
          log,
        }),
      );
      log(`Collector: sending metrics and events over OTLP to ${withoutCredentials(config.otlp.endpoint)}`);
    } catch (error) {
      log(`Collector: OTLP export is off: ${describeError(error)}`);
    }
  }
  return sinks;
}

/**
 * OpenTelemetry's SDK is its own bundle (dist/otlp.js), loaded only here, so neither the
 * extension nor a collector without an OTLP endpoint loads it. From compiled sources (tests),
 * its module in this one's tree.
 */
function loadOtlpSink(): typeof OtlpSink {
  const candidates = [path.join(__dirname, 'otlp.js'), path.join(__dirname, '..', 'core', 'collector', 'otlpSink.js')];
  const file = candidates.find((candidate) => existsSync(candidate));
  if (!file) throw new Error(`this copy of the sandbox CLI has no OTLP exporter (otlp.js beside ${__dirname}); rebuild it with npm run build.`);
  return (createRequire(__filename)(file) as { OtlpSink: typeof OtlpSink }).OtlpSink;
}

/** An endpoint as logged: a user and password written into the URL are left out. */
export function withoutCredentials(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(an endpoint that is not a URL)';
  }
}
