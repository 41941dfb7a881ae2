/**
 * One reading of a container from the engine's stats API (`GET /containers/{id}/stats?stream=false&one-shot=true`).
 * The CPU figure is a cumulative counter: the sampler turns two readings into a rate itself, so
 * the engine need not wait a second for its own `precpu_stats`.
 */
export interface CounterReading {
  /** CPU time the machine used since it started, in nanoseconds. */
  cpuNanos?: number;
  memoryBytes?: number;
  memoryLimitBytes?: number;
  pids?: number;
  netRxBytes?: number;
  netTxBytes?: number;
}

/** Byte counts past this are not believed (16 EiB is what a cgroup says for "no limit"). */
const MAX_PLAUSIBLE = 2 ** 62;

/** A non-negative safe number, or undefined for anything else. */
export function counter(value: unknown): number | undefined {
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) && number >= 0 && number < MAX_PLAUSIBLE ? number : undefined;
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/**
 * What a stats answer says, or undefined when it says the container is not running (the engine
 * answers a stopped one with empty figures). Memory is usage less the inactive page cache, as
 * `docker stats` shows it (cgroup v2 `inactive_file`, v1 `total_inactive_file`).
 */
export function parseDockerStats(answer: unknown): CounterReading | undefined {
  const stats = record(answer);
  const cpuNanos = counter(record(record(stats.cpu_stats).cpu_usage).total_usage);
  const memory = record(stats.memory_stats);
  const usage = counter(memory.usage);
  const pids = counter(record(stats.pids_stats).current);
  if (cpuNanos === undefined && usage === undefined) return undefined;
  if (cpuNanos === 0 && usage === undefined && !pids) return undefined;
  const reading: CounterReading = {};
  if (cpuNanos !== undefined) reading.cpuNanos = cpuNanos;
  if (usage !== undefined) {
    const breakdown = record(memory.stats);
    const cache = counter(breakdown.inactive_file) ?? counter(breakdown.total_inactive_file) ?? 0;
    reading.memoryBytes = cache < usage ? usage - cache : usage;
  }
  const limit = counter(memory.limit);
  if (limit !== undefined && limit > 0) reading.memoryLimitBytes = limit;
  if (pids !== undefined) reading.pids = pids;
  const networks = record(stats.networks);
  let rx: number | undefined;
  let tx: number | undefined;
  for (const name of Object.keys(networks).slice(0, 64)) {
    const network = record(networks[name]);
    const received = counter(network.rx_bytes);
    const sent = counter(network.tx_bytes);
    if (received !== undefined) rx = (rx ?? 0) + received;
    if (sent !== undefined) tx = (tx ?? 0) + sent;
  }
  if (rx !== undefined) reading.netRxBytes = rx;
  if (tx !== undefined) reading.netTxBytes = tx;
  return reading;
}

/** The last CPU counter seen of each machine, to make a rate of the next one. */
export class CpuRates {
  private readonly last = new Map<string, { time: number; cpuNanos: number }>();

  /**
   * CPU used since the previous reading of this machine as a percentage of one core (100 = one
   * core busy). Undefined on the first reading: there is no rate to tell yet. 0 when the counter
   * went back (the machine restarted, or marked processes ended): the next reading counts again.
   */
  percent(key: string, time: number, cpuNanos: number | undefined): number | undefined {
    if (cpuNanos === undefined) return undefined;
    const previous = this.last.get(key);
    this.last.set(key, { time, cpuNanos });
    if (!previous) return undefined;
    if (time <= previous.time || cpuNanos < previous.cpuNanos) return 0;
    const percent = ((cpuNanos - previous.cpuNanos) / ((time - previous.time) * 1e6)) * 100;
    return Number.isFinite(percent) ? Math.round(percent * 10) / 10 : undefined;
  }

  /** Forgets machines not among `keys` (deleted or stopped). */
  keepOnly(keys: ReadonlySet<string>): void {
    for (const key of this.last.keys()) if (!keys.has(key)) this.last.delete(key);
  }
}
