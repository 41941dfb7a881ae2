import * as assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gpuConfirmation, HOUR_MS, type SizePrice } from '../../../../src/core/cost/billing';
import { alertsDue, DEFAULT_BUDGET, decideCreate, decideExtend, monthFigures, plannedCreateUsd, type MonthFigures } from '../../../../src/core/cost/budget';
import type { AlertPercent, LedgerBook } from '../../../../src/core/cost/fold';
import { CostLedger } from '../../../../src/core/cost/ledger';
import { DEFAULT_TTL_MS, extendedUntil, runningSandboxes, ttlActions } from '../../../../src/core/cost/ttl';

/**
 * Thirty days of November 2026 on an injected clock, ticking every five minutes as the daemon
 * checks: six agents ask for sandboxes of varied sizes for varied work, some of which hangs, a few
 * ask for GPUs, some extend; the daemon destroys idle sandboxes and hibernates busy ones past their
 * time-to-live; the process restarts mid-month. Everything goes through the cost functions and a
 * real ledger file.
 */

interface SimSize extends SizePrice {
  /** GB set aside for a hibernation snapshot: the caller's bound on what the sandbox's disk holds. */
  reserveGb: number;
}
const SMALL: SimSize = { slug: 's-1vcpu-1gb', usdPerHour: 0.00893, reserveGb: 10 };
const MEDIUM: SimSize = { slug: 's-2vcpu-4gb', usdPerHour: 0.03571, reserveGb: 20 };
const LARGE: SimSize = { slug: 's-8vcpu-16gb', usdPerHour: 0.14286, reserveGb: 30 };
const H100: SimSize = { slug: 'gpu-h100x1-80gb', usdPerHour: 3.39, gpu: { count: 1, model: 'H100', vramGb: 80 }, reserveGb: 40 };

const START = Date.UTC(2026, 10, 1);
const END = Date.UTC(2026, 11, 1);
const TICK_MS = 5 * 60_000;
/** How long a snapshot of a busy sandbox takes: the machine bills meanwhile, within the budget's enforcement slack. */
const SNAPSHOT_MS = 10 * 60_000;
const AGENTS = ['agent-1', 'agent-2', 'agent-3', 'agent-4', 'agent-5', 'agent-6'];
/** The agent that asks for GPUs, on scripted days only. */
const GPU_AGENT = 'trainer';
/** Scripted GPU requests: the day, and whether the person confirmed the price. */
const GPU_REQUESTS = [
  { day: 2, confirmed: true },
  { day: 9, confirmed: false },
  { day: 16, confirmed: true },
  { day: 23, confirmed: false },
];

interface SimMachine {
  name: string;
  agent: string;
  kind: 'task' | 'interactive';
  size: SimSize;
  entryId: string;
  openedMs: number;
  /** When its work ends; Infinity for work that hangs. */
  workEndsMs: number;
  hibernatingSinceMs?: number;
  closedMs?: number;
  end?: 'destroyed' | 'hibernated';
  busyAtEnd?: boolean;
}

interface SimSnapshot {
  id: string;
  sandbox: string;
  gb: number;
  storedMs: number;
  deleteAtMs: number;
  deletedMs?: number;
}

