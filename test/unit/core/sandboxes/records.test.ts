import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { isSandboxError } from '../../../../src/core/errors';
import { CREATE_STALE_MS, markMissing, matchRecord, mergeRecord, planReconcile } from '../../../../src/core/sandboxes/records';
import { isInterrupted } from '../../../../src/core/sandboxState';
import { FakeProvider, machineOf, recordOf } from '../fakeProvider';

/** A pid no process has: one that ran and was reaped. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid;

describe('records: merge', () => {
  it('takes the machine as the provider sees it, keeping updatedAt while nothing changed', () => {
    const record = recordOf('a1', 'running');
    const merged = mergeRecord(record, { ...machineOf(record, 'running'), ports: { '22': 41000 } });
    assert.deepEqual(merged.ports, { '22': 41000 });
    assert.equal(merged.updatedAt, record.updatedAt);
  });

  it('stamps updatedAt when the state changes', () => {
    const record = recordOf('a1', 'running');
    const merged = mergeRecord(record, machineOf(record, 'stopped'));
    assert.equal(merged.state, 'stopped');
    assert.notEqual(merged.updatedAt, record.updatedAt);
  });

  it('leaves a create to its live creator, and calls one whose creator is gone interrupted', () => {
    const now = new Date().toISOString();
    const alive = recordOf('c1', 'creating', { createdAt: now, creator: { pid: process.pid, host: os.hostname() } });
    assert.equal(mergeRecord(alive, machineOf(alive, 'running')).state, 'creating');
    const dead = recordOf('c2', 'creating', { createdAt: now, creator: { pid: deadPid(), host: os.hostname() } });
    const interrupted = mergeRecord(dead, machineOf(dead, 'running'));
    assert.equal(interrupted.state, 'error');
    assert.ok(isInterrupted(interrupted));
    assert.match(interrupted.problem!, /Creating box-c2 was interrupted; remove it with `sandbox rm box-c2`/);
  });

  it('trusts a creator on another machine until the create is stale', () => {
    const elsewhere = { pid: 1, host: `${os.hostname()}-other` };
    const fresh = recordOf('c3', 'creating', { createdAt: new Date().toISOString(), creator: elsewhere });
    assert.equal(mergeRecord(fresh, machineOf(fresh, 'running')).state, 'creating');
    const stale = recordOf('c4', 'creating', { createdAt: new Date(Date.now() - CREATE_STALE_MS - 1000).toISOString(), creator: elsewhere });
    assert.equal(mergeRecord(stale, machineOf(stale, 'running')).state, 'error');
  });
});

describe('records: missing machines', () => {
  it('marks a record lost when its machine is gone, forgetting its ports and SSH', () => {
    const record = recordOf('m1', 'running');
    const lost = markMissing(record, new FakeProvider());
    assert.equal(lost.state, 'lost');
    assert.deepEqual(lost.ports, {});
    assert.equal(lost.ssh, undefined);
    assert.match(lost.problem!, /The machine of box-m1 is gone .*`sandbox rm box-m1`/);
    assert.equal(markMissing(lost, new FakeProvider()), lost);
  });

  it('calls a machine whose host did not answer unknown (error), not gone', () => {
    const provider = new FakeProvider('ssh');
    const record = recordOf('m2', 'running');
    provider.unanswered.set(record.providerRef!, 'The host h1 did not answer.');
    const unknown = markMissing(record, provider);
    assert.equal(unknown.state, 'error');
    assert.equal(unknown.problem, 'The host h1 did not answer.');
    assert.equal(markMissing(unknown, provider), unknown);
  });
});

describe('records: finding by reference', () => {
  const records = [recordOf('abc111', 'running', { name: 'web' }), recordOf('abd222', 'running', { name: 'worker' })];

  it('finds by id, name, and unique prefix of either', () => {
    assert.equal(matchRecord(records, 'abc111')?.name, 'web');
    assert.equal(matchRecord(records, 'worker')?.id, 'abd222');
    assert.equal(matchRecord(records, 'abc')?.name, 'web');
    assert.equal(matchRecord(records, 'wor')?.id, 'abd222');
    assert.equal(matchRecord(records, 'zzz'), undefined);
  });

  it('refuses a prefix that names several', () => {
    assert.throws(
      () => matchRecord(records, 'ab'),
      (error) => isSandboxError(error, 'ambiguous') && /web, worker/.test(error.message),
    );
  });
});

describe('records: reconcile plan', () => {
  it('updates known records, marks the missing lost, adopts unknown machines, in creation order', () => {
    const provider = new FakeProvider();
    const kept = recordOf('k1', 'running', { createdAt: '2024-01-02T00:00:00.000Z' });
    const gone = recordOf('g1', 'running', { createdAt: '2024-01-01T00:00:00.000Z' });
    const elsewhere = { ...recordOf('s1', 'running'), provider: 'ssh' as const };
    const stranger = machineOf({ id: 'n1', name: 'box-n1', createdAt: '2024-01-03T00:00:00.000Z' }, 'running');
    const plan = planReconcile([kept, gone, elsewhere], [{ kind: 'docker', provider, sandboxes: [machineOf(kept, 'stopped'), stranger] }]);
    assert.deepEqual(
      plan.records.map((record) => record.id),
      ['g1', 'k1', 'n1'],
    );
    assert.deepEqual(plan.lost, ['box-g1']);
    assert.deepEqual(plan.adopted, ['box-n1']);
    assert.deepEqual(plan.interrupted, []);
    assert.deepEqual(
      plan.changed.map((record) => [record.id, record.state]),
      [
        ['k1', 'stopped'],
        ['g1', 'lost'],
      ],
    );
    assert.equal(plan.adoptedRecords[0]!.provider, 'docker');
    assert.equal(plan.adoptedRecords[0]!.state, 'running');
  });

  it('reports an interrupted create once, and changes nothing on a record already up to date', () => {
    const provider = new FakeProvider();
    const now = new Date().toISOString();
    const creating = recordOf('i1', 'creating', { createdAt: now, creator: { pid: deadPid(), host: os.hostname() } });
    const first = planReconcile([creating], [{ kind: 'docker', provider, sandboxes: [] }]);
    assert.deepEqual(first.interrupted, ['box-i1']);
    const again = planReconcile(first.records, [{ kind: 'docker', provider, sandboxes: [] }]);
    assert.deepEqual(again.interrupted, []);
    assert.deepEqual(again.changed, []);
  });
});
