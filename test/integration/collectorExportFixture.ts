import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { collectorSinks } from '../../src/app/collectorSinks';
import { Collector, type CollectorPart } from '../../src/core/collector/collector';
import type { CollectorConfig } from '../../src/core/collector/config';
import type { CollectorSink } from '../../src/core/collector/sink';
import type { IngestBatch, KnownSandbox } from '../../src/core/collector/store';
import { SandboxController } from '../../src/core/controller';
import { StateStore } from '../../src/core/store/stateStore';

export const WEB: KnownSandbox = { sandboxId: 'sbx-web-0001', name: 'web-1', provider: 'docker', agent: 'agent-a', firstSeen: 0, lastSeen: 0 };
export const DB: KnownSandbox = { sandboxId: 'sbx-db-0002', name: 'db-2', provider: 'ssh', firstSeen: 0, lastSeen: 0 };

/**
 * A collector part standing in for the sampler and the journal ingester (tested on their own):
 * each round, a sample of every sandbox still "running" (web at 1.5 cores, network totals
 * growing), a queue depth and a cost, and on its first round a sandbox.started event each.
 */
export class ScriptedPart implements CollectorPart {
  readonly name = 'scripted';
  running = new Set([WEB.sandboxId, DB.sandboxId]);
  rounds = 0;

  constructor(readonly intervalMs: number) {}

  async collect(): Promise<IngestBatch> {
    const time = Date.now();
    this.rounds++;
    const sandboxes = [WEB, DB].filter((s) => this.running.has(s.sandboxId)).map((s) => ({ ...s, firstSeen: s.firstSeen || time, lastSeen: time }));
    const batch: IngestBatch = {
      sandboxes,
      samples: sandboxes.map((s, i) => ({
        sandboxId: s.sandboxId,
        time,
        cpuPercent: s.sandboxId === WEB.sandboxId ? 150 : 20,
        memoryBytes: (256 + i) * 1024 * 1024,
        memoryLimitBytes: 1024 * 1024 * 1024,
        diskBytes: 50_000_000,
        netRxBytes: 1_000_000 * this.rounds,
        netTxBytes: 2_000 * this.rounds,
        pids: 12,
      })),
      gauges: [
        { name: 'queue.depth', sandboxId: '', time, value: 3 },
        { name: 'cost_usd', sandboxId: WEB.sandboxId, time, value: 0.42 },
      ],
    };
    if (this.rounds === 1) {
      batch.events = sandboxes.map((s) => ({
        time,
        type: 'sandbox.started',
        sandboxId: s.sandboxId,
        sandbox: s.name,
        provider: s.provider,
        ...(s.agent ? { agent: s.agent } : {}),
        data: { image: 'agent-sandboxes/sandbox', cpus: 2 },
      }));
    }
    return batch;
  }
}

/** A real collector (its store in a temporary state dir) with the exporters collector.json asks for. */
export class ExportingCollector {
  readonly stateDir = mkdtempSync(path.join(os.tmpdir(), 'sandbox-collector-export-'));
  readonly logLines: string[] = [];
  readonly part: ScriptedPart;
  readonly sinks: CollectorSink[];
  private readonly controller = new SandboxController({ store: new StateStore(this.stateDir) });
  private readonly collector: Collector;

  constructor(config: Partial<CollectorConfig>, intervalMs = 1_000) {
    const log = (line: string) => void this.logLines.push(line);
    const full: CollectorConfig = { sampleIntervalMs: intervalMs, retention: { rawHours: 24, minuteDays: 30, eventDays: 30, maxFileMiB: 512 }, ...config };
    this.sinks = collectorSinks(full, log);
    this.part = new ScriptedPart(intervalMs);
    this.collector = new Collector({ stateRoot: this.stateDir, controller: this.controller, log, sinks: this.sinks }, [this.part]);
  }

  start(): void {
    this.collector.start();
  }

  async dispose(): Promise<void> {
    await this.collector.stop();
    this.controller.dispose();
    await fs.rm(this.stateDir, { recursive: true, force: true });
  }
}

/** Polls until `check` returns a value (not undefined), or fails with the last reason after `timeoutMs`. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