/** A small deterministic random source (mulberry32), so the month is the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('cost: a simulated month against a $50 budget', function () {
  this.timeout(120_000);

  it('never passes the budget, fires each alert once at its threshold, never destroys a busy sandbox, accounts for every sandbox', async function () {
    const random = seededRandom(13);
    const root = mkdtempSync(path.join(os.tmpdir(), 'cost-month-'));
    let now = START;
    const clock = (): number => now;
    let ledger = new CostLedger(root, clock);
    const settings = DEFAULT_BUDGET;
    const machines: SimMachine[] = [];
    const snapshots: SimSnapshot[] = [];
    const firedAt = new Map<AlertPercent, { ms: number; committedUsd: number; roomUsd: number }>();
    const refusals: string[] = [];
    let gpuMade = 0;
    let gpuUnconfirmedMade = 0;
    let extensions = 0;
    let idleDestroyedByTtl = 0;
    let restarted = false;
    let serial = 0;

    const busy = (machine: SimMachine): boolean => machine.closedMs === undefined && now < machine.workEndsMs;
    const open = (): SimMachine[] => machines.filter((machine) => machine.closedMs === undefined);
    const byName = (name: string): SimMachine => machines.find((machine) => machine.name === name)!;
    const figuresNow = async (): Promise<{ book: LedgerBook; figures: MonthFigures }> => {
      const book = await ledger.load();
      return { book, figures: monthFigures(book, now, settings) };
    };
    const destroy = async (machine: SimMachine): Promise<void> => {
      assert.equal(busy(machine), false, `${machine.name} would be destroyed with a command running`);
      assert.equal(await ledger.closeMachine(machine.entryId, 'destroyed'), true);
      machine.closedMs = now;
      machine.end = 'destroyed';
    };

    for (; now < END; now += TICK_MS) {
      if (!restarted && now >= START + 14.5 * 24 * HOUR_MS) {
        ledger = new CostLedger(root, clock); // the daemon restarts: all it knows comes from the file
        restarted = true;
      }
      // Tasks whose work ended are destroyed by the scheduler.
      for (const machine of open()) if (machine.kind === 'task' && !busy(machine) && machine.hibernatingSinceMs === undefined) await destroy(machine);
      // Hibernations finish: the snapshot is stored before the machine goes.
      for (const machine of open()) {
        if (machine.hibernatingSinceMs === undefined || now < machine.hibernatingSinceMs + SNAPSHOT_MS) continue;
        const gb = Math.max(1, Math.round(random() * machine.size.reserveGb));
        const snapshot: SimSnapshot = { id: `snap-${machine.name}`, sandbox: machine.name, gb, storedMs: now, deleteAtMs: now + (1 + random() * 47) * HOUR_MS };
        await ledger.storeSnapshot({ id: snapshot.id, sandbox: machine.name, gb, usdPerGbMonth: settings.snapshotUsdPerGbMonth });
        snapshots.push(snapshot);
        machine.busyAtEnd = busy(machine);
        assert.equal(await ledger.closeMachine(machine.entryId, 'hibernated'), true);
        machine.closedMs = now;
        machine.end = 'hibernated';
      }
      for (const snapshot of snapshots)
        if (snapshot.deletedMs === undefined && now >= snapshot.deleteAtMs) {
          assert.equal(await ledger.deleteSnapshot(snapshot.id), true);
          snapshot.deletedMs = now;
        }
      // The daemon's time-to-live check.
      const running = runningSandboxes(await ledger.load(), (name) => busy(byName(name)));
      for (const action of ttlActions(running, now)) {
        const machine = byName(action.sandbox);
        if (machine.hibernatingSinceMs !== undefined) continue; // its snapshot is under way
        if (action.action === 'destroy') {
          await destroy(machine);
          idleDestroyedByTtl += 1;
        } else machine.hibernatingSinceMs = now;
      }
      // Busy agents near their time-to-live ask for another hour, within the budget.
      for (const machine of open()) {
        const entry = (await ledger.load()).machines.get(machine.entryId)!;
        if (!busy(machine) || machine.hibernatingSinceMs !== undefined || entry.untilMs - now > 10 * 60_000 || random() < 0.5) continue;
        const { figures } = await figuresNow();
        const decision = decideExtend(figures, entry, extendedUntil(entry.untilMs, HOUR_MS, now), settings);
        if (decision.allowed) {
          await ledger.extend(entry.id, extendedUntil(entry.untilMs, HOUR_MS, now));
          extensions += 1;
        } else refusals.push(decision.refusal!);
      }
      // Agents ask for sandboxes.
      for (const agent of [...AGENTS, GPU_AGENT]) {
        if (open().some((machine) => machine.agent === agent)) continue;
        const gpuToday = agent === GPU_AGENT ? GPU_REQUESTS.find((request) => now === START + (request.day - 1) * 24 * HOUR_MS + 9 * HOUR_MS) : undefined;
        if (agent === GPU_AGENT ? !gpuToday : random() > 0.04) continue;
        const roll = random();
        const size = gpuToday ? H100 : roll < 0.45 ? SMALL : roll < 0.8 ? MEDIUM : LARGE;
        if (gpuToday) {
          const confirmation = gpuConfirmation(size, gpuToday.confirmed);
          if (confirmation.refusal) {
            refusals.push(confirmation.refusal);
            continue; // nothing is made without a yes
          }
        }
        const name = `${agent}-${++serial}`;
        const { figures } = await figuresNow();
        const decision = decideCreate(figures, { sandbox: name, size, ttlMs: DEFAULT_TTL_MS, reserveGb: size.reserveGb }, settings);
        if (!decision.allowed) {
          refusals.push(decision.refusal!);
          continue;
        }
        const entry = await ledger.openMachine({
          sandbox: name,
          agent,
          provider: 'digitalocean',
          size: size.slug,
          usdPerHour: size.usdPerHour,
          ttlMs: DEFAULT_TTL_MS,
          reserveGb: size.reserveGb,
          gpu: size === H100,
        });
        const hangs = random() < 0.08;
        const workMs = Math.round((10 + random() * 230) * 60) * 1000;
        machines.push({
          name,
          agent,
          kind: random() < 0.7 ? 'task' : 'interactive',
          size,
          entryId: entry.id,
          openedMs: now,
          workEndsMs: hangs ? Infinity : now + workMs,
        });
        if (size === H100) {
          gpuMade += 1;
          if (!gpuToday?.confirmed) gpuUnconfirmedMade += 1;
        }
      }
      // Alerts, recorded before they are shown, so the restart does not show them again.
      const { book, figures } = await figuresNow();
      const roomUsd = plannedCreateUsd({ sandbox: 'cheapest', size: SMALL, ttlMs: DEFAULT_TTL_MS, reserveGb: SMALL.reserveGb }, now, settings);
      for (const percent of alertsDue(figures, book.alerts, roomUsd)) {
        assert.equal(firedAt.has(percent), false, `the ${percent}% alert fired twice`);
        await ledger.recordAlert(percent);
        firedAt.set(percent, { ms: now, committedUsd: figures.committedUsd, roomUsd });
      }
      assert.ok(figures.spentUsd <= settings.monthlyUsd, `spent ${figures.spentUsd} at ${new Date(now).toISOString()}`);
      assert.ok(figures.committedUsd <= settings.monthlyUsd + 1e-9, `committed ${figures.committedUsd} at ${new Date(now).toISOString()}`);
    }

    // The month is over: what the ledger says it cost.
    now = END - 1;
    const book = await ledger.load();
    const final = monthFigures(book, now, settings);
    assert.ok(final.spentUsd <= 50, `the month cost ${final.spentUsd}`);
    assert.ok(final.spentUsd > 40, `the demand was high enough to use most of the budget (${final.spentUsd})`);

    // Each alert once, at its threshold.
    assert.deepEqual([...firedAt.keys()], [50, 80, 100]);
    assert.deepEqual([...book.alerts.keys()].sort(), [100, 50, 80]);
    for (const percent of [50, 80] as const) assert.ok(firedAt.get(percent)!.committedUsd >= (50 * percent) / 100);
    const full = firedAt.get(100)!;
    assert.ok(full.committedUsd + full.roomUsd > 50 && full.committedUsd <= 50);
    assert.ok(firedAt.get(50)!.ms <= firedAt.get(80)!.ms && firedAt.get(80)!.ms <= full.ms);

    // GPUs: none without a yes; one with a yes fitted the budget.
    assert.equal(gpuUnconfirmedMade, 0);
    assert.ok(gpuMade >= 1, refusals.filter((refusal) => refusal.includes('gpu-')).join('\n'));
    assert.equal(refusals.filter((refusal) => refusal.includes('is a GPU size; nothing was made')).length, 2);
    assert.ok(refusals.some((refusal) => /would bring the month to \$\d+\.\d\d of your \$50\.00 budget; /.test(refusal)));
    assert.ok(extensions > 0);
    assert.ok(idleDestroyedByTtl > 0, 'idle sandboxes were destroyed at their time-to-live');

    // Nothing busy was ended without a snapshot: every machine hibernated has its snapshot, stored before it went.
    const hibernated = machines.filter((machine) => machine.end === 'hibernated');
    assert.ok(hibernated.length > 0, 'some work hung past its time-to-live');
    assert.ok(
      hibernated.some((machine) => machine.busyAtEnd),
      'busy ones were hibernated',
    );
    for (const machine of hibernated) {
      const snapshot = book.snapshots.get(`snap-${machine.name}`);
      assert.ok(snapshot && snapshot.storedMs <= machine.closedMs!, `${machine.name} has its snapshot`);
    }

    // Every sandbox is accounted for: the ledger holds exactly the machines and snapshots made, with their times.
    assert.equal(book.machines.size, machines.length);
    for (const machine of machines) {
      const entry = book.machines.get(machine.entryId);
      assert.ok(entry, `${machine.name} is in the ledger`);
      assert.equal(entry.openedMs, machine.openedMs);
      assert.equal(entry.closedMs, machine.closedMs);
      assert.equal(entry.end, machine.end);
    }
    assert.equal(book.snapshots.size, snapshots.length);
    for (const snapshot of snapshots) assert.equal(book.snapshots.get(snapshot.id)?.deletedMs, snapshot.deletedMs);
    assert.deepEqual(book.problems, []);

    // The ledger's total is what the billing rules give for the world's own record, computed here the plain way.
    let expected = 0;
    for (const machine of machines) {
      const seconds = Math.max(60, Math.ceil(((machine.closedMs ?? now) - machine.openedMs) / 1000));
      expected += Math.max(0.01, (seconds * machine.size.usdPerHour) / 3600);
    }
    for (const snapshot of snapshots) expected += (snapshot.gb * 0.06 * ((snapshot.deletedMs ?? now) - snapshot.storedMs)) / (672 * HOUR_MS);
    assert.ok(Math.abs(final.spentUsd - expected) < 1e-6, `ledger ${final.spentUsd}, world ${expected}`);
  });
});
