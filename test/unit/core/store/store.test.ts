import * as assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SandboxRecord } from '../../../../src/core/model';
import { StateStore, defaultStateDir } from '../../../../src/core/store/stateStore';

describe('the state dir', function () {
  const root = () => mkdtempSync(path.join(os.tmpdir(), 'store-test-'));

  it('is ~/.agent-sandboxes unless AGENT_SANDBOXES_HOME says otherwise', function () {
    assert.equal(defaultStateDir({}), path.join(os.homedir(), '.agent-sandboxes'));
    assert.equal(defaultStateDir({ AGENT_SANDBOXES_HOME: '/tmp/elsewhere' }), '/tmp/elsewhere');
  });

  it('agrees on one owner id when several processes ask at once', async function () {
    const dir = root();
    const ids = await Promise.all(Array.from({ length: 8 }, () => new StateStore(dir).ownerId()));
    assert.equal(new Set(ids).size, 1);
    assert.match(ids[0]!, /^[0-9a-f]{16}$/);
  });

  it('writes records atomically with mode 0600 and lists them', async function () {
    const store = new StateStore(root());
    const record = { id: 'abc123', name: 'n', state: 'running' } as SandboxRecord;
    await store.writeRecord(record);
    assert.equal(statSync(store.recordPath('abc123')).mode & 0o777, 0o600);
    assert.deepEqual(await store.listRecords(), [record]);
    assert.deepEqual((await fs.readdir(path.dirname(store.recordPath('abc123')))).length, 1, 'no temp file left');
    await store.deleteRecord('abc123');
    assert.deepEqual(await store.listRecords(), []);
  });

  it('skips a torn last journal line', async function () {
    const store = new StateStore(root());
    await store.appendJournal('j', { time: 't1', kind: 'lifecycle', action: 'created' });
    await fs.appendFile(store.journalPath('j'), '{"time":"t2","kind":"lifec');
    assert.deepEqual(await store.readJournal('j'), [{ time: 't1', kind: 'lifecycle', action: 'created' }]);
  });

  it('follows a journal as lines are appended', async function () {
    const store = new StateStore(root());
    await store.appendJournal('f', { time: 't0', kind: 'lifecycle', action: 'old' });
    const abort = new AbortController();
    const seen: string[] = [];
    let markLive!: () => void;
    const live = new Promise<void>((resolve) => (markLive = resolve));
    const following = (async () => {
      for await (const entry of store.followJournal('f', abort.signal)) {
        if (entry.kind === 'lifecycle' && entry.action === 'ready') markLive();
        else if (entry.kind === 'lifecycle') seen.push(entry.action);
        if (seen.length === 2) abort.abort();
      }
    })();
    // The follower is live once it yields a line written after it began; one written before is not its to see, so offer more.
    let isLive = false;
    void live.then(() => (isLive = true));
    while (!isLive) {
      await store.appendJournal('f', { time: 'tr', kind: 'lifecycle', action: 'ready' });
      await Promise.race([live, new Promise((resolve) => setTimeout(resolve, 20))]);
    }
    await store.appendJournal('f', { time: 't1', kind: 'lifecycle', action: 'first' });
    await store.appendJournal('f', { time: 't2', kind: 'lifecycle', action: 'second' });
    await following;
    assert.deepEqual(seen, ['first', 'second']);
  });
});
