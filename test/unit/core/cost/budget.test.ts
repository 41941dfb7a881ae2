import * as assert from 'node:assert/strict';
import { HOUR_MS, type SizePrice } from '../../../../src/core/cost/billing';
import {
  alertMessage,
  alertsDue,
  DEFAULT_BUDGET,
  decideCreate,
  decideExtend,
  monthFigures,
  plannedCreateUsd,
  totalsBy,
} from '../../../../src/core/cost/budget';
import { LedgerBook, type AlertPercent } from '../../../../src/core/cost/fold';
import { reconcileWithAccount, vanishedEntries } from '../../../../src/core/cost/reconcile';
import { DEFAULT_TTL_MS, extendedUntil, runningSandboxes, ttlActions } from '../../../../src/core/cost/ttl';
import { isSandboxError } from '../../../../src/core/errors';

const NOW = Date.UTC(2026, 10, 20, 12);
const iso = (ms: number): string => new Date(ms).toISOString();
const MEDIUM: SizePrice = { slug: 's-2vcpu-4gb', usdPerHour: 0.03571, vcpus: 2, memoryMb: 4096, diskGb: 80 };
const H100: SizePrice = { slug: 'gpu-h100x1-80gb', usdPerHour: 3.39, gpu: { count: 1, model: 'H100', vramGb: 80 } };
const settings = { ...DEFAULT_BUDGET, enforcementSlackMs: 0 };

/** A book with one machine closed after `hours` at `usdPerHour`, opened at the start of the month. */
function bookWithSpend(usdPerHour: number, hours: number): LedgerBook {
  const book = new LedgerBook();
  const opened = Date.UTC(2026, 10, 1);
  book.apply({ t: 'open', id: 'old.1', at: iso(opened), sandbox: 'old', provider: 'digitalocean', size: 'big', usdPerHour, until: iso(opened + HOUR_MS) }, 1);
  book.apply({ t: 'close', id: 'old.1', at: iso(opened + hours * HOUR_MS), why: 'destroyed' }, 2);
  return book;
}

