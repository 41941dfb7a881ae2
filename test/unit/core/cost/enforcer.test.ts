import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HOUR_MS } from '../../../../src/core/cost/billing';
import { DEFAULT_BUDGET, type BudgetSettings } from '../../../../src/core/cost/budget';
import { BUSY_PROBE, CostEnforcer, probeBusy, type EnforcedController } from '../../../../src/core/cost/enforcer';
import { CostLedger } from '../../../../src/core/cost/ledger';
import { SandboxError } from '../../../../src/core/errors';
import type { EventInput } from '../../../../src/core/events/types';
import type { ExecRequest, ExecResult, SandboxRecord } from '../../../../src/core/model';

const START = Date.UTC(2026, 11, 6, 9, 0, 0);
const MINUTE = 60_000;

function record(name: string, state: SandboxRecord['state'] = 'running'): SandboxRecord {
  return {
    id: `id-${name}`,
    name,
    agentId: 'agent-1',
    provider: 'digitalocean',
    profile: { image: 'ubuntu-24-04', cpus: 1, memory: 1 << 30, pids: 1024, sudo: true },
    state,
    createdAt: new Date(START).toISOString(),
    updatedAt: new Date(START).toISOString(),
    workdir: '/home/agent/workspace',
    user: 'agent',
    ports: {},
  };
}

function execResult(stdout: string, exitCode = 0): ExecResult {
  return { exitCode, durationMs: 5, stdout, stderr: '', stdoutBytes: stdout.length, stderrBytes: 0, truncated: false, timedOut: false, cancelled: false };
}

/**
 * Implements only what the enforcer calls. Like the provider, a delete or a hibernation closes the
 * sandbox's ledger entry; each call is noted in order, events included.
 */
class FakeController implements EnforcedController {
  readonly calls: string[] = [];
  readonly emitted: EventInput[] = [];
  records = new Map<string, SandboxRecord>();
  busy = new Set<string>();
  failHibernate = false;
  failList = false;

  constructor(
    private readonly ledger: CostLedger,
    readonly events = { emit: async (event: EventInput) => void this.emitted.push(event) },
  ) {}

  async list(): Promise<SandboxRecord[]> {
    this.calls.push('list');
    if (this.failList) throw new SandboxError('connection-failed', 'The API does not answer.');
    return [...this.records.values()];
  }

  async delete(ref: string): Promise<SandboxRecord> {
    this.calls.push(`delete ${ref}`);
    const found = this.records.get(ref);
    if (!found) throw new SandboxError('not-found', `No sandbox is called ${ref}.`);
    this.records.delete(ref);
    await this.close(ref, 'destroyed');
    return found;
  }

  /** Hibernations under way now, the most at once, and what each waits for before it ends. */
  hibernating = 0;
  mostHibernating = 0;
  hibernateGate?: Promise<void>;
  failHibernateOf = new Set<string>();

  async hibernate(ref: string): Promise<SandboxRecord> {
    this.calls.push(`hibernate ${ref}`);
    this.hibernating++;
    this.mostHibernating = Math.max(this.mostHibernating, this.hibernating);
    try {
      await this.hibernateGate;
      if (this.failHibernate || this.failHibernateOf.has(ref)) throw new SandboxError('provider-error', 'The snapshot failed.');
      const found = this.records.get(ref)!;
      found.state = 'stopped';
      await this.close(ref, 'hibernated');
      return found;
    } finally {
      this.hibernating--;
    }
  }

  async inspectExec(ref: string, request: ExecRequest): Promise<ExecResult> {
    this.calls.push(`probe ${ref}`);
    assert.equal(request.command, BUSY_PROBE);
    return execResult(this.busy.has(ref) ? '2\n' : '0\n');
  }

  private async close(sandbox: string, why: 'destroyed' | 'hibernated'): Promise<void> {
    const entry = (await this.ledger.load()).openMachineOf(sandbox);
    if (entry) await this.ledger.closeMachine(entry.id, why);
  }
}

