import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyRetention, type RetentionSettings, type RetentionState } from '../../../../src/core/collector/retention';
import { CollectorStore, type LogLine, type Sample } from '../../../../src/core/collector/store';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const START = Date.UTC(2027, 0, 1);
const SANDBOXES = ['sb-a', 'sb-b', 'sb-c'];
const SAMPLE_EVERY_MS = 20_000;

/** CPU 10, 20, 30 in the three samples of each minute; memory likewise in MiB; a counter that grows by 1000 a sample. */
function sampleAt(sandboxId: string, time: number): Sample {
  const step = ((time % MINUTE) / SAMPLE_EVERY_MS) | 0;
  return {
    sandboxId,
    time,
    cpuPercent: 10 * (step + 1),
    memoryBytes: (step + 1) * 1024 * 1024,
    memoryLimitBytes: 1 << 30,
    diskBytes: 5000,
    netRxBytes: (time - START) / 20,
    netTxBytes: 7,
    pids: 4,
  };
}

describe('collector: retention', () => {
  let dir: string;
  let store: CollectorStore;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'collector-retention-'));
    store = CollectorStore.openForWriting(dir);
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('downsamples a simulated month of three sandboxes to minute averages and keeps the file under its bound', function () {
    this.timeout(120_000);
    const settings: RetentionSettings = { rawHours: 24, minuteDays: 30, eventDays: 30, maxFileMiB: 16 };
    const state: RetentionState = {};
    const bound = settings.maxFileMiB * 1024 * 1024;
    const days = 32;
    let largest = 0;
    let trimmedLogs = 0;
    // Twelve hours at a time, retention after each: a collector's rounds, fewer of them.
    const ROUND = 12 * HOUR;
    for (let round = 0; round < (days * DAY) / ROUND; round++) {
      const from = START + round * ROUND;
      const samples: Sample[] = [];
      for (let time = from; time < from + ROUND; time += SAMPLE_EVERY_MS) for (const id of SANDBOXES) samples.push(sampleAt(id, time));
      // Command output well past what the bound holds over a month: the oldest lines must go.
      const logs: LogLine[] = Array.from({ length: 3600 }, (_, i) => ({
        time: from + i * 10_000,
        sandboxId: SANDBOXES[i % 3]!,
        source: 'exec',
        stream: 'stdout',
        line: `line ${round}:${i} ${'x'.repeat(120)}`,
      }));
      const events = Array.from({ length: 12 }, (_, i) => ({ time: from + i * HOUR, type: 'exec.ended', sandboxId: 'sb-a', sandbox: 'a', data: { round } }));
      store.ingest({ samples, logs, events });
      const report = applyRetention(store, settings, from + ROUND, state);
      trimmedLogs += report.trimmed.logs;
      largest = Math.max(largest, statSync(path.join(dir, 'collector.db')).size);
    }
    const now = START + days * DAY;
    assert.ok(largest <= bound, `the file reached ${largest} bytes, past its bound of ${bound}`);
    assert.ok(trimmedLogs > 0, 'the bound was reached, so the oldest log lines went');

    // Raw samples only for the last rawHours, each sandbox's minutes before that for minuteDays.
    const oldestRaw = Number(store.db.get<{ t: number }>('SELECT min(time) AS t FROM samples')!.t);
    assert.ok(oldestRaw >= now - 25 * HOUR && oldestRaw < now - 23 * HOUR, `oldest raw sample ${new Date(oldestRaw).toISOString()}`);
    const minuteRange = store.db.get<{ lo: number; hi: number; n: number }>('SELECT min(time) AS lo, max(time) AS hi, count(*) AS n FROM samples_minute')!;
    assert.ok(Number(minuteRange.lo) >= now - 30 * DAY - HOUR, 'minute rows past 30 days are gone');
    assert.ok(Number(minuteRange.hi) < now - 23 * HOUR);
    assert.ok(Number(minuteRange.n) > 3 * 28 * 24 * 60 * 0.99, `${minuteRange.n} minute rows`);

    // One minute, checked by hand: the averages of 10/20/30, their maxima, the last counter.
    const minute = now - 10 * DAY + 17 * MINUTE;
    const row = store.db.get<Record<string, number>>('SELECT * FROM samples_minute WHERE sandbox_id = ? AND time = ?', ['sb-b', minute])!;
    assert.equal(Number(row.count), 3);
    assert.equal(Number(row.cpu_percent), 20);
    assert.equal(Number(row.cpu_percent_max), 30);
    assert.equal(Number(row.memory_bytes), 2 * 1024 * 1024);
    assert.equal(Number(row.memory_bytes_max), 3 * 1024 * 1024);
    assert.equal(Number(row.net_rx_bytes), (minute + 2 * SAMPLE_EVERY_MS - START) / 20);
    assert.equal(Number(row.disk_bytes), 5000);

    // A reader asking for a month of one sandbox gets minute rows, then raw ones.
    const month = store.samples('sb-a', now - 30 * DAY, now);
    assert.ok(month.length > 28 * 24 * 60);
    assert.ok(month.every((sample, i) => i === 0 || sample.time > month[i - 1]!.time));

    // Events older than eventDays are gone; the newest stay.
    const oldestEvent = store.events({ limit: 100_000 })[0]!;
    assert.ok(oldestEvent.time >= now - 30 * DAY - HOUR);
  });

  it('gives the pages of trimmed rows back to the file system when the file is past its bound', () => {
    const now = START + DAY;
    const logs: LogLine[] = Array.from({ length: 100_000 }, (_, i) => ({
      time: now - 99_999 + i,
      sandboxId: 'sb-a',
      source: 'exec',
      stream: 'stdout',
      line: 'x'.repeat(100),
    }));
    store.ingest({ logs });
    const file = path.join(dir, 'collector.db');
    assert.ok(statSync(file).size > 10 * 1024 * 1024);
    const report = applyRetention(store, { rawHours: 24, minuteDays: 30, eventDays: 30, maxFileMiB: 5 }, now);
    assert.equal(report.vacuumed, 'incremental');
    assert.ok(statSync(file).size <= 5 * 1024 * 1024, `${statSync(file).size} bytes`);
    const kept = store.logs('sb-a', { limit: 100_000 });
    assert.equal(kept.length, 100_000 - report.trimmed.logs);
    assert.equal(kept.at(-1)!.time, now, 'the newest lines stay');
  });

  it('leaves a store within its bound and its windows alone', () => {
    const settings: RetentionSettings = { rawHours: 24, minuteDays: 30, eventDays: 30, maxFileMiB: 64 };
    const now = START + DAY;
    store.ingest({ samples: [sampleAt('sb-a', now - HOUR)], logs: [{ time: now - HOUR, sandboxId: 'sb-a', source: 'exec', stream: 'stdout', line: 'kept' }] });
    const report = applyRetention(store, settings, now);
    assert.equal(report.downsampled, 0);
    assert.deepEqual(report.trimmed, { logs: 0, events: 0, samplesMinute: 0, samples: 0 });
    assert.equal(report.vacuumed, undefined);
    assert.equal(store.logs('sb-a').length, 1);
  });
});
