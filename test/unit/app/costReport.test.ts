import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { costReport, formatCostReport } from '../../../src/app/costReport';
import { HOUR_MS } from '../../../src/core/cost/billing';
import { DEFAULT_BUDGET, monthFigures } from '../../../src/core/cost/budget';
import { LedgerBook } from '../../../src/core/cost/fold';
import { CostLedger } from '../../../src/core/cost/ledger';
import { reconcileWithAccount } from '../../../src/core/cost/reconcile';

const START = Date.UTC(2026, 11, 6, 8, 0, 0);

describe('the cost report of `sandbox cost`', function () {
  let root: string;
  let now: number;
  let ledger: CostLedger;

  beforeEach(async function () {
    root = mkdtempSync(path.join(os.tmpdir(), 'cost-report-'));
    now = START;
    ledger = new CostLedger(root, () => now);
    // Three sandboxes: two of agent-1 (one for a task), one of agent-2 still running.
    const first = await ledger.openMachine({
      sandbox: 'fix-login',
      provider: 'digitalocean',
      size: 's-2vcpu-4gb',
      usdPerHour: 0.03571,
      ttlMs: 2 * HOUR_MS,
      agent: 'agent-1',
      task: 't-42',
    });
    const second = await ledger.openMachine({
      sandbox: 'docs',
      provider: 'digitalocean',
      size: 's-1vcpu-1gb',
      usdPerHour: 0.00893,
      ttlMs: 2 * HOUR_MS,
      agent: 'agent-1',
    });
    await ledger.openMachine({ sandbox: 'trainer', provider: 'digitalocean', size: 'gpu-h100x1-80gb', usdPerHour: 3.39, ttlMs: 3 * HOUR_MS, agent: 'agent-2' });
    now += HOUR_MS;
    await ledger.closeMachine(first.id, 'destroyed');
    await ledger.closeMachine(second.id, 'hibernated');
    await ledger.storeSnapshot({ id: 'snap-1', sandbox: 'docs', gb: 10, usdPerGbMonth: 0.06 });
    await ledger.recordAlert(50);
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('gives the month by sandbox, agent and task, with the figures adding up', async function () {
    const book = await ledger.load();
    const figures = monthFigures(book, now, DEFAULT_BUDGET);
    const report = costReport({ figures, current: true, alerts: book.alerts, ledgerProblems: book.problems });
    assert.equal(report.version, 1);
    assert.equal(report.month, '2026-12');
    assert.equal(report.asOf, new Date(now).toISOString());
    assert.deepEqual(
      report.bySandbox.map((row) => row.name),
      ['trainer', 'fix-login', 'docs'],
      'most spent first',
    );
    const trainer = report.bySandbox[0]!;
    assert.deepEqual([trainer.agent, trainer.task, trainer.usdPerHour], ['agent-2', null, 3.39]);
    assert.ok(Math.abs(trainer.spentUsd - 3.39) < 1e-9, 'an hour of an H100');
    assert.equal(report.bySandbox[1]!.usdPerHour, null, 'a destroyed machine has no price per hour');
    assert.deepEqual(
      report.byAgent.map((row) => row.name),
      ['agent-2', 'agent-1'],
    );
    assert.deepEqual(
      report.byTask.map((row) => row.name),
      ['-', 't-42'],
      'sandboxes without a task add up under "-"',
    );
    const total = (rows: { spentUsd: number }[]) => rows.reduce((sum, row) => sum + row.spentUsd, 0);
    for (const rows of [report.bySandbox, report.byAgent, report.byTask]) assert.ok(Math.abs(total(rows) - report.spentUsd) < 1e-9);
    assert.ok(Math.abs(report.committedUsd - (report.spentUsd + report.projectedUsd)) < 1e-9);
    assert.ok(Math.abs(report.leftUsd - (50 - report.committedUsd)) < 1e-9);
    assert.deepEqual(report.alerts, [50]);
    assert.equal(report.account, null);
    assert.deepEqual(JSON.parse(JSON.stringify(report)), report, 'the JSON shape is the report itself');

    const text = formatCostReport(report);
    assert.match(
      text,
      /^Cloud sandboxes, 2026-12 so far \(2026-12-06 09:00 UTC\)\nBudget \$50\.00: \$\d+\.\d\d spent, \$\d+\.\d\d projected, \$\d+\.\d\d committed, \$\d+\.\d\d left\./,
    );
    assert.match(text, /Alerts fired this month: 50%\./);
    assert.match(text, /^SANDBOX\s+AGENT\s+TASK\s+SPENT\s+PROJECTED\s+PRICE$/m);
    assert.match(text, /^trainer\s+agent-2\s+-\s+\$3\.39\s+\$\d+\.\d\d\s+\$3\.39\/h$/m);
    assert.match(text, /^fix-login\s+agent-1\s+t-42\s+\$0\.04\s+\$0\.00\s+-$/m);
    assert.match(text, /^AGENT\s+SPENT\nagent-2\s+\$3\.39/m);
  });

  it('shows the account’s month-to-date usage beside the ledger, with the gap named', async function () {
    const book = await ledger.load();
    const figures = monthFigures(book, now, DEFAULT_BUDGET);
    const reconciliation = reconcileWithAccount(figures.spentUsd, figures.spentUsd + 12);
    const report = costReport({ figures, current: true, alerts: book.alerts, reconciliation });
    assert.deepEqual(Object.keys(report.account!), ['monthToDateUsd', 'gapUsd', 'toleranceUsd', 'beyondTolerance', 'sentence']);
    assert.equal(report.account!.beyondTolerance, true);
    assert.ok(Math.abs(report.account!.gapUsd - 12) < 1e-9);
    assert.ok(formatCostReport(report).endsWith(reconciliation.sentence));
    const unreadable = costReport({ figures, current: true, alerts: book.alerts, accountProblem: 'DigitalOcean refused the token.' });
    assert.match(formatCostReport(unreadable), /The account's own figure is not shown: DigitalOcean refused the token\.$/);
  });

  it('shows a closed month without projections or prices', async function () {
    const book = await ledger.load();
    const endOfMonth = Date.UTC(2027, 0, 1) - 1;
    const report = costReport({ figures: monthFigures(book, endOfMonth, DEFAULT_BUDGET), current: false, alerts: book.alerts });
    assert.equal(report.projectedUsd, 0);
    assert.equal(report.committedUsd, report.spentUsd);
    assert.ok(report.bySandbox.every((row) => row.projectedUsd === 0 && row.usdPerHour === null));
    assert.match(formatCostReport(report), /^Cloud sandboxes, 2026-12 \(closed month\)\nBudget \$50\.00: \$\d+\.\d\d spent, \$\d+\.\d\d (left|over)\./);
  });

  it('says when nothing cost anything', function () {
    const report = costReport({ figures: monthFigures(new LedgerBook(), now, DEFAULT_BUDGET), current: true, alerts: new Map() });
    assert.match(formatCostReport(report), /No cloud sandbox cost anything this month\./);
  });
});
