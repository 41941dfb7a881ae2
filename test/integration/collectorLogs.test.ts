import * as assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { Collector } from '../../src/core/collector/collector';
import { CollectorStore, type LogLine } from '../../src/core/collector/store';
import { SandboxLogsPart } from '../../src/core/collector/sandboxLogs';
import { COST_GAUGE, QUEUE_DEPTH_GAUGE, TASK_DURATION_GAUGE, TASKS_RUNNING_GAUGE, TaskGaugesPart } from '../../src/core/collector/taskGauges';
import { CostLedger } from '../../src/core/cost/ledger';
import { StateStore } from '../../src/core/store/stateStore';
import { TaskQueue } from '../../src/core/tasks/queue';
import type { SandboxRecord } from '../../src/core/model';
import { TestEnvironment, ensureImage, rootExec, tempDir, uniqueName, waitFor } from './helpers';

const LINE_CAP = 4096;

describe('collector: logs from inside a Docker sandbox', function () {
  const env = new TestEnvironment();
  const storeDir = tempDir('collector-logs-');
  let store: CollectorStore;
  let sandbox: SandboxRecord;
  const signal = new AbortController().signal;

  before(async function () {
    await ensureImage();
    sandbox = await env.controller.create({ name: uniqueName('col-logs'), agentId: 'collector-test', profile: { logs: ['~/logs/*.log', '/tmp/agent/*.log'] } });
    store = CollectorStore.openForWriting(storeDir);
  });
  after(async () => {
    store?.close();
    await env.dispose();
    await fs.rm(storeDir, { recursive: true, force: true });
  });

  const newPart = () => new SandboxLogsPart({ controller: env.controller });
  /** Rounds of a part, each stored as the collector stores it. */
  async function rounds(part: SandboxLogsPart, count: number): Promise<void> {
    for (let i = 0; i < count; i++) store.ingest(await part.collect(store, signal));
  }
  const linesOf = (source: string): string[] => store.logs(sandbox.id, { source, limit: 100_000 }).map((l: LogLine) => l.line);
  /** Lines printed by the container's main process: what the engine keeps as its output. */
  const printToOutput = (from: number, to: number, prefix: string) =>
    rootExec(sandbox.providerRef!, `i=${from}; while [ $i -le ${to} ]; do echo "${prefix}-$i" > /proc/1/fd/1; i=$((i+1)); done`);
  /** Lines the agent appends to its log file, as the agent. */
  const appendToFile = (from: number, to: number, prefix: string) =>
    env.controller.exec(sandbox.id, {
      command: `mkdir -p ~/logs && i=${from}; while [ $i -le ${to} ]; do echo "${prefix}-$i" >> ~/logs/agent.log; i=$((i+1)); done`,
    });
  const range = (from: number, to: number, prefix: string) => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}-${from + i}`);

  it("takes the sandbox's own output and an agent log file, each line once and in order, across rounds", async function () {
    const part = newPart();
    await printToOutput(1, 40, 'out');
    await appendToFile(1, 40, 'file');
    await rounds(part, 1);
    await printToOutput(41, 300, 'out');
    await appendToFile(41, 300, 'file');
    await rounds(part, 2);
    const own = linesOf('sandbox').filter((line) => line.startsWith('out-'));
    assert.deepEqual(own, range(1, 300, 'out'));
    const agentLog = linesOf('file:/home/agent/logs/agent.log');
    assert.deepEqual(agentLog, range(1, 300, 'file'));
  });

  it('loses and doubles nothing when the collector dies between reading and storing, and starts again', async function () {
    await printToOutput(301, 400, 'out');
    await appendToFile(301, 400, 'file');
    // Read and never stored: a collector killed before its transaction.
    const lost = await newPart().collect(store, signal);
    assert.ok((lost.logs ?? []).length >= 200, 'the dead collector had read the new lines');
    await printToOutput(401, 450, 'out');
    await appendToFile(401, 450, 'file');
    await rounds(newPart(), 2);
    assert.deepEqual(
      linesOf('sandbox').filter((line) => line.startsWith('out-')),
      range(1, 450, 'out'),
    );
    assert.deepEqual(linesOf('file:/home/agent/logs/agent.log'), range(1, 450, 'file'));
  });

  it('cuts a line longer than the bound and keeps the lines after it whole', async function () {
    const long = 'x'.repeat(10_000);
    await rootExec(sandbox.providerRef!, `printf '%s\\n' '${long}' > /proc/1/fd/1; echo after-long > /proc/1/fd/1`);
    // Written in two pieces across rounds: the line's end arrives after it was taken cut.
    await env.controller.exec(sandbox.id, { command: `printf '%s' '${long}' >> ~/logs/agent.log` });
    const part = newPart();
    await rounds(part, 1);
    await env.controller.exec(sandbox.id, { command: `printf '%s\\n' '${long}' >> ~/logs/agent.log; echo after-long >> ~/logs/agent.log` });
    await rounds(part, 1);
    const cut = `${'x'.repeat(LINE_CAP)}…`;
    assert.deepEqual(linesOf('sandbox').slice(-2), [cut, 'after-long']);
    assert.deepEqual(linesOf('file:/home/agent/logs/agent.log').slice(-2), [cut, 'after-long']);
  });

  it('follows a rotated file to its end and starts the new one from its start; a truncated file starts again', async function () {
    await appendToFile(1, 10, 'rotate');
    await rounds(newPart(), 1);
    // logrotate's way: the file is renamed (still matched) and lines land in it before the new one starts.
    await env.controller.exec(sandbox.id, {
      command: 'mv ~/logs/agent.log ~/logs/agent.1.log && echo rotate-11 >> ~/logs/agent.1.log && echo new-1 > ~/logs/agent.log',
    });
    await rounds(newPart(), 1);
    assert.deepEqual(linesOf('file:/home/agent/logs/agent.1.log'), ['rotate-11']);
    assert.deepEqual(linesOf('file:/home/agent/logs/agent.log').slice(-2), ['rotate-10', 'new-1']);
    // Truncated and written past the old offset between two rounds: the round that sees it reads the file again from its start the round after.
    await env.controller.exec(sandbox.id, { command: ': > ~/logs/agent.log && echo after-truncate >> ~/logs/agent.log' });
    await rounds(newPart(), 2);
    assert.deepEqual(linesOf('file:/home/agent/logs/agent.log').slice(-1), ['after-truncate']);
  });

  it('runs in the collector on its interval: lines printed show in the store for readers', async function () {
    const collectorDir = tempDir('collector-run-');
    const collector = new Collector({ stateRoot: collectorDir, controller: env.controller, log: () => undefined }, [
      new SandboxLogsPart({ controller: env.controller, intervalMs: 200 }),
    ]);
    collector.start();
    try {
      await printToOutput(1, 3, 'live');
      await appendToFile(1, 3, 'live-file');
      const seen = await waitFor(
        () => {
          const reader = CollectorStore.openForReading(collectorDir);
          try {
            const lines = reader?.logs(sandbox.id, { limit: 100_000 }).map((l) => l.line) ?? [];
            return lines.includes('live-3') && lines.includes('live-file-3') ? lines : undefined;
          } finally {
            reader?.close();
          }
        },
        30_000,
        'the printed lines in the store',
      );
      assert.deepEqual(
        seen.filter((line) => line.startsWith('live-') && !line.startsWith('live-file')),
        range(1, 3, 'live'),
      );
    } finally {
      await collector.stop();
      await fs.rm(collectorDir, { recursive: true, force: true });
    }
  });

  it('reads nothing through a link to a file the agent may not read', async function () {
    await env.controller.exec(sandbox.id, { command: 'mkdir -p /tmp/agent && ln -sf /etc/shadow /tmp/agent/shadow.log && echo visible > /tmp/agent/own.log' });
    await rounds(newPart(), 1);
    assert.deepEqual(linesOf('file:/tmp/agent/own.log'), ['visible']);
    assert.deepEqual(linesOf('file:/tmp/agent/shadow.log'), []);
    const everything = store.logs(sandbox.id, { limit: 100_000 }).map((l) => l.line);
    assert.ok(!everything.some((line) => line.startsWith('root:')), 'no line of /etc/shadow is stored');
  });

  it('reads a large burst of its own output a capped part at a time, the first round only its newest lines, and loses nothing', async function () {
    const burst = 20_000;
    // About 1 KiB a line, 20 MiB in all: a round takes 1 MiB of it.
    await rootExec(
      sandbox.providerRef!,
      `p=$(head -c 1000 /dev/zero | tr '\\0' y); i=1; while [ $i -le ${burst} ]; do printf 'burst-%d %s\\n' $i "$p"; i=$((i+1)); done > /proc/1/fd/1`,
    );
    const bursts = (lines: LogLine[]) => lines.filter((l) => l.source === 'sandbox' && l.line.startsWith('burst-')).map((l) => l.line.split(' ')[0]!);
    const part = newPart();
    const taken: string[] = [];
    for (let round = 0; round < 40 && taken.at(-1) !== `burst-${burst}`; round++) {
      const batch = await part.collect(store, signal);
      const own = (batch.logs ?? []).filter((l) => l.source === 'sandbox');
      const bytes = own.reduce((sum, l) => sum + Buffer.byteLength(l.line), 0);
      assert.ok(bytes <= 1024 * 1024 + LINE_CAP * 4, `a round took ${bytes} bytes of the sandbox's output`);
      taken.push(...bursts(own));
      store.ingest(batch);
    }
    assert.deepEqual(taken, range(1, burst, 'burst'));

    // A collector that never saw the sandbox takes only the newest lines it printed.
    const freshDir = tempDir('collector-fresh-');
    const fresh = CollectorStore.openForWriting(freshDir);
    try {
      const first = await newPart().collect(fresh, signal);
      const own = (first.logs ?? []).filter((l) => l.source === 'sandbox');
      assert.ok(own.length <= 1000, `the first round took ${own.length} lines`);
      assert.equal(bursts(own).at(-1), `burst-${burst}`);
    } finally {
      fresh.close();
      await fs.rm(freshDir, { recursive: true, force: true });
    }
  });
});

