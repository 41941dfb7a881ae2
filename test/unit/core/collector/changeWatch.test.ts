import * as assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChangeWatch } from '../../../../src/core/collector/changeWatch';
import { JournalIngester } from '../../../../src/core/collector/journalIngest';
import { CollectorStore } from '../../../../src/core/collector/store';
import { EventLog } from '../../../../src/core/events/eventLog';

/** Until the watch says yes (a notification arrives on the event loop), at most 5 s. */
async function untilLook(watch: ChangeWatch): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!watch.shouldLook()) {
    if (Date.now() > deadline) assert.fail('no change was noticed within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const quiet = () => new Promise((resolve) => setTimeout(resolve, 200));

describe('collector: change watch', () => {
  let dir: string;
  let now: number;
  const watches: ChangeWatch[] = [];
  const made = (watch: ChangeWatch) => (watches.push(watch), watch);
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'change-watch-'));
    now = 0;
  });
  afterEach(() => {
    for (const watch of watches.splice(0)) watch.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says to look first, then only after a change of a watched name, or when a full look is due', async () => {
    const watch = made(new ChangeWatch([{ dir, names: ['events.jsonl'] }], 30_000, () => now));
    assert.equal(watch.shouldLook(), true, 'the first round looks');
    await quiet();
    assert.equal(watch.shouldLook(), false, 'nothing changed');
    appendFileSync(path.join(dir, 'other.json'), 'x');
    await quiet();
    assert.equal(watch.shouldLook(), false, 'another name does not count');
    appendFileSync(path.join(dir, 'events.jsonl'), 'line\n');
    await untilLook(watch);
    assert.equal(watch.shouldLook(), false, 'told once');
    now += 30_000;
    assert.equal(watch.shouldLook(), true, 'a full look is due');
  });

  it('looks every round while a folder is missing, and watches it once it is there', async () => {
    const journals = path.join(dir, 'journal');
    const watch = made(new ChangeWatch([{ dir: journals }], 30_000, () => now));
    assert.equal(watch.shouldLook(), true);
    assert.equal(watch.shouldLook(), true, 'not watched: every round looks');
    mkdirSync(journals);
    assert.equal(watch.shouldLook(), true, 'watched from now on; what came before is not known');
    await quiet();
    assert.equal(watch.shouldLook(), false);
    appendFileSync(path.join(journals, 'sb1.jsonl'), '{}\n');
    await untilLook(watch);
  });

  it('watches a folder made anew after it was removed', async () => {
    const journals = path.join(dir, 'journal');
    mkdirSync(journals);
    const watch = made(new ChangeWatch([{ dir: journals }], 30_000, () => now));
    assert.equal(watch.shouldLook(), true);
    await quiet();
    assert.equal(watch.shouldLook(), false);
    rmSync(journals, { recursive: true });
    mkdirSync(journals);
    await untilLook(watch);
    await quiet();
    assert.equal(watch.shouldLook(), false);
    appendFileSync(path.join(journals, 'sb2.jsonl'), '{}\n');
    await untilLook(watch);
  });

  it('has the journal ingester read on at once after a read cut at its bound, or a round the store did not take', async () => {
    mkdirSync(path.join(dir, 'journal'));
    const log = new EventLog(dir);
    for (let n = 0; n < 5; n++) log.append({ type: 'sandbox.started', sandboxId: 'sb1', time: `2027-01-15T08:00:0${n}.000Z`, name: `n${n}` });
    const store = CollectorStore.openForWriting(dir);
    const ingester = new JournalIngester({ stateRoot: dir, log: () => undefined, maxReadBytes: 200 });
    try {
      // No notification comes: every line was written before the watch began.
      for (let round = 0; round < 10 && store.events().length < 5; round++) store.ingest(await ingester.collect(store));
      assert.equal(store.events().length, 5, 'the rest read at the next rounds');
      await quiet();
      assert.deepEqual(await ingester.collect(store), {});
      ingester.failed();
      assert.notDeepEqual(await ingester.collect(store), {}, 'read again after a round the store did not take');
    } finally {
      ingester.close();
      store.close();
    }
  });

  it('lets the journal ingester skip an idle round without reading, and see the next append', async () => {
    mkdirSync(path.join(dir, 'journal'));
    const store = CollectorStore.openForWriting(dir);
    const ingester = new JournalIngester({ stateRoot: dir, log: () => undefined });
    try {
      const log = new EventLog(dir);
      log.append({ type: 'sandbox.started', sandboxId: 'sb1', time: '2027-01-15T08:00:00.000Z', name: 'alpha' });
      store.ingest(await ingester.collect(store));
      assert.equal(store.events().length, 1);
      await quiet();
      assert.deepEqual(await ingester.collect(store), {}, 'an idle round reads nothing');
      log.append({ type: 'sandbox.stopped', sandboxId: 'sb1', time: '2027-01-15T08:00:01.000Z', name: 'alpha' });
      const deadline = Date.now() + 5_000;
      while (store.events().length < 2 && Date.now() < deadline) {
        store.ingest(await ingester.collect(store));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.deepEqual(
        store.events().map((event) => event.type),
        ['sandbox.started', 'sandbox.stopped'],
      );
    } finally {
      ingester.close();
      store.close();
    }
  });
});
