import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CostLedger } from '../../../../../src/core/cost/ledger';
import { DigitalOceanClient } from '../../../../../src/core/providers/digitalocean/api/client';
import { ensureHibernationSnapshot } from '../../../../../src/core/providers/digitalocean/hibernationSnapshot';
import { DigitalOceanStandIn } from '../../../../doStandIn/server';

const TOKEN = `dop_v1_${'a'.repeat(64)}`;
const NAME = 'agent-sandboxes-hibernated-owner-sandbox';

/** The hibernation snapshot against the stand-in's API (no droplet machines: snapshots are bookkeeping here). */
describe('DigitalOcean hibernation snapshot: one per droplet, however often a hibernation is tried', function () {
  this.timeout(30_000);
  let standIn: DigitalOceanStandIn;
  let client: DigitalOceanClient;
  let root: string;
  let ledger: CostLedger;
  let dropletId: number;

  const ours = () => standIn.state.snapshots().filter((snapshot) => snapshot.name === NAME);

  async function snapshotNow(): Promise<number> {
    const action = await client.snapshotDroplet(dropletId, NAME);
    return action.id!;
  }

  beforeEach(async () => {
    standIn = new DigitalOceanStandIn({ tokens: [TOKEN], bootDelayMs: 0, actionDelayMs: 300 });
    client = new DigitalOceanClient({ token: TOKEN, baseUrl: await standIn.listen(), retry: { baseBackoffMs: 10, maxBackoffMs: 50 } });
    root = mkdtempSync(path.join(os.tmpdir(), 'hibernation-snapshot-'));
    ledger = new CostLedger(root, Date.now);
    dropletId = standIn.state.createDroplet({ name: 'sb-1', region: 'nyc3', size: 's-1vcpu-2gb', image: 'ubuntu-24-04-x64', tags: ['agent-sandboxes'] }).id;
  });

  afterEach(async () => {
    await standIn.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('makes the snapshot when there is none', async () => {
    const snapshot = await ensureHibernationSnapshot(client, ledger, { dropletId, dropletName: 'sb-1', name: NAME });
    assert.deepEqual(
      ours().map((candidate) => candidate.id),
      [snapshot.id],
    );
  });

  it('waits for a snapshot still under way and keeps it, instead of making a second', async () => {
    await snapshotNow();
    const snapshot = await ensureHibernationSnapshot(client, ledger, { dropletId, dropletName: 'sb-1', name: NAME });
    assert.deepEqual(
      ours().map((candidate) => candidate.id),
      [snapshot.id],
    );
    assert.equal(
      standIn.requests.filter((line) => line.startsWith('POST /v2/droplets/') && line.includes('/actions')).length,
      1,
      'no second snapshot was asked for',
    );
  });

  it('reuses the newest finished snapshot of that name, and deletes duplicates with their ledger entries', async () => {
    await client.waitForAction(await snapshotNow(), 10_000);
    await client.waitForAction(await snapshotNow(), 10_000);
    const [first, second] = ours();
    await ledger.storeSnapshot({ id: first!.id, sandbox: 'sb-1', gb: 1.42, usdPerGbMonth: 0.06 });
    const kept = await ensureHibernationSnapshot(client, ledger, { dropletId, dropletName: 'sb-1', name: NAME });
    assert.equal(kept.id, second!.id, 'the newest is kept');
    assert.deepEqual(
      ours().map((candidate) => candidate.id),
      [second!.id],
    );
    assert.deepEqual((await ledger.load()).storedSnapshots(), [], 'the duplicate no longer costs');
  });

  it('makes a new snapshot when the droplet ran after the one of that name (a failed hibernation, then a start)', async () => {
    await client.waitForAction(await snapshotNow(), 10_000);
    const [stale] = ours();
    await ledger.storeSnapshot({ id: stale!.id, sandbox: 'sb-1', gb: 1.42, usdPerGbMonth: 0.06 });
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the API's times are in whole seconds
    await client.waitForAction((await client.powerAction(dropletId, 'power_on')).id!, 10_000);
    const kept = await ensureHibernationSnapshot(client, ledger, { dropletId, dropletName: 'sb-1', name: NAME });
    assert.notEqual(kept.id, stale!.id, 'what the agent did since the old snapshot is in the new one');
    assert.deepEqual(
      ours().map((candidate) => candidate.id),
      [kept.id],
    );
    assert.deepEqual((await ledger.load()).storedSnapshots(), [], 'the stale snapshot no longer costs');
  });
});
