import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DashboardFeed } from '../../../src/app/dashboardFeed';
import { dashboardCsp, dashboardPage } from '../../../src/app/dashboardPage';
import { seriesOf, summarize, tasksOf } from '../../../src/app/dashboardShapes';
import { appendSeries } from '../../../src/dashboard/protocol';
import { scaleFrame } from '../../../src/app/dashboardThumbnails';
import { CollectorStore, type StoredEvent } from '../../../src/core/collector/store';
import type { SandboxRecord } from '../../../src/core/model';
import type { DashboardDelta, DashboardUpdate } from '../../../src/dashboard/protocol';

function event(id: number, type: string, data: Record<string, unknown>, extra: Partial<StoredEvent> = {}): StoredEvent {
  return { id, time: 1_000 * id, type, sandboxId: 'sb', sandbox: 'alpha', data, ...extra };
}

describe('dashboard data', () => {
  it('makes chart series of samples: seconds, CPU, memory, and network rates from the counters', () => {
    const series = seriesOf([
      { sandboxId: 'a', time: 10_000, cpuPercent: 12.345, memoryBytes: 100, netRxBytes: 1000, netTxBytes: 0 },
      { sandboxId: 'a', time: 12_000, cpuPercent: 50, memoryBytes: 200, netRxBytes: 5000, netTxBytes: 100 },
      // A restart: the counters start again, so no rate.
      { sandboxId: 'a', time: 14_000, cpuPercent: 0, memoryBytes: 50, netRxBytes: 10, netTxBytes: 1 },
    ]);
    assert.deepEqual(series, { time: [10, 12, 14], cpu: [12.3, 50, 0], memory: [100, 200, 50], rx: [null, 2000, null], tx: [null, 50, null] });
    const next = seriesOf([{ sandboxId: 'a', time: 15_000, cpuPercent: 1, memoryBytes: 1, netRxBytes: 1010, netTxBytes: 1 }], {
      sandboxId: 'a',
      time: 14_000,
      cpuPercent: 0,
      memoryBytes: 50,
      netRxBytes: 10,
      netTxBytes: 1,
    });
    assert.deepEqual(next.rx, [1000], 'the sample before a delta gives its first rate');
    assert.deepEqual(appendSeries(series, next, 12).time, [12, 14, 15], 'points older than the window go');
  });

  it('sums an event up in one line of its fields, control characters and length bounded', () => {
    assert.equal(summarize(event(1, 'exec.ended', { command: ['make', 'test'], exitCode: 2, durationMs: 40 })), 'make test exitCode=2 durationMs=40');
    const hostile = summarize(event(2, 'exec.ended', { command: `echo \u001b[31mred\nnext${'x'.repeat(400)}` }));
    assert.doesNotMatch(hostile, /[\u0000-\u001f]/);
    assert.ok(hostile.length <= 200);
  });

  it('lays out task attempts from their placed, started and ended events, newest first', () => {
    const tasks = tasksOf([
      event(1, 'task.placed', { taskId: 't1', attempt: 1 }, { task: 't1' }),
      event(2, 'task.started', { taskId: 't1', attempt: 1 }, { task: 't1' }),
      event(3, 'task.ended', { taskId: 't1', attempt: 1, next: 'queued' }, { task: 't1' }),
      event(4, 'task.placed', { taskId: 't1', attempt: 2 }, { sandbox: 'beta' }),
      event(5, 'exec.ended', { command: 'x' }),
    ]);
    assert.deepEqual(tasks, [
      { task: 't1', attempt: 2, sandbox: 'beta', placed: 4000 },
      { task: 't1', attempt: 1, sandbox: 'alpha', placed: 1000, started: 2000, ended: 3000, outcome: 'queued' },
    ]);
  });

  it('scales a desktop frame down for its thumbnail', () => {
    const rgb = Buffer.alloc(4 * 2 * 3);
    rgb.fill(255, 0, 3); // the top-left pixel white
    const small = scaleFrame({ width: 4, height: 2, rgb }, 2);
    assert.deepEqual([small.width, small.height], [2, 1]);
    assert.deepEqual([...small.rgb], [255, 255, 255, 0, 0, 0]);
  });

  it('makes a page with a nonce, no eval, no inline style and no remote source', () => {
    const csp = dashboardCsp({ cspSource: "'self'", connectSources: ["'self'"], nonce: 'abc' });
    assert.equal(
      csp,
      "default-src 'none'; script-src 'nonce-abc'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'",
    );
    const html = dashboardPage({ scriptUri: '/d.js', styleUri: '/d.css', cspSource: "'self'", nonce: 'abc', config: { transport: 'events' } });
    assert.match(html, /<script nonce="abc" src="\/d\.js"><\/script>/);
    assert.doesNotMatch(html, /unsafe|https?:/);
  });
});

