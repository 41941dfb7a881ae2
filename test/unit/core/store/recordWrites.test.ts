import * as assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SandboxRecord } from '../../../../src/core/model';
import { withRecordLock } from '../../../../src/core/store/recordLock';
import { StateStore } from '../../../../src/core/store/stateStore';

const record = (state: SandboxRecord['state']): SandboxRecord =>
  ({ id: 'r1', name: 'one', state, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' }) as SandboxRecord;

describe('record writes shared by several processes', function () {
  const store = () => new StateStore(mkdtempSync(path.join(os.tmpdir(), 'record-writes-')));

  it('replaces a record only while it is still the one read', async function () {
    const s = store();
    await s.writeRecord(record('running'));
    assert.equal(await s.replaceRecordIf(record('creating'), record('error')), false, 'a stale read must not win');
    assert.equal((await s.readRecord('r1'))?.state, 'running');
    assert.equal(await s.replaceRecordIf(record('running'), record('stopped')), true);
    assert.equal((await s.readRecord('r1'))?.state, 'stopped');
  });

  it('never brings back a record deleted after it was read', async function () {
    const s = store();
    await s.writeRecord(record('running'));
    await s.deleteRecord('r1');
    assert.equal(await s.replaceRecordIf(record('running'), record('lost')), false);
    assert.equal(await s.readRecord('r1'), undefined);
  });

  it('takes in a record only where none exists', async function () {
    const s = store();
    await s.writeRecord(record('creating'));
    assert.equal(await s.replaceRecordIf(null, record('running')), false, 'the creator wrote first');
    assert.equal((await s.readRecord('r1'))?.state, 'creating');
  });

  it('keeps a delete racing a rewrite deleted, round after round', async function () {
    const s = store();
    for (let round = 0; round < 200; round++) {
      await s.writeRecord(record('running'));
      await Promise.all([s.replaceRecordIf(record('running'), record('lost')), s.deleteRecord('r1')]);
      assert.equal(await s.readRecord('r1'), undefined, `round ${round}: the record came back`);
    }
  });

  it('lets one writer at a time hold a record, and takes over a lock left by a dead process', async function () {
    const root = mkdtempSync(path.join(os.tmpdir(), 'record-lock-'));
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = withRecordLock(root, 'x', async () => {
      order.push('first in');
      await new Promise<void>((resolve) => (releaseFirst = resolve));
      order.push('first out');
    });
    while (order.length === 0) await new Promise((resolve) => setImmediate(resolve));
    const second = withRecordLock(root, 'x', async () => void order.push('second in'));
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.deepEqual(order, ['first in'], 'the second writer waits');
    releaseFirst();
    await Promise.all([first, second]);
    assert.deepEqual(order, ['first in', 'first out', 'second in']);

    const stale = path.join(root, 'y.lock');
    await fs.mkdir(stale);
    const old = new Date(Date.now() - 60_000);
    await fs.utimes(stale, old, old);
    assert.equal(await withRecordLock(root, 'y', async () => 'written'), 'written');
  });
});