describe('cost: the monthly budget', function () {
  it('allows a create that fits and refuses one that would pass the budget, with the figures in one sentence', function () {
    const book = bookWithSpend(10, 4); // $40 spent
    book.apply(
      { t: 'open', id: 'run.1', at: iso(NOW - HOUR_MS), sandbox: 'run', provider: 'digitalocean', size: 's', usdPerHour: 1, until: iso(NOW + HOUR_MS) },
      3,
    );
    const figures = monthFigures(book, NOW, settings);
    assert.ok(Math.abs(figures.spentUsd - 41) < 1e-9, '$40 closed, $1 so far for the running one');
    assert.ok(Math.abs(figures.projectedUsd - 1) < 1e-9, 'the running one until its time-to-live');
    const fits = decideCreate(figures, { sandbox: 'small', size: MEDIUM, ttlMs: DEFAULT_TTL_MS }, settings);
    assert.equal(fits.allowed, true);
    assert.equal(fits.refusal, undefined);
    const gpu = decideCreate(figures, { sandbox: 'trainer', size: H100, ttlMs: DEFAULT_TTL_MS }, settings);
    assert.equal(gpu.allowed, true, '$41 + $1 + $6.78 fits');
    assert.ok(Math.abs(gpu.addsUsd - 6.78) < 1e-9, 'two hours of $3.39');
    assert.ok(Math.abs(gpu.wouldBeUsd - 48.78) < 1e-9);
    // Three hours, with the default 20 minutes of enforcement slack on each machine, do not.
    const withSlack = decideCreate(monthFigures(book, NOW), { sandbox: 'trainer', size: H100, ttlMs: 3 * HOUR_MS });
    assert.equal(withSlack.allowed, false);
    assert.equal(
      withSlack.refusal,
      'Creating trainer (gpu-h100x1-80gb: 1 × H100 (80 GB), $3.39/h (about $81.36 a day)) for its time-to-live of 3 h would bring the month to $53.63 of your $50.00 budget; ' +
        '$41.00 is spent and $1.33 is committed to what runs and is stored, so destroy or hibernate a sandbox, shorten a time-to-live, or raise the budget.',
    );
  });

  it('counts a stored snapshot to the end of the month and a hibernation reserve for what runs', function () {
    const book = new LedgerBook();
    book.apply({ t: 'snapshot', id: 'snap', at: iso(NOW - HOUR_MS), sandbox: 'slept', gb: 20, usdPerGbMonth: 0.06 }, 1);
    const monthEnd = Date.UTC(2026, 11, 1);
    const figures = monthFigures(book, NOW, settings);
    assert.ok(Math.abs(figures.projectedUsd - (20 * 0.06 * (monthEnd - NOW)) / (672 * HOUR_MS)) < 1e-9);
    const reserve = plannedCreateUsd({ sandbox: 'n', size: MEDIUM, ttlMs: HOUR_MS, reserveGb: 10 }, NOW, settings);
    const none = plannedCreateUsd({ sandbox: 'n', size: MEDIUM, ttlMs: HOUR_MS }, NOW, settings);
    assert.ok(Math.abs(reserve - none - (10 * 0.06 * (monthEnd - NOW - HOUR_MS)) / (672 * HOUR_MS)) < 1e-9, 'storage from its time-to-live to the month end');
    assert.equal(totalsBy(figures, 'sandbox').get('slept'), figures.spentUsd);
  });

  it('counts only this month of a time-to-live that crosses into the next', function () {
    const lastHour = Date.UTC(2026, 11, 1) - HOUR_MS;
    assert.ok(Math.abs(plannedCreateUsd({ sandbox: 'late', size: H100, ttlMs: 2 * HOUR_MS }, lastHour, settings) - 3.39) < 1e-9);
  });

  it('judges an extension like a create', function () {
    const book = bookWithSpend(10, 4.85); // $48.50 spent
    book.apply({ t: 'open', id: 'busy.1', at: iso(NOW), sandbox: 'busy', provider: 'digitalocean', size: 's', usdPerHour: 1, until: iso(NOW + HOUR_MS) }, 3);
    const figures = monthFigures(book, NOW, settings);
    const entry = book.machines.get('busy.1')!;
    assert.equal(decideExtend(figures, entry, extendedUntil(entry.untilMs, HOUR_MS, NOW), settings).allowed, false, '$48.50 + $1 + $1 more is past');
    const half = decideExtend(figures, entry, extendedUntil(entry.untilMs, 30 * 60_000, NOW), settings);
    assert.equal(half.allowed, true);
    assert.ok(Math.abs(half.addsUsd - 0.5) < 1e-9);
    assert.match(
      decideExtend(figures, entry, entry.untilMs + HOUR_MS, settings).refusal ?? '',
      /^Keeping busy until 2026-11-20 14:00 UTC would bring the month to \$50\.50 of your \$50\.00 budget; \$48\.52 is spent and \$0\.98 is committed/,
    );
  });

  it('fires each alert once, at its threshold, with 100% meaning no room is left for the cheapest create', function () {
    const fired = new Map<AlertPercent, number>();
    const due = (spentHours: number): AlertPercent[] => alertsDue(monthFigures(bookWithSpend(1, spentHours), NOW, settings), fired, 0.02);
    assert.deepEqual(due(24), []);
    assert.deepEqual(due(25), [50]);
    fired.set(50, NOW);
    assert.deepEqual(due(30), [], '50% does not fire again');
    assert.deepEqual(due(40), [80]);
    fired.set(80, NOW);
    assert.deepEqual(due(49.98), [], 'room is left for $0.02');
    assert.deepEqual(due(49.99), [100]);
    fired.set(100, NOW);
    assert.deepEqual(due(50), []);
    const fresh = new Map<AlertPercent, number>();
    assert.deepEqual(alertsDue(monthFigures(bookWithSpend(1, 45), NOW, settings), fresh, 0.02), [50, 80], 'a jump past two thresholds fires both');
    const figures = monthFigures(bookWithSpend(1, 40), NOW, settings);
    assert.equal(
      alertMessage(80, figures),
      "Cloud sandboxes have used 80% of this month's $50.00 budget ($40.00 spent and $0.00 committed to what runs and is stored).",
    );
    assert.match(alertMessage(100, figures), /new cloud sandboxes are refused until 2026-12-01 or until the budget is raised\.$/);
  });
});

