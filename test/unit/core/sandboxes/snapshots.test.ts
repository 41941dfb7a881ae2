import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxError, isSandboxError } from '../../../../src/core/errors';
import { EventBus } from '../../../../src/core/events/bus';
import type { BusEvent } from '../../../../src/core/events/types';
import type { SandboxRecord } from '../../../../src/core/model';
import type { SnapshotInfo, SnapshotRequest } from '../../../../src/core/providers/provider';
import { ProviderSet } from '../../../../src/core/providers/registry';
import { SandboxSnapshots } from '../../../../src/core/sandboxes/snapshots';
import type { CreateOptions } from '../../../../src/core/sandboxes/types';
import { StateStore } from '../../../../src/core/store/stateStore';
import { FakeProvider, machineOf, recordOf } from '../fakeProvider';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The fake provider, with snapshots kept in a map by name. */
class SnapshottingProvider extends FakeProvider {
  readonly snapshots = new Map<string, SnapshotInfo>();

  async snapshot(ref: string, request: SnapshotRequest): Promise<SnapshotInfo> {
    const machine = this.machines.get(ref);
    if (!machine) throw new Error(`No machine ${ref}.`);
    const info: SnapshotInfo = {
      name: request.name,
      provider: this.kind,
      providerRef: `snapshot:${request.name}`,
      image: `snapshot:${request.name}`,
      origin: { id: machine.id, name: machine.name },
      profile: machine.profile,
      user: machine.user,
      workdir: machine.workdir,
      createdAt: new Date().toISOString(),
      ...(request.note ? { note: request.note } : {}),
    };
    this.snapshots.set(info.name, info);
    return info;
  }

  async listSnapshots(): Promise<SnapshotInfo[]> {
    return [...this.snapshots.values()];
  }

  async removeSnapshot(providerRef: string): Promise<void> {
    for (const [name, info] of this.snapshots) if (info.providerRef === providerRef) this.snapshots.delete(name);
  }

  /** A snapshot taken `ageDays` ago. */
  add(name: string, ageDays: number, now: number): void {
    const createdAt = new Date(now - ageDays * DAY_MS).toISOString();
    const profile = { image: 'sandbox:test', cpus: 2, memory: 1024, pids: 64, sudo: false };
    this.snapshots.set(name, {
      name,
      provider: 'docker',
      providerRef: `snapshot:${name}`,
      image: `snapshot:${name}`,
      origin: { id: 'o', name: 'o' },
      profile,
      user: 'agent',
      workdir: '/w',
      createdAt,
    });
  }
}

