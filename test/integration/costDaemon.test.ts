import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { HOUR_MS } from '../../src/core/cost/billing';
import { CostLedger } from '../../src/core/cost/ledger';
import { writeMonthlyBudget } from '../../src/core/cost/settings';
import { EVENT_LOG_FILE } from '../../src/core/events/eventLog';
import { StateStore } from '../../src/core/store/stateStore';
import { SCHEDULER_STATUS_FILE, type SchedulerStatus } from '../../src/core/tasks/scheduler';
import { runDaemon } from '../../src/daemon/daemon';
import { tempDir, waitFor } from './helpers';

describe('the daemon’s cost enforcement, with the real controller', function () {
  this.timeout(60_000);

  it('closes the ledger entry of a machine no provider lists, fires the budget alerts once into events.jsonl, and keeps no warm pool before the first task', async function () {
    const stateRoot = tempDir('cost-daemon-');
    const ledger = new CostLedger(stateRoot, Date.now);
    // A machine made an hour ago at $40 an hour, whose record is gone: $40 of a $50 budget.
    const entry = await ledger.openMachine({
      sandbox: 'forgotten',
      provider: 'digitalocean',
      size: 'gpu-h100x1-80gb',
      usdPerHour: 40,
      ttlMs: 2 * HOUR_MS,
      atMs: Date.now() - HOUR_MS,
    });
    await writeMonthlyBudget(stateRoot, 50);
    const lines: string[] = [];
    const abort = new AbortController();
    const daemon = runDaemon({ stateRoot, log: (line) => lines.push(line), signal: abort.signal, costCheckMs: 200 });
    try {
      const closed = await waitFor(async () => (await new CostLedger(stateRoot, Date.now).load()).machines.get(entry.id)?.end, 20_000, 'the entry to close');
      assert.equal(closed, 'vanished');
      const events = await waitFor(
        async () => {
          const text = await fs.readFile(path.join(stateRoot, EVENT_LOG_FILE), 'utf8').catch(() => '');
          const alerts = text
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line) as { type: string; percent?: number })
            .filter((event) => event.type === 'cost.alert');
          return alerts.length >= 2 ? alerts : undefined;
        },
        20_000,
        'the alerts in events.jsonl',
      );
      assert.deepEqual(
        events.map((event) => event.percent),
        [50, 80],
      );
      // Several more checks: nothing fires twice.
      await new Promise((resolve) => setTimeout(resolve, 800));
      assert.deepEqual([...(await new CostLedger(stateRoot, Date.now).load()).alerts.keys()], [50, 80]);
      assert.ok(lines.some((line) => line.includes('Cost entry forgotten.') && line.includes('no longer listed')));
      assert.equal(lines.filter((line) => line.includes('used 80% of this month')).length, 1);
      // This daemon is here for the ledger alone: with no task in the state dir yet, its default pool stays empty.
      const status = JSON.parse(await fs.readFile(path.join(stateRoot, SCHEDULER_STATUS_FILE), 'utf8')) as SchedulerStatus;
      const pool = status.pools.find((candidate) => candidate.profile === 'default');
      assert.deepEqual([pool?.size, pool?.warm, pool?.creating], [0, [], 0], 'no warm Docker sandbox is kept before the first task');
      assert.deepEqual(await new StateStore(stateRoot).listRecords(), [], 'no container was made');
    } finally {
      abort.abort();
      await daemon;
      await fs.rm(stateRoot, { recursive: true, force: true });
    }
  });
});
