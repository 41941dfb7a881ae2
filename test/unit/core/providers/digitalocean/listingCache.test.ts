import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ListingCache, LISTING_REUSE_MS, RecordsFingerprint } from '../../../../../src/core/providers/digitalocean/listingCache';
import { DigitalOceanProvider } from '../../../../../src/core/providers/digitalocean/provider';
import { StateStore } from '../../../../../src/core/store/stateStore';
import { DigitalOceanStandIn } from '../../../../doStandIn/server';

describe('DigitalOcean listing cache: the scheduler’s looks cost a handful of listings', function () {
  let root: string;
  let dir: string;
  let now: number;
  let listings: number;
  let failNext: boolean;
  let cache: ListingCache<string[]>;

  /** As the state store writes a record: a new file renamed over the old. */
  const writeRecord = (id: string, provider: string, state: string) => {
    const temp = path.join(dir, `.${id}.tmp`);
    writeFileSync(temp, JSON.stringify({ id, name: id, provider, state }));
    renameSync(temp, path.join(dir, `${id}.json`));
  };
  const look = () =>
    cache.read('owner-1', async () => {
      listings++;
      if (failNext) {
        failNext = false;
        throw new Error('the API is down');
      }
      return [`listing ${listings}`];
    });

  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'listing-cache-'));
    dir = path.join(root, 'sandboxes');
    mkdirSync(dir);
    now = Date.UTC(2026, 11, 6, 9);
    listings = 0;
    failNext = false;
    const records = new RecordsFingerprint(dir, (record) => record.provider === 'digitalocean');
    cache = new ListingCache({ clock: () => now, fingerprint: () => records.read() });
    writeRecord('cloud-1', 'digitalocean', 'running');
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('lists four times for 200 looks a minute while nothing changes', async function () {
    for (let i = 0; i < 200; i++) {
      await look();
      now += 300;
    }
    assert.equal(listings, Math.ceil(60_000 / LISTING_REUSE_MS));
  });

  it('shares a listing under way between looks made at once', async function () {
    await Promise.all(Array.from({ length: 10 }, () => look()));
    assert.equal(listings, 1);
  });

  it('lists afresh at once when a record of ours is written or removed by anyone, not for another provider’s', async function () {
    await look();
    writeRecord('docker-1', 'docker', 'running');
    await look();
    assert.equal(listings, 1, 'a Docker record is not ours');
    writeRecord('cloud-1', 'digitalocean', 'stopped');
    assert.deepEqual(await look(), ['listing 2']);
    writeRecord('cloud-2', 'digitalocean', 'creating');
    await look();
    rmSync(path.join(dir, 'cloud-2.json'));
    await look();
    assert.equal(listings, 4);
  });

  it('lists afresh after this process changed a droplet', async function () {
    await look();
    cache.invalidate();
    await look();
    assert.equal(listings, 2);
  });

  it('never reuses a failed listing', async function () {
    failNext = true;
    await assert.rejects(look(), /the API is down/);
    assert.deepEqual(await look(), ['listing 2']);
    assert.deepEqual(await look(), ['listing 2']);
  });
});

describe('DigitalOcean provider listings against the stand-in’s API', function () {
  const TOKEN = `dop_v1_${'b'.repeat(64)}`;
  let standIn: DigitalOceanStandIn;
  let root: string;

  beforeEach(() => {
    standIn = new DigitalOceanStandIn({ tokens: [TOKEN], bootDelayMs: 0, actionDelayMs: 0 });
    root = mkdtempSync(path.join(os.tmpdir(), 'listing-provider-'));
  });

  afterEach(async () => {
    await standIn.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('asks the API for a handful of listings when the scheduler looks 200 times a minute, and afresh for a strict one', async function () {
    let now = Date.UTC(2026, 11, 6, 9);
    const env = { DIGITALOCEAN_TOKEN: TOKEN, AGENT_SANDBOXES_DIGITALOCEAN_URL: await standIn.listen() };
    const provider = new DigitalOceanProvider({ stateRoot: root, env, clock: () => now });
    const owner = await new StateStore(root).ownerId();
    const listings = () => standIn.requests.filter((line) => line.startsWith('GET /v2/droplets?tag_name=')).length;
    try {
      for (let i = 0; i < 200; i++) {
        await provider.list(owner);
        now += 300;
      }
      assert.equal(listings(), 4);
      await provider.list(owner, { strict: true });
      assert.equal(listings(), 5);
    } finally {
      provider.dispose();
    }
  });
});