describe('cost: time-to-live', function () {
  it('destroys an idle sandbox past its time-to-live and hibernates a busy one', function () {
    const book = new LedgerBook();
    const open = (name: string, untilMs: number, line: number): void =>
      book.apply(
        { t: 'open', id: `${name}.1`, at: iso(NOW - 3 * HOUR_MS), sandbox: name, provider: 'digitalocean', size: 's', usdPerHour: 1, until: iso(untilMs) },
        line,
      );
    open('idle-late', NOW - 60_000, 1);
    open('busy-late', NOW - 1, 2);
    open('idle-early', NOW + 60_000, 3);
    open('busy-early', NOW + 60_000, 4);
    open('exactly', NOW, 5);
    const actions = ttlActions(
      runningSandboxes(book, (name) => name.startsWith('busy')),
      NOW,
    );
    assert.deepEqual(
      actions.map((action) => [action.sandbox, action.action, action.overdueMs]),
      [
        ['idle-late', 'destroy', 60_000],
        ['busy-late', 'hibernate', 1],
        ['exactly', 'destroy', 0],
      ],
    );
    assert.match(actions[1]!.reason, /hibernated \(snapshot, then destroy\) rather than killed/);
  });

  it('extends from the current deadline, or from now when it has passed', function () {
    assert.equal(extendedUntil(NOW + HOUR_MS, HOUR_MS, NOW), NOW + 2 * HOUR_MS);
    assert.equal(extendedUntil(NOW - HOUR_MS, HOUR_MS, NOW), NOW + HOUR_MS);
    assert.throws(
      () => extendedUntil(NOW, 0, NOW),
      (error) => isSandboxError(error, 'invalid-input'),
    );
  });
});

describe('cost: reconciliation with the account', function () {
  it('reports a gap beyond the tolerance in one sentence, either way', function () {
    const near = reconcileWithAccount(9.3, 9.9);
    assert.equal(near.beyondTolerance, false);
    assert.equal(near.sentence, 'The account reports $9.90 month to date, within $1.00 of the $9.30 our ledger counts for sandboxes this month.');
    const more = reconcileWithAccount(9.3, 14.2);
    assert.equal(more.beyondTolerance, true);
    assert.ok(Math.abs(more.gapUsd - 4.9) < 1e-9);
    assert.match(
      more.sentence,
      /^The account reports \$14\.20 month to date, \$4\.90 more than the \$9\.30 our ledger counts for sandboxes this month: look for droplets/,
    );
    const less = reconcileWithAccount(30, 20);
    assert.equal(less.beyondTolerance, true);
    assert.match(less.sentence, /\$10\.00 less than the \$30\.00 our ledger counts.*can lag by some hours/);
    assert.equal(reconcileWithAccount(100, 109).beyondTolerance, false, '10% of the larger figure is within');
  });

  it('names the open entries whose machine the provider no longer lists', function () {
    const book = new LedgerBook();
    for (const [line, name] of ['kept', 'gone'].entries())
      book.apply(
        { t: 'open', id: `${name}.1`, at: iso(NOW), sandbox: name, provider: 'digitalocean', size: 's', usdPerHour: 1, until: iso(NOW + HOUR_MS) },
        line + 1,
      );
    assert.deepEqual(vanishedEntries(book, new Set(['kept'])), ['gone.1']);
  });
});
