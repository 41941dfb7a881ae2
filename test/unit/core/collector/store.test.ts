import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CollectorStore, type CollectedEvent } from '../../../../src/core/collector/store';

describe('collector store: the queries of sandbox events and of long windows', () => {
  let dir: string;
  let store: CollectorStore;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'collector-store-'));
    store = CollectorStore.openForWriting(dir);
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the offsets it wrote as its readers see them, and leaves an idle batch unwritten', () => {
    store.ingest({
      offsets: [
        { source: 'journal/a', fileId: '1:2', offset: 10 },
        { source: 'journal/b', offset: 5 },
        { source: 'logs/x', offset: 1 },
      ],
    });
    store.ingest({ offsets: [{ source: 'journal/a', fileId: '1:3', offset: 0 }], dropOffsets: ['journal/b'] });
    // A batch that fails after its offsets were written rolls back, and the offsets in memory stay those of the file.
    assert.throws(() => store.ingest({ offsets: [{ source: 'journal/a', offset: 99 }], problems: [{ time: 1, source: 's', message: null as never }] }));
    const reader = CollectorStore.openForReading(dir)!;
    try {
      assert.deepEqual(store.offsets('journal/'), reader.offsets('journal/'));
      assert.deepEqual(store.offsets(), reader.offsets());
      assert.deepEqual(store.offset('journal/a'), { source: 'journal/a', fileId: '1:3', offset: 0 });
      assert.equal(store.offset('journal/b'), undefined);
      assert.deepEqual(reader.offset('logs/x'), store.offset('logs/x'));
    } finally {
      reader.close();
    }
    // Each transaction takes the file's lock (a directory made and removed): an idle round takes none.
    let transactions = 0;
    const transaction = store.db.transaction.bind(store.db);
    store.db.transaction = ((work: () => unknown) => {
      transactions++;
      return transaction(work);
    }) as typeof store.db.transaction;
    store.ingest({ events: [], logs: [], offsets: [], problems: [] });
    assert.equal(transactions, 0, 'no transaction for an empty batch');
    store.ingest({ problems: [{ time: 1, source: 's', message: 'm' }] });
    assert.equal(transactions, 1);
  });

  it('takes a type ending in a dot as a prefix of whole families, and others exactly', () => {
    const types = ['task', 'task.placed', 'task.ended', 'tasks.other', 'taskx.y', 'exec.ended', 'exec.started'];
    store.ingest({ events: types.map((type, i): CollectedEvent => ({ time: i, type, sandboxId: 's', sandbox: 'n', data: {} })) });
    const typesOf = (query: string[]) => store.events({ types: query }).map((e) => e.type);
    assert.deepEqual(typesOf(['task.']), ['task.placed', 'task.ended']);
    assert.deepEqual(typesOf(['task.', 'exec.ended']), ['task.placed', 'task.ended', 'exec.ended']);
    assert.deepEqual(typesOf(['task']), ['task']);
    const plan = store.db.all<{ detail: string }>("EXPLAIN QUERY PLAN SELECT * FROM events WHERE (type >= 'task.' AND type < 'task/')");
    assert.match(plan.map((row) => row.detail).join(' '), /events_by_type/);
  });

  it('gives a follower (afterId) the oldest events after its position, the others the newest, both oldest first', () => {
    store.ingest({ events: Array.from({ length: 10 }, (_, i): CollectedEvent => ({ time: i, type: 'exec.ended', sandboxId: 's', sandbox: 'n', data: {} })) });
    const ids = (events: { id: number }[]) => events.map((e) => e.id);
    const first = store.events({ afterId: 2, limit: 3 });
    assert.deepEqual(ids(first), [3, 4, 5]);
    assert.deepEqual(ids(store.events({ afterId: first.at(-1)!.id, limit: 3 })), [6, 7, 8]);
    assert.deepEqual(ids(store.events({ limit: 3 })), [8, 9, 10]);
  });

  it('gives a long window in steps: averages of CPU and memory, the highest counters, minute rows then raw ones', () => {
    const minute = 60_000;
    store.db.transaction(() =>
      store.db.insertMany(
        'INSERT INTO samples_minute (sandbox_id, time, count, cpu_percent, memory_bytes, net_rx_bytes) VALUES (?, ?, 12, ?, ?, ?)',
        Array.from({ length: 20 }, (_, m) => ['sb', m * minute, m, 100 * m, 1000 * m]),
      ),
    );
    store.ingest({
      samples: Array.from({ length: 24 }, (_, i) => ({
        sandboxId: 'sb',
        time: 20 * minute + i * 5000,
        cpuPercent: 50,
        memoryBytes: 10,
        netRxBytes: 30_000 + i,
      })),
    });
    const steps = store.samplesByStep('sb', 0, 30 * minute, 10 * minute);
    assert.deepEqual(
      steps.map((s) => [s.time, s.cpuPercent, s.memoryBytes, s.netRxBytes]),
      [
        [0, 4.5, 450, 9000],
        [10 * minute, 14.5, 1450, 19000],
        [20 * minute, 50, 10, 30_023],
      ],
    );
  });
});
