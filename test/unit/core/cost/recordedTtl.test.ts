import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HOUR_MS } from '../../../../src/core/cost/billing';
import { addToRecordedTtl, recordedTtlOf } from '../../../../src/core/cost/recordedTtl';
import { DEFAULT_TTL_MS } from '../../../../src/core/cost/ttl';
import type { SandboxRecord } from '../../../../src/core/model';
import { StateStore } from '../../../../src/core/store/stateStore';

function cloudRecord(ttlMs?: number): SandboxRecord {
  return {
    id: 'ttl-1',
    name: 'long-job',
    agentId: 'default',
    provider: 'digitalocean',
    profile: { image: 'ubuntu-24-04-x64', cpus: 1, memory: 2 << 30, pids: 0, sudo: true },
    state: 'running',
    createdAt: new Date(0).toISOString(),
    updatedAt: new Date(0).toISOString(),
    workdir: '/home/agent/workspace',
    user: 'agent',
    ports: {},
    cloud: { region: 'nyc3', size: 's-1vcpu-2gb', usdPerHour: 0.02679, ttlMs },
  };
}

describe('the time-to-live kept on a cloud sandbox’s record (given again at a restore)', function () {
  let root: string;
  let store: StateStore;

  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'recorded-ttl-'));
    store = new StateStore(root);
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is the create’s time-to-live, or the default for a record made without one', function () {
    assert.equal(recordedTtlOf(cloudRecord(6 * HOUR_MS)), 6 * HOUR_MS);
    assert.equal(recordedTtlOf(cloudRecord()), DEFAULT_TTL_MS);
    assert.equal(recordedTtlOf({ cloud: undefined }), DEFAULT_TTL_MS);
  });

  it('grows by every extension, and leaves a sandbox without a cloud placement alone', async function () {
    await store.writeRecord(cloudRecord(6 * HOUR_MS));
    assert.equal(await addToRecordedTtl(store, 'ttl-1', HOUR_MS), true);
    assert.equal(await addToRecordedTtl(store, 'ttl-1', 30 * 60_000), true);
    assert.equal((await store.readRecord('ttl-1'))?.cloud?.ttlMs, 7.5 * HOUR_MS);
    await store.writeRecord({ ...cloudRecord(), id: 'docker-1', provider: 'docker', cloud: undefined });
    assert.equal(await addToRecordedTtl(store, 'docker-1', HOUR_MS), false);
    assert.equal((await store.readRecord('docker-1'))?.cloud, undefined);
    assert.equal(await addToRecordedTtl(store, 'gone', HOUR_MS), false);
  });

  it('keeps every extension when several are added at once', async function () {
    await store.writeRecord(cloudRecord(HOUR_MS));
    await Promise.all([1, 2, 3].map(() => addToRecordedTtl(store, 'ttl-1', HOUR_MS)));
    assert.equal((await store.readRecord('ttl-1'))?.cloud?.ttlMs, 4 * HOUR_MS);
  });
});
