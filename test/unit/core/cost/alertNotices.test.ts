import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { alertNoticeMarker, claimAlertNotice, watchAlertNotices, type AlertNotice } from '../../../../src/core/cost/alertNotices';
import type { AlertPercent } from '../../../../src/core/cost/fold';
import { EventLog } from '../../../../src/core/events/eventLog';
import type { BusEvent } from '../../../../src/core/events/types';

const NOW = Date.parse('2026-12-06T06:00:00.000Z');

function alert(percent: AlertPercent, month = '2026-12'): BusEvent {
  return {
    type: 'cost.alert',
    sandboxId: '',
    time: new Date(NOW).toISOString(),
    percent,
    month,
    budgetUsd: 10,
    spentUsd: 1,
    committedUsd: (10 * percent) / 100,
    message: `Cloud sandboxes have used ${percent}% of this month's $10.00 budget.`,
  };
}

/** Resolves once `check` holds, looking every 10 ms for up to 5 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > 5000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('budget alert notices', function () {
  let stateRoot: string;
  beforeEach(() => (stateRoot = mkdtempSync(path.join(os.tmpdir(), 'alert-notices-'))));
  afterEach(() => rmSync(stateRoot, { recursive: true, force: true }));

  it('shows an alert to exactly one of four claimers racing for it', async function () {
    const results = await Promise.all([1, 2, 3, 4].map(() => claimAlertNotice(stateRoot, [alert(80)], NOW)));
    const shown = results.filter((notice) => notice !== undefined);
    assert.equal(shown.length, 1);
    assert.equal(shown[0]!.percent, 80);
    assert.ok(existsSync(alertNoticeMarker(stateRoot, '2026-12', 80)));
    assert.equal(await claimAlertNotice(stateRoot, [alert(80)], NOW), undefined, 'a later claimer (a restart) shows it no more');
  });

  it('of a burst shows the highest only, and never a lower alert after it', async function () {
    const notice = await claimAlertNotice(stateRoot, [alert(50), alert(80)], NOW);
    assert.equal(notice?.percent, 80);
    assert.equal(await claimAlertNotice(stateRoot, [alert(50)], NOW), undefined);
    assert.equal((await claimAlertNotice(stateRoot, [alert(100)], NOW))?.percent, 100);
  });

  it('shows no alert of another month (one fired while the editor was closed last month)', async function () {
    assert.equal(await claimAlertNotice(stateRoot, [alert(100, '2026-11')], NOW), undefined);
    assert.equal(await claimAlertNotice(stateRoot, [alert(50, '2026-11'), alert(50)], NOW).then((notice) => notice?.month), '2026-12');
  });

  it('four windows following the event log: alerts fired while none was open shown at start, then a burst from another process, each once', async function () {
    const writer = new EventLog(stateRoot);
    writer.append(alert(50, '2026-11'));
    writer.append(alert(50));
    const abort = new AbortController();
    const shown: AlertNotice[] = [];
    const watchers = [1, 2, 3, 4].map(() =>
      watchAlertNotices({
        stateRoot,
        log: new EventLog(stateRoot, { pollMs: 20 }),
        signal: abort.signal,
        show: (notice) => shown.push(notice),
        clock: () => NOW,
        burstMs: 100,
      }),
    );
    try {
      await until(() => shown.length === 1, 'the alert fired while no window was open');
      assert.deepEqual(
        shown.map((notice) => [notice.month, notice.percent]),
        [['2026-12', 50]],
      );
      // A burst from a create elsewhere (the CLI, the daemon): 80 and 100 together.
      writer.append(alert(80));
      writer.append(alert(100));
      await until(() => shown.length === 2, 'the burst');
      // Time for any window that would show an alert twice, or the 80 of the burst, to do so.
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.deepEqual(
        shown.map((notice) => notice.percent),
        [50, 100],
      );
    } finally {
      abort.abort();
      await Promise.all(watchers);
    }
  });
});
