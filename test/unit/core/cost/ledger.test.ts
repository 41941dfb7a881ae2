import * as assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HOUR_MS, machineCostAtAge, DIGITALOCEAN_BILLING } from '../../../../src/core/cost/billing';
import { monthFigures } from '../../../../src/core/cost/budget';
import { LedgerBook } from '../../../../src/core/cost/fold';
import { CostLedger } from '../../../../src/core/cost/ledger';
import { isSandboxError } from '../../../../src/core/errors';

const freshRoot = (): string => mkdtempSync(path.join(os.tmpdir(), 'cost-ledger-'));
const NOV_10 = Date.UTC(2026, 10, 10, 12);
const small = { provider: 'digitalocean', size: 's-2vcpu-4gb', usdPerHour: 3.6, ttlMs: 2 * HOUR_MS };

/** A clock a test moves by hand. */
function manualClock(startMs: number): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let ms = startMs;
  return { now: () => ms, advance: (by) => (ms += by), set: (to) => (ms = to) };
}

describe('cost: the ledger file', function () {
  it('writes entries as 0600 JSON lines and folds them back', async function () {
    const clock = manualClock(NOV_10);
    const ledger = new CostLedger(freshRoot(), clock.now);
    const entry = await ledger.openMachine({ sandbox: 'alpha', agent: 'agent-1', task: 't1', ...small });
    clock.advance(30 * 60_000);
    assert.equal(await ledger.closeMachine(entry.id, 'destroyed'), true);
    assert.equal(await ledger.closeMachine(entry.id, 'destroyed'), false, 'a second close changes nothing');
    const file = ledger.fileOf('2026-11');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(ledger.dir).mode & 0o777, 0o700);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2, 'one line to open, one to close');
    assert.ok(
      lines.every((line) => line.length < 300),
      'lines stay short',
    );
    const book = await new CostLedger(ledger.stateRoot, clock.now).load();
    const folded = book.machines.get(entry.id)!;
    assert.equal(folded.closedMs, NOV_10 + 30 * 60_000);
    assert.equal(folded.end, 'destroyed');
    assert.equal(folded.agent, 'agent-1');
    const figures = monthFigures(book, clock.now());
    assert.ok(Math.abs(figures.spentUsd - 1.8) < 1e-9, 'half an hour at $3.60/h');
    assert.equal(figures.projectedUsd, 0, 'nothing runs');
  });

  it('prices an entry left open by a crash up to now, and closes it when a later process does', async function () {
    const clock = manualClock(NOV_10);
    const root = freshRoot();
    const entry = await new CostLedger(root, clock.now).openMachine({ sandbox: 'crashy', ...small });
    // The process that opened it dies; the next one starts an hour and a half later.
    clock.advance(90 * 60_000);
    const after = new CostLedger(root, clock.now);
    const book = await after.load();
    assert.deepEqual(
      book.openMachines().map((open) => open.id),
      [entry.id],
    );
    const figures = monthFigures(book, clock.now());
    assert.ok(Math.abs(figures.spentUsd - machineCostAtAge(3.6, 90 * 60_000, DIGITALOCEAN_BILLING)) < 1e-9, 'priced up to now');
    assert.ok(figures.projectedUsd > 0, 'its remaining time-to-live is projected');
    assert.equal(await after.closeMachine(entry.id, 'vanished'), true);
    assert.equal((await after.load()).openMachines().length, 0);
  });

  it('skips a line cut short by a crash without losing the next one', async function () {
    const clock = manualClock(NOV_10);
    const ledger = new CostLedger(freshRoot(), clock.now);
    await ledger.openMachine({ sandbox: 'one', ...small });
    appendFileSync(ledger.fileOf('2026-11'), '{"t":"open","id":"torn');
    await ledger.openMachine({ sandbox: 'two', ...small });
    const book = await new CostLedger(ledger.stateRoot, clock.now).load();
    assert.deepEqual(
      book
        .openMachines()
        .map((entry) => entry.sandbox)
        .sort(),
      ['one', 'two'],
    );
    assert.equal(book.problems.length, 1);
    assert.match(book.problems[0]!, /^Line 2: not JSON/);
  });

  it('refuses a second open entry for a running sandbox and a time-to-live of zero', async function () {
    const ledger = new CostLedger(freshRoot(), () => NOV_10);
    await ledger.openMachine({ sandbox: 'dup', ...small });
    await assert.rejects(ledger.openMachine({ sandbox: 'dup', ...small }), (error) => isSandboxError(error, 'conflict'));
    await assert.rejects(ledger.openMachine({ sandbox: 'zero', ...small, ttlMs: 0 }), (error) => isSandboxError(error, 'invalid-input'));
  });

  it('applies each new line once when one ledger is loaded many times at once, and reads what comes after', async function () {
    const root = freshRoot();
    const writer = new CostLedger(root, () => NOV_10);
    const reader = new CostLedger(root, () => NOV_10);
    await writer.openMachine({ sandbox: 'm-0', ...small });
    await reader.load();
    for (let i = 1; i <= 3; i++) await writer.openMachine({ sandbox: `m-${i}`, ...small });
    const books = await Promise.all(Array.from({ length: 8 }, () => reader.load()));
    for (const book of books) assert.equal(book.openMachines().length, 4);
    // Lines applied twice would also have moved the read offset twice, past what comes next.
    for (let i = 4; i < 40; i++) await writer.openMachine({ sandbox: `m-${i}`, ...small });
    const extended = (await writer.load()).openMachineOf('m-1')!;
    await writer.extend(extended.id, extended.untilMs + HOUR_MS);
    const after = await reader.load();
    assert.deepEqual(after.problems, []);
    assert.equal(after.openMachines().length, 40);
    assert.equal(after.openMachineOf('m-1')!.untilMs, extended.untilMs + HOUR_MS);
  });

  it('carries what still runs or is stored into the next month once, even when two processes carry at the same time', async function () {
    const clock = manualClock(Date.UTC(2026, 10, 30, 23));
    const root = freshRoot();
    const ledger = new CostLedger(root, clock.now);
    const running = await ledger.openMachine({ sandbox: 'night', ...small });
    const ended = await ledger.openMachine({ sandbox: 'ended', ...small });
    await ledger.closeMachine(ended.id, 'destroyed');
    await ledger.storeSnapshot({ id: 'snap-1', sandbox: 'ended', gb: 10, usdPerGbMonth: 0.06 });
    await ledger.recordAlert(50);
    clock.set(Date.UTC(2026, 11, 1, 0, 30));
    const [a, b] = await Promise.all([new CostLedger(root, clock.now).load(), new CostLedger(root, clock.now).load()]);
    for (const book of [a, b]) {
      assert.equal(book.carriedFrom, '2026-11');
      assert.deepEqual(
        book.openMachines().map((entry) => entry.id),
        [running.id],
      );
      assert.equal(book.machines.has(ended.id), false, 'a closed entry stays in its month');
      assert.deepEqual(
        book.storedSnapshots().map((entry) => entry.id),
        ['snap-1'],
      );
      assert.equal(book.alerts.size, 0, 'alerts start again with the month');
    }
    assert.equal(readFileSync(ledger.fileOf('2026-12'), 'utf8').match(/"t":"carried"/g)?.length, 2, 'both carried: the fold counts the copies once');
    await ledger.closeMachine(running.id, 'destroyed');
    const december = await new CostLedger(root, clock.now).load();
    assert.equal(december.openMachines().length, 0);
    const figures = monthFigures(december, clock.now());
    const novemberPart = machineCostAtAge(3.6, HOUR_MS, DIGITALOCEAN_BILLING);
    const whole = machineCostAtAge(3.6, 90 * 60_000, DIGITALOCEAN_BILLING);
    const snapshotPart = (10 * 0.06 * 30 * 60_000) / (672 * HOUR_MS);
    assert.ok(Math.abs(figures.spentUsd - (whole - novemberPart + snapshotPart)) < 1e-9, 'December counts its own half hour only');
    const november = monthFigures(await ledger.loadMonth('2026-11'), Date.UTC(2026, 11, 1) - 1);
    assert.ok(november.spentUsd > 0 && november.projectedUsd < 0.01, 'the past month reads back');
    assert.deepEqual(await ledger.months(), ['2026-11', '2026-12']);
  });

  it('carries again after a carry cut short by a crash, counting each entry once', async function () {
    const clock = manualClock(Date.UTC(2026, 10, 30, 23));
    const root = freshRoot();
    const ledger = new CostLedger(root, clock.now);
    const first = await ledger.openMachine({ sandbox: 'first', ...small });
    await ledger.openMachine({ sandbox: 'second', ...small });
    clock.set(Date.UTC(2026, 11, 1, 0, 5));
    // The carry's first line reached the file, then the process died: no `carried` line yet.
    const carried = readFileSync(ledger.fileOf('2026-11'), 'utf8').split('\n')[0]!;
    appendFileSync(ledger.fileOf('2026-12'), carried + '\n');
    const book = await new CostLedger(root, clock.now).load();
    assert.equal(book.carriedFrom, '2026-11');
    assert.deepEqual(
      book
        .openMachines()
        .map((entry) => entry.sandbox)
        .sort(),
      ['first', 'second'],
    );
    assert.equal(book.machines.get(first.id)?.openedMs, first.openedMs);
    assert.deepEqual(book.problems, []);
  });

  it('applies a close that arrives before its carried open (another process closed it first)', function () {
    const book = new LedgerBook();
    book.apply({ t: 'close', id: 'x.1', at: '2026-12-01T00:10:00.000Z', why: 'hibernated' }, 1);
    book.apply(
      {
        t: 'open',
        id: 'x.1',
        at: '2026-11-30T23:00:00.000Z',
        sandbox: 'x',
        provider: 'digitalocean',
        size: 's',
        usdPerHour: 1,
        until: '2026-12-01T01:00:00.000Z',
      },
      2,
    );
    assert.equal(book.openMachines().length, 0);
    assert.equal(book.machines.get('x.1')?.end, 'hibernated');
    assert.deepEqual(book.problems, []);
  });

  it('records an alert once a month, surviving a restart', async function () {
    const clock = manualClock(NOV_10);
    const root = freshRoot();
    await new CostLedger(root, clock.now).recordAlert(80);
    const book = await new CostLedger(root, clock.now).load();
    assert.deepEqual([...book.alerts.keys()], [80]);
  });

  it('prunes months older than the ones kept', async function () {
    const clock = manualClock(Date.UTC(2025, 0, 5));
    const ledger = new CostLedger(freshRoot(), clock.now);
    for (let month = 0; month < 15; month++) {
      clock.set(Date.UTC(2025, month, 5));
      await ledger.recordAlert(50);
    }
    const removed = await ledger.prune(13);
    assert.deepEqual(removed, ['2025-01', '2025-02']);
    assert.equal((await ledger.months())[0], '2025-03');
  });
});
