import * as assert from 'node:assert/strict';
import { matchKnown, metricsRows, summarize, topRows, withRates } from '../../../src/app/metricsView';
import { parseSince } from '../../../src/app/since';
import type { Sample } from '../../../src/core/collector/store';

const sample = (time: number, fields: Partial<Sample> = {}): Sample => ({ sandboxId: 'a', time, cpuPercent: 0, memoryBytes: 0, ...fields });

describe('metrics as `sandbox metrics` and `sandbox top` show them', function () {
  it('reads --since as a duration back from now or as an ISO time, and refuses anything else', function () {
    const now = Date.parse('2026-12-06T12:00:00Z');
    assert.equal(parseSince('10m', now), now - 600_000);
    assert.equal(parseSince('2h', now), now - 7_200_000);
    assert.equal(parseSince('1d', now), now - 86_400_000);
    assert.equal(parseSince('90s', now), now - 90_000);
    assert.equal(parseSince('2026-12-06T11:00:00Z', now), now - 3_600_000);
    for (const bad of ['', 'yesterday', '10', '5 weeks', '-1h', '2026-13-45'])
      assert.throws(() => parseSince(bad, now), /is neither an age like 10m, 2h or 1d nor an ISO time/);
  });

  it('turns network counters into rates, and none across a restart', function () {
    const rated = withRates(sample(0, { netRxBytes: 1000, netTxBytes: 10 }), sample(2000, { netRxBytes: 5000, netTxBytes: 30 }));
    assert.equal(rated.netRxPerSecond, 2000);
    assert.equal(rated.netTxPerSecond, 10);
    const restarted = withRates(sample(0, { netRxBytes: 5000 }), sample(1000, { netRxBytes: 10 }));
    assert.equal(restarted.netRxPerSecond, undefined);
    assert.equal(withRates(undefined, sample(0)).netRxPerSecond, undefined);
  });

  it('averages a long window into rows of equal time', function () {
    const samples = Array.from({ length: 100 }, (_, i) => sample(i * 1000, { cpuPercent: i < 50 ? 100 : 0, memoryBytes: 1000, netRxBytes: i * 500, pids: i }));
    const rows = summarize(samples, 10);
    assert.equal(rows.length, 10);
    assert.equal(rows[0]!.cpuPercent, 100);
    assert.equal(rows[9]!.cpuPercent, 0);
    assert.equal(rows[9]!.pids, 99, 'processes as at the end of the row');
    assert.ok(Math.abs(rows[5]!.netRxPerSecond! - 500) < 1, `rate ${rows[5]!.netRxPerSecond}`);
    assert.deepEqual(summarize([], 10), []);
  });

  it('prints tables with dashes for what was not measured', function () {
    const [header, row] = metricsRows([
      { ...sample(Date.parse('2026-12-06T12:00:00Z'), { cpuPercent: 55.55, memoryBytes: 3 * 1024 ** 2 }), netRxPerSecond: 2048 },
    ]);
    assert.deepEqual(header, ['TIME', 'CPU', 'MEM', 'DISK', 'NET IN', 'NET OUT', 'PIDS']);
    assert.deepEqual(row, ['2026-12-06 12:00:00', '55.5%', '3 MiB', '-', '2 KiB/s', '-', '-']);
    const [, top] = topRows([
      {
        sandboxId: 'a',
        name: 'web',
        provider: 'docker',
        sample: { ...sample(0, { cpuPercent: 150, memoryBytes: 512 * 1024 ** 2, memoryLimitBytes: 2 * 1024 ** 3, pids: 7 }) },
      },
    ]);
    assert.deepEqual(top, ['web', 'docker', '150.0%', '512 MiB / 2 GiB', '25.0%', '- / -', '7']);
  });

  it('finds a sandbox by name, id or a unique prefix of either', function () {
    const known = [
      { sandboxId: 'abc123', name: 'web', firstSeen: 0, lastSeen: 0 },
      { sandboxId: 'abd456', name: 'worker', firstSeen: 0, lastSeen: 0 },
    ];
    assert.equal(matchKnown(known, 'web')?.sandboxId, 'abc123');
    assert.equal(matchKnown(known, 'abd')?.name, 'worker');
    assert.equal(matchKnown(known, 'ab'), undefined, 'ambiguous');
    assert.equal(matchKnown(known, 'w'), undefined, 'ambiguous');
    assert.equal(matchKnown(known, 'nothing'), undefined);
  });
});
