/**
 * The collector's store: how fast it ingests the state dir's events.jsonl and the journals against
 * appending the same lines to a file, how long the queries readers ask take over a month of data
 * (target under 100 ms), and what a round of retention and giving space back cost.
 */
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JournalIngester } from '../src/core/collector/journalIngest';
import { applyRetention } from '../src/core/collector/retention';
import { CollectorStore, type CollectedEvent, type Sample } from '../src/core/collector/store';
import { EventLog, serializeEvent } from '../src/core/events/eventLog';
import type { BusEvent } from '../src/core/events/types';
import { ms, percentile, report, scaled } from './util';

export const INGEST_FIGURES = ['collector-ingest'] as const;
export type IngestFigure = (typeof INGEST_FIGURES)[number];

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export async function ingestBenchmarks(wanted: (figure: IngestFigure) => boolean): Promise<void> {
  if (!wanted('collector-ingest')) return;
  await ingestThroughput();
  monthQueries();
}

function execEnded(sandboxId: string, n: number): BusEvent {
  return {
    type: 'exec.ended',
    sandboxId,
    time: new Date().toISOString(),
    execId: `e${n}`,
    command: `npm test -- --grep case-${n}`,
    channel: 'agent',
    user: 'agent',
    cwd: '/home/agent/workspace',
    exitCode: 0,
    durationMs: 1200,
    timedOut: false,
    cancelled: false,
  };
}

