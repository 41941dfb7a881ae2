/**
 * The stand-in's state with its machine hooks, on a clock the test moves: a droplet is `new` until
 * its machine answers, an action waits for its machine's work and errors when that fails, a
 * snapshot is the one its hook made, and deletes reach the machines.
 */
import * as assert from 'node:assert/strict';
import type { Droplet } from '../../../../src/core/providers/digitalocean/api/client';
import { StandInState, type PowerActionType } from '../../../doStandIn/state';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const SPEC = { name: 'sb-1', region: 'nyc3', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64', user_data: '#cloud-config\n' };

describe('stand-in DigitalOcean state with machine hooks', () => {
  let now: number;
  let boots: Array<{ droplet: Droplet; userData: string | undefined; done: Deferred<string> }>;
  let powers: Array<{ id: number; type: PowerActionType; done: Deferred<void> }>;
  let snapshots: Array<{ id: number; snapshotId: string; done: Deferred<void> }>;
  let deletedDroplets: number[];
  let deletedSnapshots: string[];
  let state: StandInState;

  beforeEach(() => {
    now = Date.parse('2026-12-06T00:00:00Z');
    boots = [];
    powers = [];
    snapshots = [];
    deletedDroplets = [];
    deletedSnapshots = [];
    state = new StandInState(
      { bootDelayMs: 1000, actionDelayMs: 1000 },
      {
        onDropletCreated: (droplet, userData) => {
          const done = deferred<string>();
          boots.push({ droplet, userData, done });
          return done.promise;
        },
        onDropletDeleted: async (droplet) => void deletedDroplets.push(droplet.id),
        onDropletPower: (droplet, type) => {
          const done = deferred<void>();
          powers.push({ id: droplet.id, type, done });
          return done.promise;
        },
        onDropletSnapshot: (droplet, snapshotId) => {
          const done = deferred<void>();
          snapshots.push({ id: droplet.id, snapshotId, done });
          return done.promise;
        },
        onSnapshotDeleted: async (snapshotId) => void deletedSnapshots.push(snapshotId),
      },
      () => now,
    );
  });

  async function activeDroplet(): Promise<Droplet> {
    const created = state.createDroplet(SPEC);
    boots.at(-1)!.done.resolve('127.0.1.7');
    await settle();
    now += 1000;
    assert.equal(state.droplet(created.id).status, 'active');
    return created;
  }

  it('keeps a droplet new, without an address, until its machine answers, then active on that address', async () => {
    const created = state.createDroplet(SPEC);
    assert.equal(boots.length, 1);
    assert.equal(boots[0]!.userData, SPEC.user_data);
    now += 5000;
    await settle();
    assert.equal(state.droplet(created.id).status, 'new');
    assert.deepEqual(state.droplet(created.id).networks.v4, []);
    assert.equal(state.createActionOf(created.id)?.status, 'in-progress');
    boots[0]!.done.resolve('127.0.1.7');
    await settle();
    const droplet = state.droplet(created.id);
    assert.equal(droplet.status, 'active');
    assert.equal(droplet.networks.v4?.[0]?.ip_address, '127.0.1.7');
    assert.equal(state.action(state.createActionOf(created.id)!.id!).status, 'completed');
  });

  it('leaves a droplet whose machine never boots new, its create action errored', async () => {
    const created = state.createDroplet(SPEC);
    boots[0]!.done.reject(new Error('no sshd'));
    await settle();
    now += 5000;
    assert.equal(state.droplet(created.id).status, 'new');
    assert.equal(state.action(state.createActionOf(created.id)!.id!).status, 'errored');
  });

  it('completes a power action only once the machine has done it, and errors it when the machine fails', async () => {
    const droplet = await activeDroplet();
    const off = state.startDropletAction(droplet.id, { type: 'power_off' });
    assert.deepEqual(
      powers.map(({ id, type }) => [id, type]),
      [[droplet.id, 'power_off']],
    );
    now += 5000;
    assert.equal(state.action(off.id!).status, 'in-progress');
    assert.equal(state.droplet(droplet.id).status, 'active');
    powers[0]!.done.resolve();
    await settle();
    assert.equal(state.action(off.id!).status, 'completed');
    assert.equal(state.droplet(droplet.id).status, 'off');
    assert.equal(state.droplet(droplet.id).locked, false);

    const on = state.startDropletAction(droplet.id, { type: 'power_on' });
    powers[1]!.done.reject(new Error('no sshd'));
    await settle();
    now += 1000;
    assert.equal(state.action(on.id!).status, 'errored');
    assert.equal(state.droplet(droplet.id).status, 'off');
  });

  it('records the snapshot its hook made, under the id the hook was given, and boots a create from it', async () => {
    const droplet = await activeDroplet();
    const action = state.startDropletAction(droplet.id, { type: 'snapshot', name: 'sb-recipe-1' });
    assert.equal(snapshots.length, 1);
    const { snapshotId } = snapshots[0]!;
    now += 1000;
    assert.deepEqual(state.snapshots(), [], 'no snapshot before the machine is committed');
    snapshots[0]!.done.resolve();
    await settle();
    assert.equal(state.action(action.id!).status, 'completed');
    assert.deepEqual(
      state.snapshots().map((snapshot) => [snapshot.id, snapshot.name]),
      [[snapshotId, 'sb-recipe-1']],
    );

    state.createDroplet({ ...SPEC, name: 'sb-2', image: Number(snapshotId) });
    assert.equal(boots.at(-1)!.droplet.image.type, 'snapshot');
    assert.equal(boots.at(-1)!.droplet.image.id, Number(snapshotId));

    state.deleteImage(snapshotId);
    state.deleteDroplet(droplet.id);
    await settle();
    assert.deepEqual(deletedSnapshots, [snapshotId]);
    assert.deepEqual(deletedDroplets, [droplet.id]);
  });

  it('takes both Ubuntu images a sandbox may ask for', () => {
    for (const image of ['ubuntu-24-04-x64', 'ubuntu-22-04-x64']) {
      assert.equal(state.createDroplet({ ...SPEC, image }).image.slug, image);
    }
  });
});