describe('snapshots over a fake provider', () => {
  let dir: string;
  let store: StateStore;
  let provider: SnapshottingProvider;
  let origin: SandboxRecord;
  let created: CreateOptions[];
  let failCreate: (options: CreateOptions) => boolean;
  let published: BusEvent[];
  let snapshots: SandboxSnapshots;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'snapshots-test-'));
    store = new StateStore(dir);
    provider = new SnapshottingProvider();
    origin = recordOf('a1b2c3', 'running', { name: 'web' });
    provider.machines.set(origin.providerRef!, machineOf(origin, 'running'));
    await store.writeRecord(origin);
    created = [];
    failCreate = () => false;
    published = [];
    const events = new EventBus();
    events.onAny((event) => void published.push(event));
    snapshots = new SandboxSnapshots({
      store,
      providers: new ProviderSet({ docker: provider }, dir),
      events,
      resolve: async (ref) => {
        if (ref !== origin.name && ref !== origin.id) throw new SandboxError('not-found', `No sandbox ${ref}.`);
        return origin;
      },
      create: async (options) => {
        created.push(options);
        if (failCreate(options)) throw new SandboxError('resource-limit', 'No room.');
        return recordOf(options.name!.slice(-6), 'running', { name: options.name!, profile: options.profile as SandboxRecord['profile'] });
      },
    });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names a snapshot after its sandbox and the time, tells the bus, and refuses a name taken or not valid', async () => {
    const snapshot = await snapshots.snapshot('web');
    assert.match(snapshot.name, /^web-\d{8}-\d{6}$/);
    assert.deepEqual(
      published.map((event) => event.type),
      ['sandbox.snapshotted'],
    );
    await assert.rejects(snapshots.snapshot('web', { name: snapshot.name }), (error) => isSandboxError(error, 'conflict'));
    await assert.rejects(snapshots.snapshot('web', { name: 'Web_1' }), (error) => isSandboxError(error, 'invalid-input'));
    await assert.rejects(snapshots.snapshot('web', { name: 'x'.repeat(64) }), (error) => isSandboxError(error, 'invalid-input'));
    assert.equal((await snapshots.snapshot('web', { name: 'x'.repeat(63) })).name.length, 63);
  });

  it('starts from a snapshot with its image and profile, options overriding, never another image', async () => {
    await snapshots.snapshot('web', { name: 'base' });
    await snapshots.create({ name: 'copy', fromSnapshot: 'base', profile: { cpus: 1, memory: undefined } });
    assert.equal(created.length, 1);
    assert.deepEqual(created[0]!.profile, { ...origin.profile, cpus: 1, image: 'snapshot:base' });
    assert.equal(created[0]!.fromSnapshot, 'base');
    assert.equal(created[0]!.provider, 'docker');
    await assert.rejects(snapshots.create({ fromSnapshot: 'base', profile: { image: 'other' } }), /leave out --image/);
    await assert.rejects(snapshots.create({ fromSnapshot: 'base', provider: 'ssh' }), /leave out --provider/);
    await assert.rejects(snapshots.create({ fromSnapshot: 'gone' }), (error) => isSandboxError(error, 'not-found'));
  });

  it('prunes outside the newest N and older than D days, keeping snapshots in use', async () => {
    const now = Date.now();
    provider.add('s-old', 30, now);
    provider.add('s-used', 20, now);
    provider.add('s-mid', 10, now);
    provider.add('s-new', 1, now);
    await store.writeRecord(recordOf('d4e5f6', 'running', { name: 'copy', profile: { ...origin.profile, image: 'snapshot:s-used' } }));
    await assert.rejects(snapshots.prune({}, now), (error) => isSandboxError(error, 'invalid-input'));
    await assert.rejects(snapshots.prune({ keep: -1 }, now), (error) => isSandboxError(error, 'invalid-input'));

    const byAge = await snapshots.prune({ keep: 1, maxAgeDays: 15 }, now);
    assert.deepEqual(
      byAge.removed.map((entry) => entry.name),
      ['s-old'],
    );
    assert.deepEqual(
      byAge.inUse.map((entry) => [entry.name, entry.usedBy]),
      [['s-used', ['copy']]],
    );
    const byCount = await snapshots.prune({ keep: 1 }, now);
    assert.deepEqual(
      byCount.removed.map((entry) => entry.name),
      ['s-mid'],
    );
    assert.deepEqual(
      (await snapshots.list()).map((entry) => entry.name),
      ['s-used', 's-new'],
    );
    await assert.rejects(snapshots.remove('s-used'), (error) => isSandboxError(error, 'wrong-state') && /remove that sandbox first/.test(error.message));
  });

  it("leaves a snapshot someone still holds (a running task's starting point), listed as in use", async () => {
    const now = Date.now();
    provider.add('task-t1-1-base', 30, now);
    provider.add('s-old', 30, now);
    const pruned = await snapshots.prune({ keep: 0, heldBy: (name) => (name === 'task-t1-1-base' ? 'task t1' : undefined) }, now);
    assert.deepEqual(
      pruned.removed.map((entry) => entry.name),
      ['s-old'],
    );
    assert.deepEqual(
      pruned.inUse.map((entry) => [entry.name, entry.usedBy]),
      [['task-t1-1-base', ['task t1']]],
    );
  });

  it('forks: one snapshot, then each sandbox from it, reporting the ones that failed', async () => {
    let calls = 0;
    failCreate = () => ++calls === 2;
    const result = await snapshots.fork('web', { count: 3 });
    assert.match(result.snapshot.name, /^web-fork-\d{8}-\d{6}$/);
    assert.equal(created.length, 3);
    for (const options of created) {
      assert.equal(options.fromSnapshot, result.snapshot.name);
      assert.match(options.name!, /^web-[0-9a-f]{6}$/);
      assert.equal(options.agentId, origin.agentId);
    }
    assert.equal(new Set(created.map((options) => options.name)).size, 3, 'distinct names');
    assert.equal(result.sandboxes.length, 2);
    assert.deepEqual(
      result.failures.map((failure) => failure.code),
      ['resource-limit'],
    );
    await assert.rejects(snapshots.fork('web', { count: 0 }), (error) => isSandboxError(error, 'invalid-input'));
    await assert.rejects(snapshots.fork('web', { count: 21 }), (error) => isSandboxError(error, 'invalid-input'));
  });

  it('cuts a long origin name so every fork is a valid sandbox name', async () => {
    const long = 'a'.repeat(38) + '-b';
    origin = { ...origin, name: long };
    const result = await snapshots.fork(long, { count: 1 });
    assert.ok(result.snapshot.name.length <= 63);
    assert.ok(created[0]!.name!.length <= 40, created[0]!.name);
    assert.match(created[0]!.name!, /^a+-[0-9a-f]{6}$/);
  });
});