describe('collector: task and cost gauges', function () {
  const stateDir = tempDir('collector-gauges-');
  let store: CollectorStore;
  before(() => (store = CollectorStore.openForWriting(stateDir)));
  after(async () => {
    store.close();
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it("stores the queue's depth, the tasks running, an ended attempt's duration and a cloud sandbox's cost so far", async function () {
    const queue = new TaskQueue(stateDir);
    const task = (id: string) => ({ type: 'added' as const, task: { id, command: 'true', priority: 'normal' as const, profile: 'default', maxAttempts: 1 } });
    // Queued and never run: no scheduler looks at this state dir.
    queue.append([task('q1'), task('q2'), task('r1'), task('d1')]);
    queue.append([
      { type: 'assigned', id: 'r1', attempt: 1, sandboxId: 'sb-r1', sandboxName: 'task-r1', placement: 'docker', warm: true },
      { type: 'started', id: 'r1', attempt: 1 },
      { type: 'assigned', id: 'd1', attempt: 1, sandboxId: 'sb-d1', sandboxName: 'task-d1', placement: 'docker', warm: true, time: '2026-12-06T09:00:00.000Z' },
      { type: 'started', id: 'd1', attempt: 1 },
      { type: 'ended', id: 'd1', attempt: 1, end: 'exited', exitCode: 0, next: 'succeeded', time: '2026-12-06T09:00:02.500Z' },
    ]);
    // A droplet's hour so far, as its provider opens it in the ledger (by name), and one destroyed after half an hour.
    let now = Date.now();
    const ledger = new CostLedger(stateDir, () => now);
    const machine = { provider: 'digitalocean', size: 's-1vcpu-1gb', usdPerHour: 0.5, ttlMs: 7_200_000, atMs: now - 3_600_000 };
    await ledger.openMachine({ ...machine, sandbox: 'cloud-box' });
    const gone = await ledger.openMachine({ ...machine, sandbox: 'gone-box' });
    await ledger.closeMachine(gone.id, 'destroyed', now - 1_800_000);
    store.ingest({ sandboxes: [{ sandboxId: 'sb-cloud', name: 'cloud-box', firstSeen: now, lastSeen: now }] });

    const part = new TaskGaugesPart({ stateRoot: stateDir, records: new StateStore(stateDir), intervalMs: 5000, clock: () => now });
    store.ingest(await part.collect(store));
    const value = (name: string, sandboxId?: string) => store.gauges(name, 0, sandboxId).map((g) => g.value);
    assert.deepEqual(value(QUEUE_DEPTH_GAUGE), [2]);
    assert.deepEqual(value(TASKS_RUNNING_GAUGE), [1]);
    assert.deepEqual(store.gauges(TASK_DURATION_GAUGE, 0), [
      { name: TASK_DURATION_GAUGE, sandboxId: 'sb-d1', time: Date.parse('2026-12-06T09:00:02.500Z'), value: 2500 },
    ]);
    const [cost] = value(COST_GAUGE, 'sb-cloud');
    assert.ok(cost !== undefined && Math.abs(cost - 0.5) < 0.01, `an hour at $0.50 costs about $0.50, got ${cost}`);

    const [goneCost] = value(COST_GAUGE, 'gone-box');
    assert.ok(goneCost !== undefined && Math.abs(goneCost - 0.25) < 0.01, `half an hour at $0.50 costs about $0.25, got ${goneCost}`);

    // The next round tells a duration once only, and the cost of what no longer runs only when it changes.
    now += 5000;
    store.ingest(await part.collect(store));
    assert.equal(store.gauges(TASK_DURATION_GAUGE, 0).length, 1);
    assert.equal(store.gauges(COST_GAUGE, 0, 'sb-cloud').length, 2);
    assert.equal(store.gauges(COST_GAUGE, 0, 'gone-box').length, 1);
  });
});
