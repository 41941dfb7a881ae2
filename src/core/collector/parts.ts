import type { SandboxController } from '../controller';
import type { CollectorPart } from './collector';
import type { CollectorConfig } from './config';
import { JournalIngester } from './journalIngest';
import { retentionPart } from './retention';
import { metricsSampler } from './metricsSampler';
import { SandboxLogsPart } from './sandboxLogs';
import { TaskGaugesPart } from './taskGauges';

export interface CollectorPartsContext {
  stateRoot: string;
  controller: SandboxController;
  config: CollectorConfig;
  log: (line: string) => void;
}

/**
 * Every part the collector runs, each on its own interval: one line each. The journal ingester,
 * the metrics sampler, the sandboxes' own logs, retention.
 */
export function collectorParts(context: CollectorPartsContext): CollectorPart[] {
  const parts: CollectorPart[] = [];
  parts.push(new JournalIngester({ stateRoot: context.stateRoot, log: context.log }));
  parts.push(retentionPart({ settings: context.config.retention, log: context.log }));
  parts.push(metricsSampler({ controller: context.controller, intervalMs: context.config.sampleIntervalMs, log: context.log }));
  parts.push(new SandboxLogsPart({ controller: context.controller, intervalMs: context.config.sampleIntervalMs }));
  parts.push(new TaskGaugesPart({ stateRoot: context.stateRoot, records: context.controller.store, intervalMs: context.config.sampleIntervalMs }));
  return parts;
}
