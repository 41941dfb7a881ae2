import { Collector } from '../core/collector/collector';
import { acquireCollectorLock, type CollectorRole } from '../core/collector/collectorLock';
import { collectorDbFile } from '../core/collector/database';
import { readCollectorConfig, type CollectorConfig } from '../core/collector/config';
import { collectorParts } from '../core/collector/parts';
import { collectorSinks } from './collectorSinks';
import type { CollectorSink } from '../core/collector/sink';
import type { SandboxController } from '../core/controller';
import { describeError } from '../core/errors';

export interface CollectorRunnerOptions {
  stateRoot: string;
  controller: SandboxController;
  log: (line: string) => void;
  /** The state dir's collector.json when not given. */
  config?: CollectorConfig;
  /** Who runs it, as `sandbox collector status` and a refused second collector tell. */
  role?: CollectorRole;
}

export interface RunningCollector {
  readonly collector: Collector;
  stop(): Promise<void>;
}

/**
 * Starts the state dir's collector, its one writer: takes collector.lock (refused, in one
 * sentence, while the daemon or another `sandbox collector run` holds it), then runs every part
 * of collectorParts() and hands what they gather to the sinks.
 */
export function startCollector(options: CollectorRunnerOptions): RunningCollector {
  const config = options.config ?? readCollectorConfig(options.stateRoot);
  const release = acquireCollectorLock(options.stateRoot, options.role ?? 'collector run');
  let collector: Collector;
  let sinks: CollectorSink[] = [];
  try {
    sinks = collectorSinks(config, options.log);
    const context = { stateRoot: options.stateRoot, controller: options.controller, config, log: options.log };
    collector = new Collector(
      {
        stateRoot: options.stateRoot,
        controller: options.controller,
        log: options.log,
        sampleIntervalMs: config.sampleIntervalMs,
        sinks,
      },
      collectorParts(context),
    );
    collector.start();
  } catch (error) {
    for (const sink of sinks) void sink.close?.().catch(() => undefined);
    release();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    collector,
    stop() {
      stopping ??= collector.stop().finally(release);
      return stopping;
    },
  };
}

/** How often the daemon tries again to take the collector over from `sandbox collector run`. */
const HOST_RETRY_MS = 10_000;

/**
 * The daemon's collector: started now, or, while `sandbox collector run` holds the store, as soon
 * as it lets go (said once in the log). Never throws: the daemon's other work goes on without it.
 */
export function hostCollector(options: Omit<CollectorRunnerOptions, 'role'>): { stop(): Promise<void> } {
  let running: RunningCollector | undefined;
  let said = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const attempt = () => {
    timer = undefined;
    if (stopped) return;
    try {
      running = startCollector({ ...options, role: 'daemon' });
      options.log(`Collector started; its store is ${collectorDbFile(options.stateRoot)}.`);
    } catch (error) {
      if (!said) options.log(`No collector yet: ${describeError(error)} The daemon takes it over when it stops.`);
      said = true;
      timer = setTimeout(attempt, HOST_RETRY_MS);
    }
  };
  attempt();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.stop();
    },
  };
}