describe('cost enforcement (the daemon’s checks) on a fake clock and a fake controller', function () {
  let root: string;
  let now: number;
  let ledger: CostLedger;
  let controller: FakeController;
  let settings: BudgetSettings;
  const lines: string[] = [];

  function enforcer(): CostEnforcer {
    return new CostEnforcer({ controller, stateRoot: root, log: (line) => lines.push(line), clock: () => now, settings: async () => settings });
  }

  async function open(sandbox: string, ttlMs: number, usdPerHour = 0.00893): Promise<void> {
    controller.records.set(sandbox, record(sandbox));
    await ledger.openMachine({ sandbox, provider: 'digitalocean', size: 's-1vcpu-1gb', usdPerHour, ttlMs, agent: 'agent-1' });
  }

  beforeEach(function () {
    root = mkdtempSync(path.join(os.tmpdir(), 'enforcer-'));
    now = START;
    ledger = new CostLedger(root, () => now);
    controller = new FakeController(ledger);
    settings = { ...DEFAULT_BUDGET };
    lines.length = 0;
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('does nothing before a time-to-live passes, and asks nothing of the sandboxes', async function () {
    await open('young', 2 * HOUR_MS);
    const report = await enforcer().check();
    assert.deepEqual(report.actions, []);
    assert.deepEqual(controller.calls, ['list']);
    assert.equal((await ledger.load()).openMachines().length, 1);
  });

  it('past its time-to-live destroys an idle sandbox and hibernates a busy one, once, and leaves the young one', async function () {
    await open('idle-one', HOUR_MS);
    await open('busy-one', HOUR_MS);
    await open('young', 3 * HOUR_MS);
    controller.busy.add('busy-one');
    const checks = enforcer();
    now = START + HOUR_MS - 1;
    assert.deepEqual((await checks.check()).actions, [], 'a millisecond before the time-to-live nothing happens');

    now = START + HOUR_MS + MINUTE;
    const report = await checks.check();
    assert.deepEqual(
      report.actions.map((action) => [action.action, action.sandbox, action.outcome, action.overdueMs]),
      [
        ['destroy', 'idle-one', 'done', MINUTE],
        ['hibernate', 'busy-one', 'done', MINUTE],
      ],
    );
    assert.ok(!controller.calls.includes('probe young'), 'a sandbox within its time-to-live is not probed');
    assert.ok(!controller.calls.some((call) => call.endsWith(' young')), 'the young sandbox is left alone');
    // Told before acting, so the journal says why.
    const expired = controller.emitted.filter((event) => event.type === 'cost.expired');
    assert.deepEqual(
      expired.map((event) => event.type === 'cost.expired' && [event.sandboxId, event.action]),
      [
        ['id-idle-one', 'destroy'],
        ['id-busy-one', 'hibernate'],
      ],
    );
    const book = await ledger.load();
    assert.deepEqual(
      [...book.machines.values()].map((entry) => [entry.sandbox, entry.end ?? 'open']),
      [
        ['idle-one', 'destroyed'],
        ['busy-one', 'hibernated'],
        ['young', 'open'],
      ],
    );

    controller.calls.length = 0;
    now += 5 * MINUTE;
    assert.deepEqual((await checks.check()).actions, [], 'nothing is done twice');
    assert.ok(!controller.calls.some((call) => call.startsWith('delete') || call.startsWith('hibernate')));
  });

  it('never destroys a sandbox whose busy state cannot be read: it hibernates it', async function () {
    await open('silent', HOUR_MS);
    controller.inspectExec = async () => {
      throw new SandboxError('connection-failed', 'SSH does not answer.');
    };
    now = START + 2 * HOUR_MS;
    const report = await enforcer().check();
    assert.deepEqual(
      report.actions.map((action) => action.action),
      ['hibernate'],
    );
  });

  it('tries a failed hibernation again at the next check, and keeps the entry open meanwhile', async function () {
    await open('stuck', HOUR_MS);
    controller.busy.add('stuck');
    controller.failHibernate = true;
    const checks = enforcer();
    now = START + HOUR_MS + MINUTE;
    const first = await checks.check();
    assert.equal(first.actions[0]?.outcome, 'failed');
    assert.match(first.actions[0]?.error ?? '', /snapshot failed/);
    assert.ok(lines.some((line) => /Hibernating stuck failed .* tried again at the next check/.test(line)));
    assert.equal((await ledger.load()).openMachineOf('stuck')?.sandbox, 'stuck');

    controller.failHibernate = false;
    now += MINUTE;
    const second = await checks.check();
    assert.deepEqual(
      second.actions.map((action) => [action.action, action.outcome]),
      [['hibernate', 'done']],
    );
    assert.equal((await ledger.load()).openMachineOf('stuck'), undefined);
    assert.equal(controller.emitted.filter((event) => event.type === 'cost.expired').length, 1, 'a retry is not told again');
  });

  it('hibernates overdue sandboxes four at a time, and one failure does not stop the others', async function () {
    const names = ['b-0', 'b-1', 'b-2', 'b-3', 'b-4', 'b-5'];
    for (const name of names) {
      await open(name, HOUR_MS);
      controller.busy.add(name);
    }
    controller.failHibernateOf.add('b-1');
    let release!: () => void;
    controller.hibernateGate = new Promise<void>((resolve) => (release = resolve));
    now = START + HOUR_MS + MINUTE;
    const checking = enforcer().check();
    for (let i = 0; i < 1000 && controller.hibernating < 4; i++) await new Promise((resolve) => setTimeout(resolve, 1));
    assert.equal(controller.hibernating, 4, 'four snapshots run at once, the rest wait for a slot');
    release();
    const report = await checking;
    assert.equal(controller.mostHibernating, 4);
    assert.deepEqual(
      report.actions.map((action) => [action.sandbox, action.action, action.outcome]),
      names.map((name) => [name, 'hibernate', name === 'b-1' ? 'failed' : 'done']),
    );
    assert.deepEqual(
      (await ledger.load()).openMachines().map((entry) => entry.sandbox),
      ['b-1'],
    );
  });

  it('closes as vanished the entries whose machine the provider no longer lists, and none when the listing fails', async function () {
    await open('kept', 2 * HOUR_MS);
    await open('gone', 2 * HOUR_MS);
    await open('lost-one', 2 * HOUR_MS);
    controller.records.delete('gone');
    controller.records.get('lost-one')!.state = 'lost';
    controller.failList = true;
    const checks = enforcer();
    now = START + 10 * MINUTE;
    const failed = await checks.check();
    assert.deepEqual(failed.vanished, []);
    assert.match(failed.problem ?? '', /could not be listed/);

    controller.failList = false;
    now += MINUTE;
    const report = await checks.check();
    assert.equal(report.vanished.length, 2);
    const book = await ledger.load();
    assert.deepEqual(
      book.openMachines().map((entry) => entry.sandbox),
      ['kept'],
    );
    assert.equal(book.machines.get(report.vanished[0]!)?.end, 'vanished');
    assert.equal(book.machines.get(report.vanished[0]!)?.closedMs, now, 'priced up to when it was noticed');
  });

  it('closes the entry of a sandbox that is gone when its time-to-live comes', async function () {
    await open('raced', HOUR_MS);
    // Listed when the check starts, gone by the time the delete runs.
    const list = controller.list.bind(controller);
    controller.list = async () => {
      const records = await list();
      controller.records.delete('raced');
      return records;
    };
    now = START + 2 * HOUR_MS;
    const report = await enforcer().check();
    assert.equal(report.actions[0]?.outcome, 'done');
    assert.equal((await ledger.load()).machines.values().next().value?.end, 'vanished');
  });

  it('fires each budget alert once a month, records it, and tells it as an event', async function () {
    settings = { ...DEFAULT_BUDGET, monthlyUsd: 10 };
    // $1.80 an hour for 2 h plus the 20-minute slack: $4.20, 42% of $10 committed.
    await open('small', 2 * HOUR_MS, 1.8);
    const checks = enforcer();
    assert.deepEqual((await checks.check()).alerts, []);
    // Another: 84%, past 50% and 80%, with room left for the smallest create.
    await open('second', 2 * HOUR_MS, 1.8);
    now += MINUTE;
    const report = await checks.check();
    assert.deepEqual(
      report.alerts.map((alert) => alert.percent),
      [50, 80],
    );
    assert.match(report.alerts[1]!.message, /used 80% of this month's \$10\.00 budget/);
    const alerts = controller.emitted.filter((event) => event.type === 'cost.alert');
    assert.deepEqual(
      alerts.map((event) => event.type === 'cost.alert' && [event.percent, event.sandboxId, event.month]),
      [
        [50, '', '2026-12'],
        [80, '', '2026-12'],
      ],
    );
    assert.deepEqual([...(await ledger.load()).alerts.keys()], [50, 80]);

    now += MINUTE;
    assert.deepEqual((await checks.check()).alerts, [], 'an alert fires once a month');
    // A new process (a restarted daemon) does not fire them again either.
    assert.deepEqual((await enforcer().check()).alerts, []);
    // No room left for even the smallest create: 100%.
    await open('third', HOUR_MS, 1.8);
    now += MINUTE;
    const full = await checks.check();
    assert.deepEqual(
      full.alerts.map((alert) => alert.percent),
      [100],
    );
    assert.match(full.alerts[0]!.message, /new cloud sandboxes are refused until 2027-01-01/);
  });

  it('fires no alert in a month without a cloud machine, even under a budget of zero', async function () {
    settings = { ...DEFAULT_BUDGET, monthlyUsd: 0 };
    const report = await enforcer().check();
    assert.deepEqual(report.alerts, []);
    assert.deepEqual(controller.calls, [], 'nothing is listed when nothing runs');
  });

  it('runs every interval once started, and stops', async function () {
    await open('ticking', HOUR_MS);
    let checks = 0;
    controller.list = async () => {
      checks += 1;
      return [...controller.records.values()];
    };
    const running = new CostEnforcer({ controller, stateRoot: root, log: () => undefined, clock: () => now, intervalMs: 20, settings: async () => settings });
    running.start();
    await new Promise((resolve) => setTimeout(resolve, 150));
    await running.stop();
    const seen = checks;
    assert.ok(seen >= 3, `only ${seen} checks in 150 ms at a 20 ms interval`);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(checks, seen, 'no check after stop');
  });

  describe('the busy probe', function () {
    const probe = (answer: () => Promise<ExecResult>) => probeBusy({ inspectExec: answer }, 'x');

    it('is idle only when the sandbox positively reports no marked command', async function () {
      assert.equal(await probe(async () => execResult('0\n')), false);
      assert.equal(await probe(async () => execResult('1\n')), true);
      assert.equal(await probe(async () => execResult('', 1)), true, 'the probe failed');
      assert.equal(await probe(async () => execResult('garbage')), true);
      assert.equal(
        await probe(async () => {
          throw new SandboxError('wrong-state', 'not running');
        }),
        true,
      );
    });
  });
});
