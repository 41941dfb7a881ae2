import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxController } from '../../../../src/core/controller';
import { HOUR_MS } from '../../../../src/core/cost/billing';
import { CostEnforcer } from '../../../../src/core/cost/enforcer';
import { CostLedger } from '../../../../src/core/cost/ledger';
import { SandboxError, isSandboxError } from '../../../../src/core/errors';
import type { CreatePlan, CreateRequest, CreateSpec, ListOptions, ProviderSandbox } from '../../../../src/core/providers/provider';
import { StateStore } from '../../../../src/core/store/stateStore';
import { FakeProvider } from '../fakeProvider';

const DOWN = "DigitalOcean's API is failing (HTTP 503); try again in a few minutes.";

/** A cloud whose API goes down as a droplet is asked for: the create is priced first, as the DigitalOcean provider does. */
class FlakyCloud extends FakeProvider {
  down = false;

  constructor(private readonly ledger: CostLedger) {
    super('digitalocean');
  }

  async prepareCreate(request: CreateRequest): Promise<CreatePlan> {
    return { profile: request.profile, sandboxKeys: false };
  }

  override async create(spec: CreateSpec): Promise<ProviderSandbox> {
    await this.ledger.openMachine({ sandbox: spec.name, provider: 'digitalocean', size: 's-1vcpu-2gb', usdPerHour: 0.02679, ttlMs: 2 * HOUR_MS });
    this.down = true;
    throw new SandboxError('provider-error', DOWN);
  }

  override async list(ownerId: string, options: ListOptions = {}): Promise<ProviderSandbox[]> {
    if (!this.down) return super.list(ownerId);
    if (options.strict) throw new SandboxError('provider-error', DOWN);
    return [];
  }
}

describe('a failed create whose cleanup cannot reach the cloud', function () {
  let dir: string;
  let store: StateStore;
  let ledger: CostLedger;
  let cloud: FlakyCloud;
  let controller: SandboxController;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'failed-create-'));
    store = new StateStore(dir);
    ledger = new CostLedger(dir, Date.now);
    cloud = new FlakyCloud(ledger);
    controller = new SandboxController({ store, providers: { digitalocean: cloud } });
  });

  afterEach(() => {
    controller.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the record as a failed create, says so truthfully, and the daemon’s check destroys it once the API answers', async () => {
    await assert.rejects(controller.create({ provider: 'digitalocean', name: 'cloud-fail' }), (error: Error) => {
      assert.ok(isSandboxError(error, 'provider-error'), String(error));
      assert.equal(
        error.message,
        `${DOWN} Creating cloud-fail failed and whether it made a machine could not be checked; it stays priced, is listed as a failed create, and the daemon destroys it at its next check.`,
      );
      assert.doesNotMatch(error.message, /was removed/);
      return true;
    });
    const kept = (await store.listRecords()).find((record) => record.name === 'cloud-fail');
    assert.equal(kept?.state, 'error', 'a failed listing was not taken for an empty one');
    assert.ok((await ledger.load()).openMachineOf('cloud-fail'), 'still priced');

    cloud.down = false;
    const report = await new CostEnforcer({ controller, stateRoot: dir, log: () => undefined, isBusy: async () => false }).check();
    assert.deepEqual(report.failedCreates, ['cloud-fail']);
    assert.equal((await store.listRecords()).length, 0);
  });

  it('removes the record of a failed create whose cleanup could look, with the create’s own error', async () => {
    cloud.create = async () => {
      throw new SandboxError('provider-error', DOWN);
    };
    await assert.rejects(controller.create({ provider: 'digitalocean', name: 'cloud-blip' }), (error: Error) => error.message === DOWN);
    assert.deepEqual(await store.listRecords(), []);
  });
});
