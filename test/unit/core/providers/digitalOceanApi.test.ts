import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { DigitalOceanClient, gpuOf, type DigitalOceanClientOptions } from '../../../../src/core/providers/digitalocean/api/client';
import { isDigitalOceanError } from '../../../../src/core/providers/digitalocean/api/errors';
import type { RetryClock } from '../../../../src/core/providers/digitalocean/api/retry';

const TOKEN = 'dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

interface Seen {
  method: string;
  url: URL;
  authorization: string | undefined;
  body: string;
}
type Reply = (seen: Seen, response: http.ServerResponse) => void;

/** A loopback server answering each request with the next reply (the last one repeats), recording what it saw. */
class FakeApi {
  readonly seen: Seen[] = [];
  private server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const seen = { method: request.method ?? '', url: new URL(request.url ?? '/', 'http://x'), authorization: request.headers.authorization, body };
      this.seen.push(seen);
      const reply = this.replies[Math.min(this.seen.length - 1, this.replies.length - 1)]!;
      reply(seen, response);
    });
  });
  replies: Reply[] = [];

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return (_seen, response) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  };
}

const dropAnswer: Reply = (_seen, response) => response.socket?.destroy();

/** A clock whose sleeps return at once, moving its time on, and are recorded. */
function fakeClock(start = 1_800_000_000_000): RetryClock & { sleeps: number[] } {
  const sleeps: number[] = [];
  let now = start;
  return {
    sleeps,
    now: () => now,
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  };
}

/** Every way an error can be shown, printed or serialised. */
function everyRendering(error: unknown): string {
  const asRecord = error as Record<string, unknown>;
  return [
    String(error),
    (error as Error).stack,
    inspect(error, { depth: Infinity, showHidden: true }),
    JSON.stringify(error),
    JSON.stringify({ ...asRecord }),
  ].join('\n');
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  assert.fail('the call succeeded');
}

