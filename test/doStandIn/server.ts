import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { REGIONS, SIZES } from './catalog';
import { ApiRefusal, StandInState, type DropletHooks, type StandInTiming } from './state';

export interface StandInOptions extends Partial<StandInTiming>, DropletHooks {
  /** Tokens the stand-in accepts as `Authorization: Bearer ...`; anything else gets 401. */
  tokens: string[];
}

type Query = URLSearchParams;
type Answer = { status: number; body?: unknown };

const RATE_LIMIT_PER_HOUR = 5000;
const DEFAULT_PER_PAGE = 20;
const MAX_PER_PAGE = 200;
const PUBLIC_API = 'https://api.digitalocean.com';

/**
 * A stateful stand-in for DigitalOcean's API on loopback, for tests: answers as the real API does (status
 * codes, bodies, pagination, rate-limit headers), with droplets and actions that change state over time.
 */
export class DigitalOceanStandIn {
  readonly state: StandInState;
  readonly #tokens: Set<string>;
  readonly #server = http.createServer((request, response) => void this.#handle(request, response));
  #rateLimitedResponses = 0;
  #failures: { count: number; status: number; only?: (method: string, path: string) => boolean } = { count: 0, status: 503 };
  #retryAfterSeconds = 1;
  #remaining = RATE_LIMIT_PER_HOUR;
  /** Failures of the stand-in itself (bugs, not refusals): a test should find none. */
  readonly internalErrors: string[] = [];
  /** Every request served, as "METHOD /path?query status", in order. */
  readonly requests: string[] = [];

  constructor(options: StandInOptions) {
    this.#tokens = new Set(options.tokens);
    this.state = new StandInState(
      { bootDelayMs: options.bootDelayMs ?? 1500, actionDelayMs: options.actionDelayMs ?? 1500 },
      {
        onDropletCreated: options.onDropletCreated,
        onDropletDeleted: options.onDropletDeleted,
        onDropletPower: options.onDropletPower,
        onDropletSnapshot: options.onDropletSnapshot,
        onSnapshotDeleted: options.onSnapshotDeleted,
        onDropletFirewalls: options.onDropletFirewalls,
      },
    );
  }

  async listen(port = 0): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The next `count` requests get 429 with `retry-after: seconds`, as in a burst over the per-minute limit. */
  rateLimitNext(count: number, retryAfterSeconds = 1): void {
    this.#rateLimitedResponses = count;
    this.#retryAfterSeconds = retryAfterSeconds;
  }

  /** The next `count` authenticated requests (those `only` picks, if given) fail with `status` (a 5xx), as when DigitalOcean's API is down. */
  failNext(count: number, status = 503, only?: (method: string, path: string) => boolean): void {
    this.#failures = { count, status, only };
  }

