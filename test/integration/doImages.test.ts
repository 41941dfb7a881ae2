import * as assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxController } from '../../src/core/controller';
import { loadRecipe } from '../../src/core/images/recipe';
import { DigitalOceanProvider } from '../../src/core/providers/digitalocean/provider';
import { imageSnapshotName } from '../../src/core/providers/digitalocean/imageSnapshots';
import { StateStore } from '../../src/core/store/stateStore';
import { startCloud, type StandInCloud } from '../doStandIn/harness';

/**
 * Images as snapshots against the stand-in: a builder droplet (a real container booted by
 * cloud-init) is cleaned, snapshotted under the recipe-hash name and destroyed; creates then boot
 * from that snapshot with their own keys.
 */
describe('DigitalOcean image snapshots against the stand-in (integration)', function () {
  this.timeout(900_000);
  let cloud: StandInCloud;
  let stateDir: string;
  let controller: SandboxController;
  let provider: DigitalOceanProvider;
  const name = imageSnapshotName('ubuntu-24-04', loadRecipe().hash);
  const figures: Record<string, number> = {};

  before(async () => {
    cloud = await startCloud({ bootDroplets: true, bootDelayMs: 500, actionDelayMs: 500 });
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'do-images-'));
    // Nothing here should keep a warm pool if a daemon starts.
    writeFileSync(path.join(stateDir, 'tasks.json'), JSON.stringify({ pools: { default: { size: 0 } } }));
    const env = { DIGITALOCEAN_TOKEN: cloud.token, AGENT_SANDBOXES_DIGITALOCEAN_URL: cloud.apiUrl };
    provider = new DigitalOceanProvider({ stateRoot: stateDir, env, fetch: cloud.fetch, timing: { pollMs: 250, maxPollMs: 1000, bootTimeoutMs: 180_000 } });
    controller = new SandboxController({ store: new StateStore(stateDir), providers: { digitalocean: provider } });
  });

  afterEach(() => assert.deepEqual(cloud.contractViolations, []));

  after(async () => {
    controller?.dispose();
    await cloud?.close();
    if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('builds the image snapshot under the recipe-hash name and leaves no builder behind', async () => {
    const steps: string[] = [];
    const began = Date.now();
    const result = await controller.buildImage({ provider: 'digitalocean', onProgress: (p) => steps.push(p.message ?? '') });
    figures.buildMs = Date.now() - began;
    assert.equal(result.built, true);
    assert.equal(result.tag, name);
    const listed = await controller.listImages('digitalocean');
    assert.deepEqual(
      listed.map((image) => [image.name, image.current]),
      [[name, true]],
    );
    assert.ok(listed[0]!.sizeGb > 0 && listed[0]!.createdAt);
    assert.equal(cloud.standIn.state.droplets({}).length, 0, 'the builder droplet is destroyed');
    const book = await provider.ledger.load();
    assert.deepEqual(book.openMachines(), [], 'no ledger entry is left open');
    assert.ok(book.snapshots.has(listed[0]!.id), "the snapshot's storage is in the ledger");
    for (const step of ['Booting', 'cloud-init', 'Cleaning', 'Shutting', 'snapshot', 'Destroying']) {
      assert.ok(
        steps.some((line) => line.includes(step)),
        `a progress line for "${step}" in ${JSON.stringify(steps)}`,
      );
    }
  });

  it('a second build without --force makes nothing', async () => {
    const requests = cloud.standIn.requests.length;
    const result = await controller.buildImage({ provider: 'digitalocean' });
    assert.equal(result.built, false);
    assert.equal(result.tag, name);
    assert.ok(!cloud.standIn.requests.slice(requests).some((request) => request.startsWith('POST')), 'no create and no action');
  });

  it('a create boots from the snapshot, with its own pinned host key and client key', async () => {
    const [image] = await controller.listImages('digitalocean');
    let began = Date.now();
    const sandbox = await controller.create({ provider: 'digitalocean', name: 'do-from-image', cloud: { region: 'nyc3' } });
    figures.createFromImageMs = Date.now() - began;
    const droplet = cloud.standIn.state.droplets({}).find((candidate) => candidate.name === 'do-from-image')!;
    assert.equal(String(droplet.image.id), image!.id, 'the droplet was made from the image snapshot');
    const whoami = await controller.exec('do-from-image', { command: ['id', '-un'] });
    assert.equal(whoami.exitCode, 0, whoami.stderr);
    assert.equal(whoami.stdout.trim(), sandbox.user);
    const keys = await controller.exec('do-from-image', { command: ['sh', '-c', 'wc -l < ~/.ssh/authorized_keys'] });
    assert.equal(keys.stdout.trim(), '1', "only the sandbox's own client key logs in (the builder's is not in the image)");

    // The same create in a region the snapshot is not in boots the base image.
    began = Date.now();
    await controller.create({ provider: 'digitalocean', name: 'do-from-base', cloud: { region: 'fra1' } });
    figures.createFromBaseMs = Date.now() - began;
    const base = cloud.standIn.state.droplets({}).find((candidate) => candidate.name === 'do-from-base')!;
    assert.equal(base.image.slug, 'ubuntu-24-04-x64');
    await controller.delete('do-from-base');
  });

  it('prune removes only the snapshots of an older recipe', async () => {
    const client = await provider.client();
    const droplet = cloud.standIn.state.droplets({}).find((candidate) => candidate.name === 'do-from-image')!;
    const oldName = imageSnapshotName('ubuntu-24-04', '0000000000000000');
    const action = await client.snapshotDroplet(droplet.id, oldName);
    await client.waitForAction(action.id!, 300_000);
    assert.deepEqual(
      (await controller.listImages('digitalocean')).map((image) => [image.name, image.current]).sort(),
      [
        [name, true],
        [oldName, false],
      ].sort(),
    );
    const removed = await controller.pruneImages('digitalocean');
    assert.deepEqual(
      removed.map((image) => image.name),
      [oldName],
    );
    assert.deepEqual(
      (await controller.listImages('digitalocean')).map((image) => image.name),
      [name],
    );
    await controller.delete('do-from-image');
    console.log(`      figures: ${JSON.stringify(figures)}`);
  });
});
