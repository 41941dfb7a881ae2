import type Dockerode from 'dockerode';
import type { SandboxController } from '../controller';
import { describeError } from '../errors';
import type { SandboxRecord } from '../model';
import { createLimiter, type Limiter } from '../util/limiter';
import type { CollectorPart } from './collector';
import { CpuRates, counter, parseDockerStats, type CounterReading } from './dockerStats';
import { PROBE_SCRIPT, parseProbe, type ProbeMode, type ProbeReading } from './procStats';
import type { CollectorStore, IngestBatch, KnownSandbox, Sample } from './store';

export interface MetricsSamplerOptions {
  controller: SandboxController;
  /** How often each running sandbox is sampled. */
  intervalMs: number;
  log: (line: string) => void;
  /**
   * How often disk use is measured where it means walking files: a container's writable layer
   * (the engine's `SizeRw`) or a workspace (`du` over exec). Twelve intervals by default (60 s at 5 s).
   */
  diskIntervalMs?: number;
  /** How often the sandbox records are reconciled with their providers; twelve intervals by default. */
  listIntervalMs?: number;
}

/**
 * The engine answers one-shot stats at its own collection tick (up to a second later): waiting
 * calls cost it nothing, so they may all be out at once. Exec probes start a process in the
 * machine: a few at a time.
 */
const ENGINE_CONCURRENCY = 32;
const PROBE_CONCURRENCY = 4;
/** A probe that takes this long is given up; the sandbox is asked again next round. */
const PROBE_TIMEOUT_MS = 30_000;
const MAX_PROBE_OUTPUT = 256 * 1024;
/** The key of a listing's failure among the sandboxes' own. */
const LISTING = 'listing';
/** Disk walks and listings come every this many sample intervals. */
const SLOW_CADENCE = 12;

/**
 * Samples every running sandbox of the state dir each interval: containers of the local engine
 * through its stats API, every other machine through one small script over its exec channel.
 * A sandbox whose answer is late does not hold the round: its sample lands with the next one,
 * and it is not asked again until it answered.
 */
export class MetricsSampler implements CollectorPart {
  readonly name = 'metrics';
  readonly intervalMs: number;
  private readonly cpu = new CpuRates();
  private readonly engineLimit: Limiter = createLimiter(ENGINE_CONCURRENCY);
  private readonly probeLimit: Limiter = createLimiter(PROBE_CONCURRENCY);
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly finished: Sample[] = [];
  private readonly disk = new Map<string, { bytes?: number; at: number }>();
  private readonly reportedProblem = new Map<string, string>();
  private problems: NonNullable<IngestBatch['problems']> = [];
  private records: SandboxRecord[] = [];
  private listedAt = 0;

  private readonly diskIntervalMs: number;
  private readonly listIntervalMs: number;

  constructor(private readonly options: MetricsSamplerOptions) {
    this.intervalMs = options.intervalMs;
    this.diskIntervalMs = options.diskIntervalMs ?? SLOW_CADENCE * options.intervalMs;
    this.listIntervalMs = options.listIntervalMs ?? SLOW_CADENCE * options.intervalMs;
  }

  async collect(_store: CollectorStore, signal: AbortSignal): Promise<IngestBatch> {
    const now = Date.now();
    const running = (await this.runningSandboxes(now)).filter((record) => record.state === 'running' && record.providerRef);
    const ids = new Set(running.map((record) => record.id));
    this.cpu.keepOnly(ids);
    for (const id of this.disk.keys()) if (!ids.has(id)) this.disk.delete(id);
    for (const key of this.reportedProblem.keys()) if (key !== LISTING && !ids.has(key)) this.reportedProblem.delete(key);
    for (const record of running) {
      if (this.inFlight.has(record.id)) continue;
      const sampling = this.sample(record, signal).finally(() => this.inFlight.delete(record.id));
      this.inFlight.set(record.id, sampling);
    }
    // Wait for this round's answers, but not past most of the interval: late ones come next round.
    await waitAtMost(Promise.all(this.inFlight.values()), Math.max(500, this.intervalMs * 0.8), signal);
    const samples = this.finished.splice(0);
    const problems = this.problems;
    this.problems = [];
    const sampled = new Set(samples.map((sample) => sample.sandboxId));
    const sandboxes: KnownSandbox[] = running
      .filter((record) => sampled.has(record.id))
      .map((record) => ({ sandboxId: record.id, name: record.name, provider: record.provider, agent: record.agentId, firstSeen: now, lastSeen: now }));
    return { samples, sandboxes, problems };
  }

  /** The records of the state dir: reconciled with the providers now and then, read from the cache in between. */
  private async runningSandboxes(now: number): Promise<SandboxRecord[]> {
    try {
      if (now - this.listedAt >= this.listIntervalMs) {
        this.records = await this.options.controller.list();
        this.listedAt = now;
      } else {
        this.records = await this.options.controller.store.listRecords();
      }
    } catch (error) {
      // A provider that does not answer: sample what the cache says runs, and list again next round.
      this.note(LISTING, `Listing the sandboxes failed: ${describeError(error)}`);
      this.listedAt = 0;
      this.records = await this.options.controller.store.listRecords().catch(() => this.records);
    }
    return this.records;
  }