describe('DigitalOcean API client', () => {
  let api: FakeApi;
  let baseUrl: string;
  let clock: ReturnType<typeof fakeClock>;
  let logs: string[];
  const client = (options: Partial<DigitalOceanClientOptions> = {}) =>
    new DigitalOceanClient({ token: TOKEN, baseUrl, clock, log: (line) => logs.push(line), retry: { baseBackoffMs: 100, maxBackoffMs: 400 }, ...options });

  beforeEach(async () => {
    api = new FakeApi();
    baseUrl = await api.start();
    clock = fakeClock();
    logs = [];
  });
  afterEach(() => api.stop());

  it('sends the token as a bearer header to its own address only', async () => {
    const other = new FakeApi();
    const otherUrl = await other.start();
    try {
      api.replies = [json(200, { account: { email: 'a@example.com' } })];
      other.replies = [json(200, { account: { email: 'b@example.com' } })];
      const first = client();
      const second = client({ token: 'dop_v1_other', baseUrl: otherUrl });
      assert.equal((await first.account()).email, 'a@example.com');
      assert.equal((await second.account()).email, 'b@example.com');
      assert.equal(api.seen[0]!.authorization, `Bearer ${TOKEN}`);
      assert.equal(other.seen[0]!.authorization, 'Bearer dop_v1_other');
    } finally {
      await other.stop();
    }
  });

  it('waits as long as retry-after says after a 429, then sends the same request again, a create included', async () => {
    api.replies = [json(429, { id: 'too_many_requests', message: 'API rate limit exceeded.' }, { 'retry-after': '3' }), json(202, { droplet: { id: 7 } })];
    const droplet = await client().createDroplet({ name: 'sb-one', region: 'nyc3', size: 's-1vcpu-1gb', image: 'ubuntu-24-04-x64', tags: ['agent-sandboxes'] });
    assert.equal(droplet.id, 7);
    assert.equal(api.seen.length, 2);
    assert.ok(clock.sleeps[0]! >= 3000, `waited ${clock.sleeps[0]} ms`);
    assert.equal(api.seen[1]!.body, api.seen[0]!.body);
    assert.equal(api.seen[1]!.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(JSON.parse(api.seen[0]!.body).tags, ['agent-sandboxes']);
  });

  it('waits until ratelimit-reset once the quota is spent', async () => {
    const reset = Math.floor(clock.now() / 1000) + 20;
    api.replies = [
      json(429, { id: 'too_many_requests', message: 'slow down' }, { 'ratelimit-remaining': '0', 'ratelimit-reset': String(reset) }),
      json(200, { balance: {} }),
    ];
    await client().balance();
    assert.equal(clock.sleeps.length, 1);
    assert.ok(clock.sleeps[0]! >= 20_000 && clock.sleeps[0]! <= 21_000, `waited ${clock.sleeps[0]} ms`);
  });

  it('gives up at once, saying when to come back, when the limit resets too far away', async () => {
    const reset = Math.floor(clock.now() / 1000) + 30 * 60;
    api.replies = [json(429, { id: 'too_many_requests', message: 'slow down' }, { 'ratelimit-remaining': '0', 'ratelimit-reset': String(reset) })];
    const error = await failure(client().account());
    assert.equal(api.seen.length, 1);
    assert.equal(error.message, "DigitalOcean's rate limit for this token is reached; try again in 30 minutes.");
    assert.ok(isDigitalOceanError(error, 'rate-limited'));
  });

  it('backs off exponentially up to its cap, a bounded number of times, on 5xx of an idempotent request', async () => {
    api.replies = [json(503, { id: 'service_unavailable', message: 'down' })];
    const error = await failure(client({ retry: { baseBackoffMs: 100, maxBackoffMs: 400, maxRetries: 5 } }).droplet(3));
    assert.equal(api.seen.length, 6);
    // Jitter keeps each wait in the upper half of its ceiling: 100, 200, 400, 400, 400.
    assert.deepEqual(clock.sleeps, [75, 150, 300, 300, 300]);
    assert.equal(error.message, "DigitalOcean's API is failing (HTTP 503); try again in a few minutes, and see status.digitalocean.com if it persists.");
    assert.equal(logs.length, 5);
    assert.match(logs[0]!, /^DigitalOcean answered 503 on GET \/v2\/droplets\/3; retrying in 0\.1 s\.$/);
  });

  it('does not repeat a create after a 5xx (it may have been made)', async () => {
    api.replies = [json(500, { id: 'server_error', message: 'oops' })];
    await failure(client().createDroplet({ name: 'sb', region: 'nyc3', size: 's-1vcpu-1gb', image: 1234, tags: [] }));
    assert.equal(api.seen.length, 1);
  });

  it('retries an idempotent request whose connection dropped', async () => {
    api.replies = [dropAnswer, json(200, { droplet: { id: 3, name: 'sb' } })];
    assert.equal((await client().droplet(3)).name, 'sb');
    assert.equal(api.seen.length, 2);
  });

  it('reads every page of a listing, 200 at a time, up to meta.total', async () => {
    const all = Array.from({ length: 450 }, (_, index) => ({ slug: `size-${index}`, price_hourly: index / 100 }));
    api.replies = [
      (seen, response) => {
        const page = Number(seen.url.searchParams.get('page'));
        const perPage = Number(seen.url.searchParams.get('per_page'));
        const next = page * perPage < all.length ? { next: `https://api.digitalocean.com/v2/sizes?page=${page + 1}&per_page=${perPage}` } : {};
        json(200, { sizes: all.slice((page - 1) * perPage, page * perPage), links: { pages: next }, meta: { total: all.length } })(seen, response);
      },
    ];
    const sizes = await client().sizes();
    assert.deepEqual(
      sizes.map((size) => size.slug),
      all.map((size) => size.slug),
    );
    assert.deepEqual(
      api.seen.map((seen) => seen.url.search),
      ['?page=1&per_page=200', '?page=2&per_page=200', '?page=3&per_page=200'],
    );
  });

  it('stops a listing whose next page does not move on', async () => {
    api.replies = [
      json(200, { droplets: [{ id: 1, tags: ['t'] }], links: { pages: { next: 'https://api.digitalocean.com/v2/droplets?page=1' } }, meta: { total: 99 } }),
    ];
    assert.equal((await client().dropletsByTag('t')).length, 1);
    // One call for CPU droplets by tag, one for GPU droplets (listed apart and filtered here).
    assert.deepEqual(
      api.seen.map((seen) => seen.url.searchParams.get('type') ?? seen.url.searchParams.get('tag_name')),
      ['t', 'gpus'],
    );
  });

  it('finds GPU droplets by tag, since the API lists them apart', async () => {
    api.replies = [
      (seen, response) =>
        json(200, {
          droplets:
            seen.url.searchParams.get('type') === 'gpus'
              ? [
                  { id: 2, tags: ['ours'] },
                  { id: 3, tags: ['theirs'] },
                ]
              : [{ id: 1, tags: ['ours'] }],
          meta: { total: 1 },
        })(seen, response),
    ];
    assert.deepEqual(
      (await client().dropletsByTag('ours')).map((droplet) => droplet.id),
      [1, 2],
    );
  });

  it('says each failure in one sentence: wrong token, missing thing, refused request', async () => {
    api.replies = [json(401, { id: 'Unauthorized', message: 'Unable to authenticate you' })];
    const unauthorized = await failure(client().account());
    assert.equal(unauthorized.message, 'DigitalOcean refused the token; sign in again with `sandbox cloud login`.');
    assert.ok(isDigitalOceanError(unauthorized, 'unauthorized'));

    api.replies = [json(404, { id: 'not_found', message: 'The resource you were accessing could not be found.' })];
    assert.equal((await failure(client().droplet(42))).message, 'DigitalOcean has no droplet 42 (it may have been deleted already).');

    api.replies = [json(422, { id: 'unprocessable_entity', message: 'Size is not available in this region.' })];
    const refused = await failure(client().createDroplet({ name: 'sb', region: 'ams3', size: 'gpu-h100x1-80gb', image: 'ubuntu-24-04-x64', tags: [] }));
    assert.equal(refused.message, 'DigitalOcean refused the request for the droplet sb: Size is not available in this region.');
  });

  it('says the API cannot be reached, after retrying, when nothing listens', async () => {
    await api.stop();
    api = new FakeApi();
    const error = await failure(client().regions());
    assert.match(error.message, /^DigitalOcean's API at 127\.0\.0\.1:\d+ cannot be reached \(ECONNREFUSED\); check the network connection and try again\.$/);
    assert.equal(clock.sleeps.length, 4);
    assert.ok(isDigitalOceanError(error, 'unreachable'));
  });

  it('never lets the token into an error, a retry log or an inspection of the client', async () => {
    const echo: Reply = (seen, response) => json(422, { id: 'unprocessable_entity', message: `bad header ${seen.authorization}` })(seen, response);
    const renderings: string[] = [];
    for (const reply of [json(401, { message: `token ${TOKEN} is revoked` }), json(404, { message: TOKEN }), echo, json(503, { message: TOKEN }), dropAnswer]) {
      api.replies = [reply];
      renderings.push(everyRendering(await failure(client().droplet(5))));
    }
    await api.stop();
    api = new FakeApi();
    renderings.push(everyRendering(await failure(client().droplet(5))));
    renderings.push(everyRendering(await failure(Promise.resolve().then(() => client({ token: `${TOKEN}\nX-Injected: 1` })))));
    renderings.push(inspect(client(), { depth: Infinity, showHidden: true }), JSON.stringify(client()), ...logs);
    assert.ok(logs.length > 0);
    for (const text of renderings) {
      assert.ok(!text.includes(TOKEN), `the token shows in: ${text.slice(0, 400)}`);
      assert.ok(!text.includes(TOKEN.slice(8, 40)), `part of the token shows in: ${text.slice(0, 400)}`);
    }
    assert.match(renderings[2]!, /DigitalOcean refused the request for droplet 5: bad header Bearer \[token\]\./);
  });

  it('polls an action until it completes, backing off, and says when one fails or takes too long', async () => {
    const action = (status: string) => json(200, { action: { id: 9, status, type: 'power_off' } });
    api.replies = [action('in-progress'), action('in-progress'), action('in-progress'), action('completed')];
    assert.equal((await client().waitForAction(9, 60_000)).status, 'completed');
    assert.deepEqual(clock.sleeps, [1000, 2000, 4000]);

    api.seen.length = 0;
    api.replies = [action('errored')];
    assert.equal(
      (await failure(client().waitForAction(9, 60_000))).message,
      "The power_off action 9 on DigitalOcean failed; see the droplet's history in DigitalOcean's control panel.",
    );

    api.seen.length = 0;
    api.replies = [action('in-progress')];
    const late = await failure(client().waitForAction(9, 5000));
    assert.equal(late.message, "The power_off action 9 on DigitalOcean is still running after 5 s; check it in DigitalOcean's control panel.");
  });

  it('reads a size’s GPU', () => {
    const cpu = { slug: 's-1vcpu-1gb' } as Parameters<typeof gpuOf>[0];
    const gpu = { slug: 'gpu-h100x1-80gb', gpu_info: { count: 1, model: 'nvidia_h100', vram: { amount: 80, unit: 'gib' } } } as Parameters<typeof gpuOf>[0];
    assert.equal(gpuOf(cpu), undefined);
    assert.deepEqual(gpuOf(gpu), { count: 1, model: 'nvidia_h100', vram: '80 gib' });
  });

  it('stops waiting for a retry when the caller cancels', async () => {
    api.replies = [json(429, { message: 'slow down' }, { 'retry-after': '30' })];
    const controller = new AbortController();
    const slow = client({ clock: { ...clock, sleep: (ms, signal) => realSleep(ms, signal, controller) } });
    const error = await failure(slow.account(controller.signal));
    assert.equal(error.message, 'The DigitalOcean request was cancelled.');
  });
});

/** A real sleep of the retry middleware's kind, cancelled by the test as soon as it starts. */
async function realSleep(ms: number, signal: AbortSignal | undefined, controller: AbortController): Promise<void> {
  const { realClock } = await import('../../../../src/core/providers/digitalocean/api/retry');
  const sleeping = realClock.sleep(ms, signal);
  controller.abort();
  return sleeping;
}
