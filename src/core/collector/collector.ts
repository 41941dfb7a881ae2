import type { SandboxController } from '../controller';
import { describeError } from '../errors';
import type { CollectorSink } from './sink';
import { CollectorStore, type IngestBatch, type KnownSandbox } from './store';

export const DEFAULT_SAMPLE_INTERVAL_MS = 5_000;
export const DEFAULT_INGEST_INTERVAL_MS = 1_000;
/** How long a stop waits for the parts' rounds, then again for the exporters' last sends. */
const STOP_WAIT_MS = 5_000;

export interface CollectorOptions {
  stateRoot: string;
  controller: SandboxController;
  log: (line: string) => void;
  /** How often running sandboxes are sampled; 5 s by default. */
  sampleIntervalMs?: number;
  /** How often the journals are read for new lines; 1 s by default. */
  ingestIntervalMs?: number;
  sinks?: CollectorSink[];
}

/** One part of the collector's work, run on its own interval; returns what to store. */
export interface CollectorPart {
  readonly name: string;
  readonly intervalMs: number;
  /** Gathers one round. Must not throw for one sandbox's failure: it reports it in `problems`. */
  collect(store: CollectorStore, signal: AbortSignal): Promise<IngestBatch>;
  /** The round could not be stored: what it read is to be read again. */
  failed?(): void;
  /** Lets go of what the part holds between rounds (file watches), once the collector stops. */
  close?(): void;
}

/**
 * The collector: the store's one writer. It runs its parts (the journal ingester, the metrics
 * sampler, retention) each on its interval, stores what they gather with the offsets that
 * account for it in one transaction, and hands it to its sinks.
 */
export class Collector {
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly known = new Map<string, KnownSandbox>();
  private store?: CollectorStore;

  constructor(
    private readonly options: CollectorOptions,
    private readonly parts: CollectorPart[],
  ) {}

  start(): void {
    this.store = CollectorStore.openForWriting(this.options.stateRoot);
    for (const known of this.store.sandboxes()) this.known.set(known.sandboxId, known);
    for (const part of this.parts) this.loops.push(this.run(part, this.store));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    // A part waiting on a slow machine, or an exporter on a dead endpoint, must not hold up the
    // process it runs in (a daemon being stopped): what they had not stored is read again next time.
    await settledWithin(Promise.all(this.loops), STOP_WAIT_MS);
    for (const part of this.parts) part.close?.();
    await settledWithin(Promise.all((this.options.sinks ?? []).map((sink) => sink.close?.().catch(() => undefined))), STOP_WAIT_MS);
    this.store?.close();
    this.store = undefined;
  }

  /** The sandboxes the store knows, by id (names of deleted ones included). */
  get sandboxes(): ReadonlyMap<string, KnownSandbox> {
    return this.known;
  }

  private async run(part: CollectorPart, store: CollectorStore): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        const batch = await part.collect(store, signal);
        if (signal.aborted && !batch.offsets?.length) break;
        if (this.store !== store) break; // stopped while this round ran: it is read again next time
        store.ingest(batch);
        this.publish(batch);
      } catch (error) {
        part.failed?.();
        this.options.log(`Collector: ${part.name} failed: ${describeError(error)}`);
      }
      await delay(Math.max(0, part.intervalMs - (Date.now() - started)), signal);
    }
  }

  private publish(batch: IngestBatch): void {
    for (const known of batch.sandboxes ?? []) this.known.set(known.sandboxId, { ...this.known.get(known.sandboxId), ...known });
    for (const sink of this.options.sinks ?? []) {
      try {
        if (batch.events?.length) sink.events?.(batch.events);
        if (batch.samples?.length) sink.samples?.(batch.samples, this.known);
        if (batch.gauges?.length) sink.gauges?.(batch.gauges);
      } catch (error) {
        this.options.log(`Collector: a sink failed: ${describeError(error)}`);
      }
    }
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]).finally(() => clearTimeout(timer));
}
