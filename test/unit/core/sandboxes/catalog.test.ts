import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SshConfigWriter } from '../../../../src/core/connections/sshConfigWriter';
import { isSandboxError } from '../../../../src/core/errors';
import type { SandboxRecord } from '../../../../src/core/model';
import { ProviderSet } from '../../../../src/core/providers/registry';
import { SandboxCatalog } from '../../../../src/core/sandboxes/catalog';
import { EventBus } from '../../../../src/core/events/bus';
import { subscribeJournal } from '../../../../src/core/events/journalSubscriber';
import type { BusEvent } from '../../../../src/core/events/types';
import { StateStore } from '../../../../src/core/store/stateStore';
import { FakeProvider, machineOf, recordOf } from '../fakeProvider';

describe('sandbox catalog over a fake provider', () => {
  let dir: string;
  let store: StateStore;
  let provider: FakeProvider;
  let published: BusEvent[];
  let listed: SandboxRecord[][];
  let catalog: SandboxCatalog;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'catalog-test-'));
    store = new StateStore(dir);
    provider = new FakeProvider();
    published = [];
    listed = [];
    const events = new EventBus();
    events.onAny((event) => void published.push(event));
    subscribeJournal(events, store);
    catalog = new SandboxCatalog({
      store,
      providers: new ProviderSet({ docker: provider }, dir),
      events,
      sshConfig: new SshConfigWriter(store),
      onListed: async (records) => void listed.push(records),
    });
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes what changed, takes in machines without a record, and tells of each adoption', async () => {
    const kept = recordOf('k1', 'running');
    const gone = recordOf('g1', 'running');
    await store.writeRecord(kept);
    await store.writeRecord(gone);
    provider.machines.set(kept.providerRef!, machineOf(kept, 'stopped'));
    const stranger = machineOf({ id: 'n1', name: 'box-n1', createdAt: '2024-02-01T00:00:00.000Z' }, 'running');
    provider.machines.set(stranger.providerRef, stranger);

    const report = await catalog.reconcile();
    assert.deepEqual(report.adopted, ['box-n1']);
    assert.deepEqual(report.lost, ['box-g1']);
    assert.equal(provider.listedOwners[0], await store.ownerId());
    assert.equal((await store.readRecord('k1'))?.state, 'stopped');
    assert.equal((await store.readRecord('g1'))?.state, 'lost');
    assert.equal((await store.readRecord('n1'))?.state, 'running');
    assert.deepEqual(
      published.map(({ time: _time, ...event }) => event),
      [
        { type: 'sandbox.adopted', sandboxId: 'n1', name: 'box-n1', provider: 'docker', providerRef: stranger.providerRef },
        { type: 'sandbox.failed', sandboxId: 'g1', name: 'box-g1', reason: 'lost', problem: (await store.readRecord('g1'))?.problem },
      ],
    );
    // The journal keeps the adoption as it always has, and nothing of the loss.
    assert.deepEqual(
      (await store.readJournal('n1')).map(({ time: _time, ...entry }) => entry),
      [{ kind: 'lifecycle', action: 'adopted', detail: 'found on the provider without a record' }],
    );
    assert.deepEqual(await store.readJournal('g1'), []);
    // Machines without an SSH endpoint give no block, but the config is written.
    assert.doesNotMatch(readFileSync(store.sshConfigPath, 'utf8'), /Host /);
  });

  it('resolves from the records first, then from a listing that reaches the providers', async () => {
    const known = recordOf('abc123', 'running', { name: 'web' });
    await store.writeRecord(known);
    provider.machines.set(known.providerRef!, machineOf(known, 'running'));
    assert.equal((await catalog.resolve('we')).id, 'abc123');
    assert.equal(listed.length, 0);

    const other = machineOf({ id: 'def456', name: 'made-elsewhere', createdAt: '2024-03-01T00:00:00.000Z' }, 'running');
    provider.machines.set(other.providerRef, other);
    assert.equal((await catalog.resolve('made-elsewhere')).id, 'def456');
    assert.equal(listed.length, 1);
    await assert.rejects(catalog.resolve('nothing'), (error) => isSandboxError(error, 'not-found') && /see `sandbox list`/.test(error.message));
  });

  it('updates one record from its machine on status, and marks it lost when the machine is gone', async () => {
    const record = recordOf('s1', 'running');
    await store.writeRecord(record);
    provider.machines.set(record.providerRef!, machineOf(record, 'stopped'));
    assert.equal((await catalog.status('s1')).state, 'stopped');
    assert.equal((await store.readRecord('s1'))?.state, 'stopped');
    provider.machines.clear();
    assert.equal((await catalog.status('s1')).state, 'lost');
    assert.equal((await store.readRecord('s1'))?.state, 'lost');
  });
});