  async #handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    let answer: Answer;
    const headers: Record<string, string> = {};
    try {
      const body = await readJson(request);
      answer = this.#gate(request, headers) ?? this.#route(request.method ?? 'GET', url.pathname, url.searchParams, body);
    } catch (error) {
      if (error instanceof ApiRefusal) {
        answer = { status: error.status, body: { id: error.id, message: error.message } };
      } else {
        this.internalErrors.push(`${request.method} ${url.pathname}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        answer = { status: 500, body: { id: 'server_error', message: `The stand-in failed: ${String(error)}` } };
      }
    }
    this.requests.push(`${request.method} ${url.pathname}${url.search} ${answer.status}`);
    const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
    if (text) headers['content-type'] = 'application/json; charset=utf-8';
    response.writeHead(answer.status, headers);
    response.end(text);
  }

  /** Auth and rate limit, checked before any route; the answer when the request goes no further. */
  #gate(request: http.IncomingMessage, headers: Record<string, string>): Answer | undefined {
    const resetAt = Math.ceil(Date.now() / 1000) + this.#retryAfterSeconds;
    headers['ratelimit-limit'] = String(RATE_LIMIT_PER_HOUR);
    const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (!token || !this.#tokens.has(token)) {
      headers['ratelimit-remaining'] = String(this.#remaining);
      headers['ratelimit-reset'] = String(resetAt);
      return { status: 401, body: { id: 'Unauthorized', message: 'Unable to authenticate you' } };
    }
    if (this.#rateLimitedResponses > 0) {
      this.#rateLimitedResponses--;
      Object.assign(headers, { 'ratelimit-remaining': '0', 'ratelimit-reset': String(resetAt), 'retry-after': String(this.#retryAfterSeconds) });
      return { status: 429, body: { id: 'too_many_requests', message: 'API Rate limit exceeded.' } };
    }
    const failing = this.#failures.only?.(request.method ?? 'GET', new URL(request.url ?? '/', 'http://127.0.0.1').pathname) ?? true;
    if (this.#failures.count > 0 && failing) {
      this.#failures.count--;
      return { status: this.#failures.status, body: { id: 'server_error', message: 'Server Error' } };
    }
    this.#remaining = Math.max(0, this.#remaining - 1);
    headers['ratelimit-remaining'] = String(this.#remaining);
    headers['ratelimit-reset'] = String(resetAt);
    return undefined;
  }

  #route(method: string, path: string, query: Query, body: Record<string, unknown>): Answer {
    const state = this.state;
    const parts = path.split('/').filter(Boolean);
    if (parts[0] !== 'v2') throw new ApiRefusal(404, 'not_found', 'The resource you were accessing could not be found.');
    const [, collection, id, sub] = parts;
    const route = `${method} ${collection}${id === undefined ? '' : '/:id'}${sub === undefined ? '' : `/${sub}`}`;
    const numericId = Number(id);
    switch (route) {
      case 'GET account':
        return ok({ account: ACCOUNT });
      case 'GET customers/:id/balance': {
        const usage = state.monthToDateUsage();
        return ok({ month_to_date_balance: usage, account_balance: '0.00', month_to_date_usage: usage, generated_at: new Date().toISOString() });
      }
      case 'GET sizes':
        return ok(page('sizes', SIZES, path, query));
      case 'GET regions':
        return ok(page('regions', REGIONS, path, query));
      case 'POST droplets': {
        const droplet = state.createDroplet(body);
        const create = state.createActionOf(droplet.id);
        const actions = create ? [{ id: create.id, rel: 'create', href: `${PUBLIC_API}/v2/actions/${create.id}` }] : [];
        return { status: 202, body: { droplet, links: { actions } } };
      }
      case 'GET droplets': {
        const tagName = query.get('tag_name') ?? undefined;
        const type = query.get('type') ?? undefined;
        return ok(page('droplets', state.droplets({ tagName, type }), path, query));
      }
      case 'GET droplets/:id':
        return ok({ droplet: state.droplet(numericId) });
      case 'DELETE droplets/:id':
        state.deleteDroplet(numericId);
        return { status: 204 };
      case 'GET droplets/:id/actions':
        return ok(page('actions', state.dropletActions(numericId), path, query));
      case 'POST droplets/:id/actions':
        return { status: 201, body: { action: state.startDropletAction(numericId, body) } };
      case 'GET actions/:id':
        return ok({ action: state.action(numericId) });
      case 'GET snapshots':
        return ok(page('snapshots', query.get('resource_type') === 'volume' ? [] : state.snapshots(), path, query));
      case 'GET snapshots/:id':
        return ok({ snapshot: state.snapshot(id!) });
      case 'DELETE snapshots/:id':
        state.deleteSnapshot(id!);
        return { status: 204 };
      case 'GET images': {
        const images = state.images({ type: query.get('type') ?? undefined, private: query.get('private') === 'true' });
        return ok(page('images', images, path, query));
      }
      case 'DELETE images/:id':
        state.deleteImage(id!);
        return { status: 204 };
      case 'GET images/:id':
        return ok({ image: state.image(id!) });
      case 'GET firewalls':
        return ok(page('firewalls', state.firewalls.list(), path, query));
      case 'POST firewalls':
        return { status: 202, body: { firewall: state.firewalls.create(body) } };
      case 'GET firewalls/:id':
        return ok({ firewall: state.firewalls.get(id!) });
      case 'PUT firewalls/:id':
        return ok({ firewall: state.firewalls.update(id!, body) });
      case 'DELETE firewalls/:id':
        state.firewalls.delete(id!);
        return { status: 204 };
      case 'POST firewalls/:id/tags':
      case 'DELETE firewalls/:id/tags':
        state.firewalls.changeTags(id!, body.tags, method === 'POST');
        return { status: 204 };
      case 'GET tags':
        return ok(page('tags', state.tags(), path, query));
      case 'POST tags':
        return { status: 201, body: { tag: state.createTag(body.name) } };
      case 'GET tags/:id':
        return ok({ tag: state.tag(decodeURIComponent(id!)) });
      case 'POST tags/:id/resources':
      case 'DELETE tags/:id/resources':
        state.tagResources(decodeURIComponent(id!), body.resources, method === 'POST');
        return { status: 204 };
      case 'DELETE tags/:id':
        state.deleteTag(decodeURIComponent(id!));
        return { status: 204 };
      default:
        throw new ApiRefusal(404, 'not_found', 'The resource you were accessing could not be found.');
    }
  }
}

const ACCOUNT = {
  droplet_limit: 25,
  floating_ip_limit: 3,
  email: 'sandboxes@example.com',
  name: 'Sandboxes',
  uuid: 'b6fr89dbf6d9156cace5f3c78dc9851d957381ef',
  email_verified: true,
  status: 'active',
  status_message: '',
};

function ok(body: unknown): Answer {
  return { status: 200, body };
}

/** One page of a listing, with `links.pages` and `meta.total` as DigitalOcean writes them. */
function page<Item>(key: string, items: Item[], path: string, query: Query): Record<string, unknown> {
  const perPage = Math.min(MAX_PER_PAGE, Math.max(1, Number(query.get('per_page') ?? DEFAULT_PER_PAGE) || DEFAULT_PER_PAGE));
  const lastPage = Math.max(1, Math.ceil(items.length / perPage));
  const current = Math.max(1, Number(query.get('page') ?? 1) || 1);
  const link = (number: number) => {
    const params = new URLSearchParams(query);
    params.set('page', String(number));
    params.set('per_page', String(perPage));
    return `${PUBLIC_API}${path}?${params.toString()}`;
  };
  const pages: Record<string, string> = {};
  if (current > 1) Object.assign(pages, { first: link(1), prev: link(Math.min(current - 1, lastPage)) });
  if (current < lastPage) Object.assign(pages, { next: link(current + 1), last: link(lastPage) });
  return { [key]: items.slice((current - 1) * perPage, current * perPage), links: { pages }, meta: { total: items.length } };
}

async function readJson(request: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // Answered below, as the real API does for a body it cannot read.
  }
  throw new ApiRefusal(400, 'bad_request', 'The request body is not a JSON object.');
}
