import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureDaemonForCloud } from '../../../../src/core/cloud/daemon';
import { HOUR_MS } from '../../../../src/core/cost/billing';
import { DEFAULT_BUDGET } from '../../../../src/core/cost/budget';
import { extendTimeToLive } from '../../../../src/core/cost/extend';
import { CostLedger } from '../../../../src/core/cost/ledger';
import { isSandboxError } from '../../../../src/core/errors';
import { acquireDaemonLock } from '../../../../src/core/tasks/daemonLock';

const START = Date.UTC(2026, 11, 6, 9, 0, 0);

describe('`sandbox extend`: a time-to-live moved within the budget', function () {
  let root: string;
  let now: number;
  let ledger: CostLedger;

  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'extend-'));
    now = START;
    ledger = new CostLedger(root, () => now);
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('adds to the time-to-live, from now once it has passed, and records it', async function () {
    await ledger.openMachine({ sandbox: 'fix', provider: 'digitalocean', size: 's-1vcpu-1gb', usdPerHour: 0.00893, ttlMs: 2 * HOUR_MS });
    const first = await extendTimeToLive(ledger, 'fix', HOUR_MS, DEFAULT_BUDGET, now);
    assert.equal(first.previousUntilMs, START + 2 * HOUR_MS);
    assert.equal(first.untilMs, START + 3 * HOUR_MS);
    assert.ok(first.decision.addsUsd > 0);
    now = START + 5 * HOUR_MS;
    const late = await extendTimeToLive(ledger, 'fix', HOUR_MS, DEFAULT_BUDGET, now);
    assert.equal(late.untilMs, now + HOUR_MS, 'counted from now once passed');
    assert.equal((await ledger.load()).openMachineOf('fix')?.untilMs, now + HOUR_MS);
  });

  it('refuses, with the figures, an extension that would pass the budget, and changes nothing', async function () {
    await ledger.openMachine({ sandbox: 'trainer', provider: 'digitalocean', size: 'gpu-h100x1-80gb', usdPerHour: 3.39, ttlMs: 2 * HOUR_MS, gpu: true });
    const error = await extendTimeToLive(ledger, 'trainer', 24 * HOUR_MS, DEFAULT_BUDGET, now).then(
      () => assert.fail('the extension was allowed'),
      (failure: unknown) => failure,
    );
    assert.ok(isSandboxError(error, 'resource-limit'));
    assert.match(
      error.message,
      /^Keeping trainer until 2026-12-07 11:00 UTC would bring the month to \$\d+\.\d\d of your \$50\.00 budget; .* or raise the budget\.$/,
    );
    assert.equal((await ledger.load()).openMachineOf('trainer')?.untilMs, START + 2 * HOUR_MS);
  });

  it('says so when the sandbox has no running cloud machine', async function () {
    await assert.rejects(extendTimeToLive(ledger, 'local-one', HOUR_MS, DEFAULT_BUDGET, now), /No running cloud sandbox is called local-one/);
  });
});

describe('the daemon a cloud create needs', function () {
  it('is started only when none runs', async function () {
    const root = mkdtempSync(path.join(os.tmpdir(), 'cloud-daemon-'));
    try {
      const asked: string[] = [];
      const result = await ensureDaemonForCloud(root, '/opt/sandbox/cli.js', async (options) => {
        asked.push(`${options.stateRoot} ${options.script}`);
        return { running: true, logFile: path.join(root, 'daemon.log'), holder: { pid: 4242, start: '1', host: 'h', startedAt: '' } };
      });
      assert.deepEqual(asked, [`${root} /opt/sandbox/cli.js`]);
      assert.equal(result.started, true);
      assert.equal(result.status.holder?.pid, 4242);
      // This process holds the lock: a daemon runs, so none is started.
      const release = acquireDaemonLock(root);
      try {
        const again = await ensureDaemonForCloud(root, '/opt/sandbox/cli.js', () => assert.fail('a second daemon was started'));
        assert.equal(again.started, false);
        assert.equal(again.status.holder?.pid, process.pid);
      } finally {
        release();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