  private async sample(record: SandboxRecord, signal: AbortSignal, firstTry = true): Promise<void> {
    try {
      const read = record.provider === 'docker' ? () => this.readContainer(record) : () => this.probe(record);
      const limit = record.provider === 'docker' ? this.engineLimit : this.probeLimit;
      const reading = await limit(() => withDeadline(read(), PROBE_TIMEOUT_MS + 5_000));
      if (!reading) return;
      const { time, diskBytes, ...counters } = reading;
      const cpuPercent = this.cpu.percent(record.id, time, counters.cpuNanos);
      if (cpuPercent === undefined && firstTry && counters.cpuNanos !== undefined) {
        // A sandbox seen for the first time: a second reading shortly after gives its first rate.
        await pause(Math.min(1000, this.intervalMs / 2));
        return await this.sample(record, signal, false);
      }
      if (cpuPercent === undefined || counters.memoryBytes === undefined) return;
      const sample: Sample = { sandboxId: record.id, time, cpuPercent, memoryBytes: counters.memoryBytes };
      if (counters.memoryLimitBytes !== undefined) sample.memoryLimitBytes = counters.memoryLimitBytes;
      if (diskBytes !== undefined) sample.diskBytes = diskBytes;
      if (counters.netRxBytes !== undefined) sample.netRxBytes = counters.netRxBytes;
      if (counters.netTxBytes !== undefined) sample.netTxBytes = counters.netTxBytes;
      if (counters.pids !== undefined) sample.pids = counters.pids;
      this.finished.push(sample);
      this.reportedProblem.delete(record.id);
    } catch (error) {
      if (!signal.aborted) this.note(record.id, `Sampling ${record.name} failed: ${describeError(error)}`);
    }
  }

  /** One reading of a local container: one-shot stats, and now and then the size of its writable layer. */
  private async readContainer(record: SandboxRecord): Promise<(CounterReading & { time: number; diskBytes?: number }) | undefined> {
    const container = this.options.controller.docker.docker.getContainer(record.providerRef!);
    // Only a timeout: the engine answers within its tick, and a call joined to the collector's own
    // signal would add a listener to it for every container of every round.
    const timeout = AbortSignal.timeout(PROBE_TIMEOUT_MS);
    const answer: unknown = await (container.stats as (options: object) => Promise<unknown>).call(container, {
      stream: false,
      'one-shot': true,
      abortSignal: timeout,
    });
    const reading = parseDockerStats(answer);
    if (!reading) return undefined;
    const time = engineReadTime(answer) ?? Date.now();
    const disk = this.disk.get(record.id);
    if (!disk || time - disk.at >= this.diskIntervalMs) {
      // The engine walks the writable layer for SizeRw: what the sandbox wrote, workspace included.
      const details = (await container.inspect({ size: true, abortSignal: timeout } as Dockerode.ContainerInspectOptions)) as { SizeRw?: unknown };
      this.disk.set(record.id, { bytes: counter(details.SizeRw) ?? disk?.bytes, at: time });
    }
    const diskBytes = this.disk.get(record.id)?.bytes;
    return { ...reading, time, ...(diskBytes !== undefined ? { diskBytes } : {}) };
  }

  /** One reading of another machine: the probe script over its exec channel, as the sandbox's user. */
  private async probe(record: SandboxRecord): Promise<(ProbeReading & { time: number }) | undefined> {
    const mode: ProbeMode = record.placement?.kind === 'directory' ? 'marked' : 'machine';
    const now = Date.now();
    // A machine of its own reads its filesystem's use each time; a container or folder walks its workspace, less often.
    const walks = record.placement !== undefined;
    const disk = this.disk.get(record.id);
    const walkNow = walks && (!disk || now - disk.at >= this.diskIntervalMs);
    const result = await this.options.controller.inspectExec(record.id, {
      command: ['/bin/sh', '-c', PROBE_SCRIPT, 'probe', mode, record.id, record.workdir, walkNow ? '1' : '0'],
      timeoutMs: PROBE_TIMEOUT_MS,
      maxOutputBytes: MAX_PROBE_OUTPUT,
    });
    const time = Date.now();
    if (result.exitCode === null && (result.timedOut || result.cancelled)) throw new Error(`its probe did not answer within ${PROBE_TIMEOUT_MS / 1000} s`);
    const reading = parseProbe(result.stdout, mode);
    if (walks) {
      if (walkNow) this.disk.set(record.id, { bytes: reading.diskBytes ?? disk?.bytes, at: now });
      const bytes = this.disk.get(record.id)?.bytes;
      delete reading.diskBytes;
      if (bytes !== undefined) reading.diskBytes = bytes;
    }
    return { ...reading, time: Math.round((now + time) / 2) };
  }

  /** Logs a failure, and stores it once per sandbox until it changes (not every round). */
  private note(key: string, message: string): void {
    if (this.reportedProblem.get(key) === message) return;
    this.reportedProblem.set(key, message);
    this.options.log(`Collector: ${message}`);
    this.problems.push({ time: Date.now(), source: 'metrics', message });
  }
}

/** When the engine read the figures (its `read` field), if it is a plausible time. */
function engineReadTime(answer: unknown): number | undefined {
  const read = (answer as { read?: unknown } | null)?.read;
  if (typeof read !== 'string') return undefined;
  const time = Date.parse(read.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isFinite(time) && Math.abs(time - Date.now()) < 5 * 60_000 ? time : undefined;
}

/** Rejects when `work` has not settled in time: a channel that hangs must not keep its sandbox unsampled. */
function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function pause(ms: number): Promise<void> {
  // Not tied to the collector's signal: a second at most, and many sandboxes pause at once.
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function waitAtMost(work: Promise<unknown>, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined = undefined;
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      resolve();
    };
    timer = setTimeout(finish, ms);
    signal.addEventListener('abort', finish, { once: true });
    void work.then(finish, finish);
  });
}

/** The collector's metrics part, at the configured sample interval. */
export function metricsSampler(options: MetricsSamplerOptions): MetricsSampler {
  return new MetricsSampler(options);
}
