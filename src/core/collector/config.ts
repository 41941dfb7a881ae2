import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export const COLLECTOR_CONFIG_FILE = 'collector.json';

/**
 * The collector's settings, from the state dir's collector.json (0600: an OTLP endpoint's headers
 * may carry a token). Every field is optional; a missing or unreadable file means the defaults.
 */
export interface CollectorConfig {
  /** How often running sandboxes are sampled (ms); 5000 by default, at least 1000. */
  sampleIntervalMs: number;
  retention: {
    /** How long raw samples are kept (hours); 24 by default. */
    rawHours: number;
    /** How long minute averages are kept (days); 30 by default. */
    minuteDays: number;
    /** How long events and log lines are kept (days); 30 by default. */
    eventDays: number;
    /** The file's bound (MiB): past it the oldest log lines and events go first; 512 by default. */
    maxFileMiB: number;
  };
  /** Serve Prometheus's text format at http://127.0.0.1:PORT/metrics; off unless a port is set. */
  prometheus?: { port: number };
  /** Send metrics and events over OTLP/HTTP (protobuf) to this endpoint, e.g. http://127.0.0.1:4318. */
  otlp?: { endpoint: string; headers?: Record<string, string>; intervalMs?: number };
}

export const DEFAULT_COLLECTOR_CONFIG: CollectorConfig = {
  sampleIntervalMs: 5_000,
  retention: { rawHours: 24, minuteDays: 30, eventDays: 30, maxFileMiB: 512 },
};

export function collectorConfigFile(stateRoot: string): string {
  return path.join(stateRoot, COLLECTOR_CONFIG_FILE);
}

/** The state dir's collector settings over the defaults; values out of range fall back to them. */
export function readCollectorConfig(stateRoot: string): CollectorConfig {
  let raw: Partial<CollectorConfig>;
  try {
    raw = JSON.parse(readFileSync(collectorConfigFile(stateRoot), 'utf8')) as Partial<CollectorConfig>;
  } catch {
    return structuredClone(DEFAULT_COLLECTOR_CONFIG);
  }
  const defaults = DEFAULT_COLLECTOR_CONFIG;
  const positive = (value: unknown, fallback: number, min = 0) => (typeof value === 'number' && Number.isFinite(value) && value >= min ? value : fallback);
  const retention: Partial<CollectorConfig['retention']> = raw.retention ?? {};
  const config: CollectorConfig = {
    sampleIntervalMs: positive(raw.sampleIntervalMs, defaults.sampleIntervalMs, 1000),
    retention: {
      rawHours: positive(retention.rawHours, defaults.retention.rawHours, 1),
      minuteDays: positive(retention.minuteDays, defaults.retention.minuteDays, 1),
      eventDays: positive(retention.eventDays, defaults.retention.eventDays, 1),
      maxFileMiB: positive(retention.maxFileMiB, defaults.retention.maxFileMiB, 1),
    },
  };
  const port = raw.prometheus?.port;
  if (typeof port === 'number' && Number.isInteger(port) && port >= 0 && port < 65536) config.prometheus = { port };
  const otlp = raw.otlp;
  if (otlp && typeof otlp.endpoint === 'string' && /^https?:\/\//.test(otlp.endpoint)) {
    config.otlp = { endpoint: otlp.endpoint };
    if (otlp.headers && typeof otlp.headers === 'object')
      config.otlp.headers = Object.fromEntries(Object.entries(otlp.headers).filter(([, v]) => typeof v === 'string'));
    if (typeof otlp.intervalMs === 'number' && otlp.intervalMs >= 1000) config.otlp.intervalMs = otlp.intervalMs;
  }
  return config;
}