async function ingestThroughput(): Promise<void> {
  const count = scaled(20_000, 2_000);
  const lines = Array.from({ length: count }, (_, i) => serializeEvent(execEnded(`sb${i % 20}`, i)));
  const root = mkdtempSync(path.join(os.tmpdir(), 'bench-collector-'));
  try {
    // Baselines: the same lines appended to a file, as fast as one open file takes them, and as
    // the producers write them (EventLog.append: one open, write and close per line).
    const plainFile = path.join(root, 'plain.jsonl');
    let started = performance.now();
    const fd = openSync(plainFile, 'a');
    for (const line of lines) writeSync(fd, line);
    closeSync(fd);
    const plainMs = performance.now() - started;
    const producerDir = path.join(root, 'producer');
    const log = new EventLog(producerDir, { maxBytes: 1 << 30 });
    started = performance.now();
    for (let i = 0; i < count; i++) log.append(execEnded(`sb${i % 20}`, i));
    const producerMs = performance.now() - started;

    // The collector: the producer's file into the store, round after round until caught up.
    const store = CollectorStore.openForWriting(producerDir);
    const ingester = new JournalIngester({ stateRoot: producerDir, log: () => undefined });
    let rounds = 0;
    started = performance.now();
    for (;;) {
      const batch = await ingester.collect(store);
      store.ingest(batch);
      rounds++;
      if ((batch.events?.length ?? 0) === 0) break;
    }
    const ingestMs = performance.now() - started;
    const stored = Number(store.db.get<{ n: number }>('SELECT count(*) AS n FROM events')?.n);
    store.close();
    if (stored !== count) throw new Error(`The collector stored ${stored} events of ${count}.`);
    const rate = (n: number, took: number) => `${Math.round((n / took) * 1000).toLocaleString('en-US')} events/s (${ms(took)})`;
    report(`Collector ingest of ${count} events.jsonl lines`, [
      ['appending them to one open file (writeSync a line)', rate(count, plainMs)],
      ['appending them as producers do (EventLog.append)', rate(count, producerMs)],
      [`the collector storing them (${rounds} rounds of at most 4 MiB)`, rate(count, ingestMs)],
      ['collector against producers', `${(ingestMs / producerMs).toFixed(2)}x their time`],
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** A month of 20 sandboxes: minute rows, a day of raw samples at 5 s, an event a minute each, some output. */
function monthStore(root: string, now: number): CollectorStore {
  const store = CollectorStore.openForWriting(root);
  const sandboxes = Array.from({ length: 20 }, (_, i) => `sb${i}`);
  const start = now - 30 * DAY;
  for (let day = 0; day < 30; day++) {
    const from = start + day * DAY;
    const events: CollectedEvent[] = [];
    const samples: Sample[] = [];
    for (const sandboxId of sandboxes) {
      for (let m = 0; m < 1440; m++) {
        const t = from + m * MINUTE;
        events.push({
          time: t,
          type: m % 7 === 0 ? 'sync.ended' : 'exec.ended',
          sandboxId,
          sandbox: `name-${sandboxId}`,
          data: { command: 'make test', exitCode: 0 },
        });
      }
      if (day === 29)
        for (let t = from; t < from + DAY; t += 5000)
          samples.push({ sandboxId, time: t, cpuPercent: (t / 5000) % 100, memoryBytes: 2e8, netRxBytes: t - start, netTxBytes: 1, pids: 9 });
    }
    store.ingest({ events, samples });
    // The minute rows of the days before, written as retention writes them.
    if (day < 29) {
      store.db.transaction(() =>
        store.db.insertMany(
          'INSERT INTO samples_minute (sandbox_id, time, count, cpu_percent, cpu_percent_max, memory_bytes, memory_bytes_max, net_rx_bytes, net_tx_bytes, pids) VALUES (?, ?, 12, ?, ?, 200000000, 210000000, ?, 1, 9)',
          sandboxes.flatMap((sandboxId) => Array.from({ length: 1440 }, (_, m) => [sandboxId, from + m * MINUTE, m % 100, (m % 100) + 5, m * 1000])),
        ),
      );
    }
  }
  return store;
}

function timed(runs: number, query: () => unknown): { p50: number; p95: number; rows: number } {
  const samples: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const result = query();
    samples.push(performance.now() - started);
    rows = Array.isArray(result) ? result.length : rows;
  }
  return { p50: percentile(samples, 50), p95: percentile(samples, 95), rows };
}

function monthQueries(): void {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bench-collector-month-'));
  try {
    const now = Date.now();
    let started = performance.now();
    const writer = monthStore(root, now);
    const buildMs = performance.now() - started;
    const file = path.join(root, 'collector.db');
    const runs = scaled(20, 5);
    const reader = CollectorStore.openForReading(root)!;
    const line = (what: string, result: { p50: number; p95: number; rows: number }) =>
      [
        `${what} (${result.rows} rows)`,
        `${ms(result.p50)} p50, ${ms(result.p95)} p95${result.p95 < 100 ? ' (target < 100 ms: met)' : ' (target < 100 ms: NOT met)'}`,
      ] as [string, string];
    const rows: [string, string][] = [
      ['store', `${(statSync(file).size / 1024 / 1024).toFixed(1)} MiB, 20 sandboxes, 30 days, built in ${ms(buildMs)}`],
      line(
        "one sandbox's events over a day",
        timed(runs, () => reader.events({ sandbox: 'name-sb3', since: now - 2 * DAY, until: now - DAY, limit: 100_000 })),
      ),
      line(
        "a month of one sandbox's samples, every row (minute rows, then raw)",
        timed(runs, () => reader.samples('sb3', now - 30 * DAY, now)),
      ),
      line(
        "a month of one sandbox's samples in 10-minute steps",
        timed(runs, () => reader.samplesByStep('sb3', now - 30 * DAY, now, 10 * MINUTE)),
      ),
      line(
        "a day of one sandbox's raw samples",
        timed(runs, () => reader.samples('sb3', now - DAY, now)),
      ),
      line(
        'the newest 100 sync events of all (--type sync.)',
        timed(runs, () => reader.events({ types: ['sync.'], limit: 100 })),
      ),
      line(
        "a reader's whole visit: open read-only, a day of events, close",
        timed(runs, () => {
          const once = CollectorStore.openForReading(root)!;
          try {
            return once.events({ sandbox: 'sb3', since: now - DAY, limit: 100_000 });
          } finally {
            once.close();
          }
        }),
      ),
    ];
    reader.close();

    // Retention: a day of raw samples of 20 sandboxes into minute rows, then nothing to do.
    const settings = { rawHours: 24, minuteDays: 30, eventDays: 30, maxFileMiB: 4096 };
    const downsample = applyRetention(writer, settings, now + DAY);
    const idle = applyRetention(writer, settings, now + DAY);
    rows.push(
      ['retention: a day of raw samples to minute rows', `${ms(downsample.durationMs)} (${downsample.downsampled} samples to ${downsample.minuteRows} rows)`],
      ['retention: a round with nothing to do', ms(idle.durationMs)],
    );
    // Giving space back after a fifth of the events went: incremental vacuum here, a full VACUUM on a copy.
    writer.db.run(`DELETE FROM events WHERE time < ?`, [now - 24 * DAY]);
    const freeBefore = statSync(file).size;
    writer.close();
    const copyDir = path.join(root, 'copy');
    mkdirSync(copyDir);
    copyFileSync(file, path.join(copyDir, 'collector.db'));
    const incremental = CollectorStore.openForWriting(root);
    started = performance.now();
    incremental.db.all('PRAGMA incremental_vacuum');
    const incrementalMs = performance.now() - started;
    incremental.close();
    const full = CollectorStore.openForWriting(copyDir);
    started = performance.now();
    full.db.run('VACUUM');
    const fullMs = performance.now() - started;
    full.close();
    const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    rows.push([
      'space back after deleting 6 of 30 days of events',
      `incremental vacuum ${ms(incrementalMs)} (${mib(freeBefore)} -> ${mib(statSync(file).size)}); full VACUUM ${ms(fullMs)} (-> ${mib(statSync(path.join(copyDir, 'collector.db')).size)})`,
    ]);
    report('Collector queries over a month of data', rows);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
