import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { DigitalOceanClient, gpuOf } from '../../src/core/providers/digitalocean/api/client';
import { isDigitalOceanError } from '../../src/core/providers/digitalocean/api/errors';
import { startPrism, stopPrism } from '../doStandIn/prism';

// Every request the client sends is checked against DigitalOcean's own OpenAPI spec by Prism (mock mode,
// --errors): a request that breaks the contract is answered 4xx with the broken rules in `sl-violations`.
const TOKEN = 'dop_v1_contract0000000000000000000000000000000000000000000000000000';

interface Exchange {
  method: string;
  path: string;
  status: number;
  violations: string | null;
}

describe('DigitalOcean client against DigitalOcean’s OpenAPI contract (Prism)', function () {
  this.timeout(60_000);
  let prism: ChildProcess | undefined;
  let baseUrl: string;
  const exchanges: Exchange[] = [];
  const called = new Set<string>();
  /** Changes the next request as sent (a Prefer header for Prism, a missing token), once. */
  let tamperNext: ((headers: Headers) => void) | undefined;
  let client: DigitalOceanClient;

  const recordingFetch = async (request: Request): Promise<Response> => {
    const headers = new Headers(request.headers);
    tamperNext?.(headers);
    tamperNext = undefined;
    const response = await fetch(new Request(request, { headers }));
    exchanges.push({ method: request.method, path: new URL(request.url).pathname, status: response.status, violations: response.headers.get('sl-violations') });
    return response;
  };

  /** The client, with each method call noted so the last test can check that none was left out. */
  function recordedClient(): DigitalOceanClient {
    const real = new DigitalOceanClient({ token: TOKEN, baseUrl, fetch: recordingFetch, retry: { baseBackoffMs: 10, maxBackoffMs: 50 } });
    return new Proxy(real, {
      get(target, key, receiver) {
        const value: unknown = Reflect.get(target, key, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          called.add(String(key));
          return (value as (...args: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  function assertNoViolation(): void {
    const broken = exchanges.filter((exchange) => exchange.violations !== null || exchange.status >= 400);
    assert.deepEqual(broken, [], 'requests broke DigitalOcean’s contract');
  }

  before(async function () {
    ({ prism, url: baseUrl } = await startPrism({ mock: true }));
    client = recordedClient();
  });

  after(async () => {
    // Stopped by its own pid, the one child this test started.
    await stopPrism(prism);
  });

  beforeEach(() => {
    exchanges.length = 0;
    tamperNext = undefined;
  });

  it('reads the account, the balance, every size with its prices and GPU, and the regions', async () => {
    assert.ok((await client.account()).uuid);
    assert.equal(typeof (await client.balance()).month_to_date_usage, 'string');
    const sizes = await client.sizes();
    assert.ok(sizes.length > 0 && sizes.every((size) => typeof size.price_hourly === 'number' && typeof size.price_monthly === 'number'));
    sizes.forEach((size) => gpuOf(size));
    assert.ok((await client.regions()).every((region) => typeof region.slug === 'string'));
    assertNoViolation();
  });

  it('creates a droplet with tags and user data, from a slug and from a snapshot id, and reads it back', async () => {
    const spec = { name: 'sb-contract-1', region: 'nyc3', size: 's-1vcpu-1gb', tags: ['agent-sandboxes', 'agent-sandboxes-sb-1'], userData: '#cloud-config\n' };
    const fromSlug = await client.createDroplet({ ...spec, image: 'ubuntu-24-04-x64' });
    await client.createDroplet({ ...spec, image: 119383149, sshKeys: ['3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa'] });
    assert.equal(typeof fromSlug.id, 'number');
    assert.equal((await client.droplet(fromSlug.id)).id, fromSlug.id);
    assertNoViolation();
  });

  it('lists the droplets of a tag, GPU ones included, and deletes one', async () => {
    await client.dropletsByTag('agent-sandboxes');
    assert.ok(exchanges.some((exchange) => exchange.path === '/v2/droplets'));
    await client.deleteDroplet(3164444);
    assertNoViolation();
  });

  it('powers a droplet off and on, snapshots it, lists its actions, polls one and reads its CPU time', async () => {
    const actions = [
      await client.powerAction(3164444, 'power_off'),
      await client.powerAction(3164444, 'power_on'),
      await client.powerAction(3164444, 'shutdown'),
      await client.snapshotDroplet(3164444, 'agent-sandboxes-recipe-0123abcd'),
    ];
    assert.ok(actions.every((action) => ['in-progress', 'completed', 'errored'].includes(action.status)));
    await client.action(actions[0]!.id ?? 36804636);
    assert.ok((await client.dropletActions(3164444)).every((action) => typeof action.status === 'string'));
    // The spec's example action stays in progress: a second read after 1 s, then the timeout's sentence.
    const waited = await client.waitForAction(36804636, 1500).then(
      (action) => action.status,
      (error: unknown) => (isDigitalOceanError(error, 'unavailable') ? 'timed out' : String(error)),
    );
    assert.ok(['completed', 'timed out'].includes(waited), waited);
    const cpu = await client.dropletCpu(3164444, 1_765_000_000, 1_765_003_600);
    assert.equal(cpu.status, 'success');
    assertNoViolation();
  });

  it('lists and deletes snapshots, and lists and reads images', async () => {
    const snapshots = await client.dropletSnapshots();
    await client.deleteSnapshot(snapshots[0]?.id ?? '6372321');
    await client.images('distribution');
    await client.images('private');
    await client.image('ubuntu-24-04-x64');
    await client.image(7555620);
    assertNoViolation();
  });

  it('adds, lists and removes an account SSH key', async () => {
    const key = await client.createSshKey('agent-sandboxes', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGn9hIJ2j0fqKCdkH4bDk0Qm0O0lX4pXzH8vR1D9m0Qw sandbox');
    await client.sshKeys();
    await client.deleteSshKey(key.id ?? 512189);
    assertNoViolation();
  });

  it('makes, reads, updates, tags and removes the firewall of our tag, makes and lists tags, and moves a droplet between tags', async () => {
    await client.createTag('agent-sandboxes');
    await client.tags();
    const rules = {
      name: 'agent-sandboxes',
      inboundRules: [{ protocol: 'tcp' as const, ports: '22', sources: { addresses: ['0.0.0.0/0', '::/0'] } }],
      outboundRules: [{ protocol: 'tcp' as const, ports: '1-65535', destinations: { addresses: ['0.0.0.0/0', '::/0'] } }],
      tags: ['agent-sandboxes'],
    };
    const firewall = await client.createFirewall(rules);
    const id = firewall.id ?? 'bb4b2611-3d72-467b-8602-280330ecd65c';
    await client.updateFirewall(id, { ...rules, inboundRules: [{ protocol: 'tcp', ports: '22', sources: { addresses: ['203.0.113.0/24'] } }] });
    await client.addFirewallTags(id, ['agent-sandboxes-task']);
    await client.firewalls();
    await client.firewall(id);
    await client.tagDroplet('agent-sandboxes-net-none', 3164444);
    await client.untagDroplet('agent-sandboxes-net-default', 3164444);
    await client.deleteFirewall(id);
    assertNoViolation();
  });

  it('retries the contract’s own 429 and succeeds', async () => {
    tamperNext = (headers) => headers.set('Prefer', 'code=429');
    await client.account();
    assert.deepEqual(
      exchanges.map((exchange) => exchange.status),
      [429, 200],
    );
  });

  it('says a refused token in one sentence', async () => {
    tamperNext = (headers) => headers.delete('Authorization');
    const error = await client.account().then(
      () => assert.fail('the call succeeded'),
      (failure: unknown) => failure,
    );
    assert.ok(isDigitalOceanError(error, 'unauthorized'));
    assert.equal(error.message, 'DigitalOcean refused the token; sign in again with `sandbox cloud login`.');
  });

  it('says a missing droplet in one sentence', async () => {
    tamperNext = (headers) => headers.set('Prefer', 'code=404');
    const error = await client.droplet(99).then(
      () => assert.fail('the call succeeded'),
      (failure: unknown) => failure,
    );
    assert.ok(isDigitalOceanError(error, 'not-found'));
    assert.equal(error.message, 'DigitalOcean has no droplet 99 (it may have been deleted already).');
  });

  it('is stopped by the contract when a droplet name breaks DigitalOcean’s rules, and says so', async () => {
    const error = await client.createDroplet({ name: 'no spaces allowed!', region: 'nyc3', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64', tags: [] }).then(
      () => assert.fail('the call succeeded'),
      (failure: unknown) => failure,
    );
    assert.ok(isDigitalOceanError(error, 'rejected'), String(error));
    assert.match(error.message, /^DigitalOcean refused the request for the droplet no spaces allowed!/);
    assert.equal(exchanges.length, 1);
    assert.match(exchanges[0]!.violations ?? '', /name/);
  });

  it('has called every function of the client', () => {
    const functions = Object.getOwnPropertyNames(DigitalOceanClient.prototype).filter((name) => name !== 'constructor');
    assert.deepEqual(
      functions.filter((name) => !called.has(name)),
      [],
    );
  });
});
