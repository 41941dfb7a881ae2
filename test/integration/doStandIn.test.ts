import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { DigitalOceanClient, type Droplet } from '../../src/core/providers/digitalocean/api/client';
import { isDigitalOceanError } from '../../src/core/providers/digitalocean/api/errors';
import { startPrism, stopPrism, violationsOf } from '../doStandIn/prism';
import { DigitalOceanStandIn } from '../doStandIn/server';

// The client drives the stateful stand-in through Prism in proxy mode with --errors: Prism refuses requests
// that break DigitalOcean's spec and answers 500 when the stand-in's answer breaks it, with the broken rules
// in `sl-violations`; any such header fails the test, so neither the client nor the stand-in can drift.
const TOKEN = 'dop_v1_standin00000000000000000000000000000000000000000000000000000';
const TAG = 'agent-sandboxes';
const BOOT_DELAY_MS = 800;
const ACTION_DELAY_MS = 800;

interface Exchange {
  method: string;
  url: string;
  status: number;
  violations: string | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function failureOf(pending: Promise<unknown>): Promise<unknown> {
  return pending.then(
    () => assert.fail('the call succeeded'),
    (failure: unknown) => failure,
  );
}

describe('DigitalOcean client against the stateful stand-in, behind DigitalOcean’s contract (Prism proxy)', function () {
  this.timeout(60_000);
  let prism: ChildProcess | undefined;
  let standIn: DigitalOceanStandIn;
  let standInUrl: string;
  let baseUrl: string;
  let client: DigitalOceanClient;
  const exchanges: Exchange[] = [];
  const bootedWith = new Map<number, string | undefined>();
  const removedMachines: number[] = [];

  const recordingFetch = async (request: Request): Promise<Response> => {
    const response = await fetch(request);
    exchanges.push({ method: request.method, url: request.url.replace(baseUrl, ''), status: response.status, violations: await violationsOf(response) });
    return response;
  };

  function newClient(token = TOKEN): DigitalOceanClient {
    return new DigitalOceanClient({ token, baseUrl, fetch: recordingFetch, retry: { baseBackoffMs: 10, maxBackoffMs: 50 } });
  }

  function assertNoViolation(): void {
    const broken = exchanges.filter((exchange) => exchange.violations !== null);
    assert.deepEqual(broken, [], 'requests or answers broke DigitalOcean’s contract');
    assert.deepEqual(standIn.internalErrors, [], 'the stand-in failed');
  }

  async function untilActive(id: number): Promise<Droplet> {
    for (let polls = 0; polls < 40; polls++) {
      const droplet = await client.droplet(id);
      if (droplet.status === 'active' && droplet.networks.v4?.length) return droplet;
      await sleep(200);
    }
    assert.fail(`droplet ${id} never became active`);
  }

  before(async function () {
    let host = 0;
    standIn = new DigitalOceanStandIn({
      tokens: [TOKEN],
      bootDelayMs: BOOT_DELAY_MS,
      actionDelayMs: ACTION_DELAY_MS,
      onDropletCreated: async (droplet, userData) => {
        bootedWith.set(droplet.id, userData);
        return `127.0.1.${++host}`;
      },
      onDropletDeleted: async (droplet) => {
        removedMachines.push(droplet.id);
      },
    });
    standInUrl = await standIn.listen();
    ({ prism, url: baseUrl } = await startPrism({ proxy: standInUrl }));
    client = newClient();
  });

  after(async () => {
    // Stopped by its own pid, the one child this test started.
    await stopPrism(prism);
    await standIn?.close();
  });

  beforeEach(() => {
    exchanges.length = 0;
  });

  afterEach(assertNoViolation);

  it('reads the account, the balance, the sizes with prices and a GPU, and the regions', async () => {
    assert.ok((await client.account()).uuid);
    assert.equal((await client.balance()).month_to_date_usage, '0.00');
    const sizes = await client.sizes();
    assert.ok(sizes.every((size) => size.price_hourly > 0 && size.price_monthly > 0));
    assert.equal(sizes.find((size) => size.gpu_info?.count)?.slug, 'gpu-h100x1-80gb');
    assert.ok((await client.regions()).some((region) => region.slug === 'nyc3' && region.sizes.includes('gpu-h100x1-80gb')));
  });

  it('creates a droplet with tags and user data, waits until active, powers it off, snapshots it and deletes both', async () => {
    const userData = '#cloud-config\nssh_pwauth: false\n';
    const created = await client.createDroplet({
      name: 'sb-lifecycle-1',
      region: 'nyc3',
      size: 's-1vcpu-1gb',
      image: 'ubuntu-24-04-x64',
      tags: [TAG, `${TAG}-sb-1`],
      userData,
    });
    assert.equal(created.status, 'new');
    assert.deepEqual(created.networks.v4, []);
    assert.equal(bootedWith.get(created.id), userData);

    const active = await untilActive(created.id);
    const createAction = standIn.state.createActionOf(created.id);
    assert.equal((await client.action(createAction!.id!)).status, 'completed');
    assert.match(active.networks.v4?.[0]?.ip_address ?? '', /^127\.0\.1\.\d+$/);
    assert.deepEqual(
      (await client.dropletsByTag(`${TAG}-sb-1`)).map((droplet) => droplet.id),
      [created.id],
    );

    const powerOff = await client.powerAction(created.id, 'power_off');
    assert.equal(powerOff.status, 'in-progress');
    assert.equal((await client.waitForAction(powerOff.id!, 20_000)).status, 'completed');
    assert.equal((await client.droplet(created.id)).status, 'off');

    const snapshotAction = await client.snapshotDroplet(created.id, 'agent-sandboxes-recipe-0001');
    assert.equal(snapshotAction.status, 'in-progress');
    assert.equal((await client.waitForAction(snapshotAction.id!, 20_000)).status, 'completed');
    const snapshot = (await client.dropletSnapshots()).find((candidate) => candidate.name === 'agent-sandboxes-recipe-0001');
    assert.ok(snapshot, 'the snapshot is listed');
    assert.equal(snapshot.resource_id, String(created.id));
    assert.ok((await client.images('private')).some((image) => image.id === Number(snapshot.id)));

    await client.deleteSnapshot(snapshot.id);
    await client.deleteDroplet(created.id);
    assert.deepEqual(await client.dropletSnapshots(), []);
    const gone = await failureOf(client.droplet(created.id));
    assert.ok(isDigitalOceanError(gone, 'not-found'), String(gone));
    assert.equal(standIn.state.dropletCount, 0);
    assert.deepEqual(removedMachines, [created.id]);
  });

  it('lists a GPU droplet of a tag although the API lists GPU droplets only on their own', async () => {
    const gpu = await client.createDroplet({ name: 'sb-gpu-1', region: 'nyc3', size: 'gpu-h100x1-80gb', image: 'ubuntu-24-04-x64', tags: [TAG] });
    assert.deepEqual(
      (await client.dropletsByTag(TAG)).map((droplet) => droplet.id),
      [gpu.id],
    );
    await client.deleteDroplet(gpu.id);
    // A GPU droplet is billed at least 60 s of its hourly price: $3.39 / 60, on top of the first droplet's cent.
    assert.ok(Number((await client.balance()).month_to_date_usage) >= 0.06);
  });

  it('honours a burst of 429s and then succeeds', async () => {
    standIn.rateLimitNext(2, 1);
    const started = Date.now();
    assert.ok((await client.account()).uuid);
    assert.ok(Date.now() - started >= 2000, 'waited as retry-after asked');
    assert.deepEqual(
      exchanges.map((exchange) => exchange.status),
      [429, 429, 200],
    );
  });

  it('rides out a short outage of the API on reads', async () => {
    standIn.failNext(2, 503);
    assert.ok((await client.regions()).length > 0);
    assert.deepEqual(
      exchanges.map((exchange) => exchange.status),
      [503, 503, 200],
    );
  });

  it('reads a listing of more than one page to the end, through a 429 on the way', async () => {
    const count = 203;
    for (let index = 0; index < count; index++) {
      standIn.state.createDroplet({ name: `sb-page-${index}`, region: 'ams3', size: 's-1vcpu-1gb', image: 'debian-12-x64', tags: [`${TAG}-paged`] });
    }
    const firstPage = client.dropletsByTag(`${TAG}-paged`);
    standIn.rateLimitNext(1, 1);
    const listed = await firstPage;
    assert.equal(listed.length, count);
    assert.equal(new Set(listed.map((droplet) => droplet.id)).size, count);
    assert.ok(
      exchanges.some((exchange) => /[?&]page=2\b/.test(exchange.url)),
      'the second page was read',
    );
    for (const droplet of listed) standIn.state.deleteDroplet(droplet.id);
  });

  it('keeps firewalls and tags', async () => {
    const tag = await client.createTag(TAG);
    assert.equal(tag.name, TAG);
    assert.ok((await client.tags()).some((candidate) => candidate.name === TAG));
    const rules = {
      name: TAG,
      inboundRules: [{ protocol: 'tcp' as const, ports: '22', sources: { addresses: ['0.0.0.0/0', '::/0'] } }],
      outboundRules: [{ protocol: 'tcp' as const, ports: '1-65535', destinations: { addresses: ['0.0.0.0/0', '::/0'] } }],
      tags: [TAG],
    };
    const firewall = await client.createFirewall(rules);
    await client.addFirewallTags(firewall.id!, [`${TAG}-task`]);
    assert.deepEqual(
      (await client.firewalls()).map((kept) => kept.tags),
      [[TAG, `${TAG}-task`]],
    );
    await client.deleteFirewall(firewall.id!);
    assert.deepEqual(await client.firewalls(), []);
  });

  it('says a wrong token, an unknown region or size, and a size not offered in the region, in one sentence each', async () => {
    const wrongToken = await failureOf(newClient('dop_v1_wrong').account());
    assert.ok(isDigitalOceanError(wrongToken, 'unauthorized'), String(wrongToken));
    const spec = { name: 'sb-bad-1', region: 'nyc3', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64', tags: [TAG] };
    const unknownRegion = await failureOf(client.createDroplet({ ...spec, region: 'mars1' }));
    assert.ok(isDigitalOceanError(unknownRegion, 'rejected'));
    assert.equal(unknownRegion.message, 'DigitalOcean refused the request for the droplet sb-bad-1: You specified an invalid region for Droplet creation.');
    const unknownSize = await failureOf(client.createDroplet({ ...spec, size: 's-99vcpu' }));
    assert.ok(isDigitalOceanError(unknownSize, 'rejected'));
    assert.match(unknownSize.message, /invalid size/);
    const notOffered = await failureOf(client.createDroplet({ ...spec, region: 'tor1', size: 'gpu-h100x1-80gb' }));
    assert.ok(isDigitalOceanError(notOffered, 'rejected'));
    assert.match(notOffered.message, /not available in this region/);
    assert.equal(standIn.state.dropletCount, 0, 'nothing half-made');
  });

  it('notices a request that breaks the contract (so no other test can pass with one)', async () => {
    const refused = await failureOf(
      client.createDroplet({ name: 'no spaces allowed!', region: 'nyc3', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64', tags: [] }),
    );
    assert.ok(isDigitalOceanError(refused, 'rejected'), String(refused));
    assert.equal(exchanges.length, 1);
    assert.match(exchanges[0]!.violations ?? '', /name/);
    assert.equal(standIn.state.dropletCount, 0, 'Prism stopped it before the stand-in');
    exchanges.length = 0;
  });

  it('refuses, like DigitalOcean, a droplet name it does not accept, even without the contract in front', async () => {
    const response = await fetch(`${standInUrl}/v2/droplets`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'no spaces allowed!', region: 'nyc3', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64' }),
    });
    assert.equal(response.status, 422);
    assert.match(((await response.json()) as { message: string }).message, /valid hostname characters/);
    assert.equal((await fetch(`${standInUrl}/v2/account`)).status, 401);
  });
});