describe('dashboard feed', () => {
  let stateDir: string;
  beforeEach(() => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'dashboard-feed-'));
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  const running = {
    id: 'sb-run',
    name: 'runner',
    provider: 'docker',
    state: 'running',
    agentId: 'agent-1',
    profile: { desktop: undefined },
  } as unknown as SandboxRecord;

  it('sends a snapshot from the store, then deltas of what the collector stored since', async () => {
    const now = Date.now();
    const writer = CollectorStore.openForWriting(stateDir);
    writer.ingest({
      sandboxes: [
        { sandboxId: 'sb-run', name: 'runner', firstSeen: now - 60_000, lastSeen: now },
        { sandboxId: 'sb-gone', name: 'gone', firstSeen: now - 60_000, lastSeen: now, deleted: now },
      ],
      samples: [1, 2, 3].map((i) => ({ sandboxId: 'sb-run', time: now - 4_000 + i * 1000, cpuPercent: i, memoryBytes: i })),
      events: [{ time: now - 1000, type: 'sandbox.created', sandboxId: 'sb-run', sandbox: 'runner', data: {} }],
    });
    const feed = new DashboardFeed({ stateRoot: stateDir, records: () => [running], pollMs: 50 });
    try {
      await feed.start();
      const updates: DashboardUpdate[] = [];
      feed.subscribe((update) => updates.push(update));
      const snapshot = updates[0]!;
      assert.equal(snapshot.type, 'snapshot');
      assert.deepEqual(
        snapshot.sandboxes?.map((s) => [s.name, s.state, s.agent]),
        [['runner', 'running', 'agent-1']],
      );
      assert.deepEqual(snapshot.series['sb-run']?.cpu, [1, 2, 3]);
      assert.deepEqual(
        snapshot.events.map((e) => e.type),
        ['sandbox.created'],
      );
      assert.equal(snapshot.cost?.spentUsd, 0);

      writer.ingest({
        samples: [{ sandboxId: 'sb-run', time: now + 500, cpuPercent: 9, memoryBytes: 9 }],
        events: [{ time: now, type: 'exec.ended', sandboxId: 'sb-run', sandbox: 'runner', data: { exitCode: 0 } }],
      });
      const deadline = Date.now() + 5_000;
      let delta: DashboardDelta | undefined;
      while (!delta && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        delta = updates.find((u): u is DashboardDelta => u.type === 'delta' && u.events.length > 0);
      }
      assert.ok(delta, 'a delta with the new event');
      assert.deepEqual(
        delta.events.map((e) => e.type),
        ['exec.ended'],
      );
      const cpu = updates.flatMap((u) => (u.type === 'delta' ? (u.series['sb-run']?.cpu ?? []) : []));
      assert.deepEqual(cpu, [9], 'only the new sample');
      assert.deepEqual(feed.snapshot().series['sb-run']?.cpu, [1, 2, 3, 9]);
    } finally {
      feed.stop();
      writer.close();
    }
  });

  it('reads a burst larger than a page to its end: a task.ended before hundreds of other events is not lost', async () => {
    const now = Date.now();
    const writer = CollectorStore.openForWriting(stateDir);
    const task = { sandboxId: 'sb-run', sandbox: 'runner', task: 't1' };
    writer.ingest({ events: ['task.placed', 'task.started'].map((type, i) => ({ time: now - 2_000 + i, type, ...task, data: { taskId: 't1', attempt: 1 } })) });
    const feed = new DashboardFeed({ stateRoot: stateDir, records: () => [running], pollMs: 20 });
    try {
      await feed.start();
      assert.equal(feed.snapshot().tasks[0]?.ended, undefined);
      const updates: DashboardUpdate[] = [];
      feed.subscribe((update) => updates.push(update));
      const burst = Array.from({ length: 1_200 }, (_, i) => ({
        time: now + 1 + i,
        type: 'exec.ended',
        sandboxId: 'sb-run',
        sandbox: 'runner',
        data: { exitCode: i },
      }));
      writer.ingest({ events: [{ time: now, type: 'task.ended', ...task, data: { taskId: 't1', attempt: 1, next: 'succeeded' } }, ...burst] });
      const deadline = Date.now() + 5_000;
      while (feed.snapshot().events.at(-1)?.time !== burst.at(-1)!.time && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      const snapshot = feed.snapshot();
      assert.deepEqual(
        snapshot.tasks.map((t) => [t.task, t.outcome]),
        [['t1', 'succeeded']],
      );
      assert.ok(
        updates.some((u) => u.type === 'delta' && u.tasks?.[0]?.outcome === 'succeeded'),
        'a delta carried the ended task',
      );
      assert.equal(snapshot.events.length, 500, 'the list shown is trimmed to its newest');
    } finally {
      feed.stop();
      writer.close();
    }
  });

  it('does not open the store again when stopped while listing the sandboxes', async () => {
    CollectorStore.openForWriting(stateDir).close();
    let release: (() => void) | undefined;
    let listed = 0;
    const records = (): Promise<SandboxRecord[]> | SandboxRecord[] => {
      listed += 1;
      if (listed === 1) return [running];
      return new Promise((resolve) => (release = () => resolve([running])));
    };
    const feed = new DashboardFeed({ stateRoot: stateDir, records, pollMs: 10, recordsEveryMs: 0 });
    await feed.start();
    const deadline = Date.now() + 5_000;
    while (!release && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(release, 'the feed listed the sandboxes again');
    feed.stop();
    release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((feed as unknown as { store?: CollectorStore }).store, undefined, 'the store was opened again after stop');
  });

  it('says the collector has not run when there is no store, and still lists the running sandboxes', async () => {
    const feed = new DashboardFeed({ stateRoot: stateDir, records: () => [running] });
    try {
      await feed.start();
      const snapshot = feed.snapshot();
      assert.deepEqual(
        snapshot.sandboxes.map((s) => s.name),
        ['runner'],
      );
      assert.match(snapshot.problems.join(' '), /collector has not run/);
    } finally {
      feed.stop();
    }
  });
});
