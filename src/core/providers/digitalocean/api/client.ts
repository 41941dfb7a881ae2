import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { SandboxError, cancelledError } from '../../../errors';
import { DigitalOceanError, checkToken, responseError, unreachableError } from './errors';
import { PER_PAGE, listAll, type PageInfo } from './paging';
import { defaultRetryPolicy, realClock, retryMiddleware, type RetryClock, type RetryPolicy } from './retry';
import type { components, paths } from './schema';

type Schemas = components['schemas'];
export type Account = Schemas['account'];
export type Balance = Schemas['balance'];
export type Size = Schemas['size'];
export type Region = Schemas['region'];
export type Droplet = Schemas['droplet'];
export type Action = Schemas['action'];
export type Snapshot = Schemas['snapshots'];
export type Image = Schemas['image'];
export type SshKey = Schemas['sshKeys'];
export type Firewall = Schemas['firewall'];
export type FirewallRules = Schemas['firewall_rules'];
export type Tag = Schemas['tags'];
export type Metrics = Schemas['metrics'];

export const DIGITALOCEAN_API_URL = 'https://api.digitalocean.com';

export interface DigitalOceanClientOptions {
  token: string;
  /** The API's address; a loopback stand-in in tests. */
  baseUrl?: string;
  /** The HTTP client; tests wrap the platform's to watch every request. */
  fetch?: (request: Request) => Promise<Response>;
  retry?: Partial<RetryPolicy>;
  clock?: RetryClock;
  /** Receives one line per retry; lines never carry the token. */
  log?: (line: string) => void;
}

export interface NewDroplet {
  name: string;
  region: string;
  size: string;
  /** A distribution slug, or a snapshot id (a number) for a fast start. */
  image: string | number;
  tags: string[];
  userData?: string;
  /** Ids or fingerprints of account SSH keys; the sandbox's own keys travel in the user data instead. */
  sshKeys?: (string | number)[];
  vpcUuid?: string;
}

/** Power changes a sandbox needs; each answers with an action to poll. */
export type PowerAction = 'power_on' | 'power_off' | 'shutdown' | 'reboot' | 'power_cycle';

export interface NewFirewall {
  name: string;
  inboundRules: NonNullable<FirewallRules['inbound_rules']>;
  outboundRules: NonNullable<FirewallRules['outbound_rules']>;
  tags: string[];
}

/** The GPU of a size, or undefined for a CPU size. */
export function gpuOf(size: Size): { count: number; model: string; vram?: string } | undefined {
  const gpu = size.gpu_info;
  if (!gpu?.count) return undefined;
  const vram = gpu.vram?.amount ? `${gpu.vram.amount} ${gpu.vram.unit ?? 'GiB'}` : undefined;
  return { count: gpu.count, model: gpu.model ?? 'GPU', vram };
}

type Answer<D> = { data?: D; error?: unknown; response: Response };

/**
 * DigitalOcean's API, typed from its OpenAPI spec: one instance per token and address (nothing is shared
 * between instances), 429 and transient failures retried, listings read to the end, failures in one sentence.
 */
export class DigitalOceanClient {
  readonly baseUrl: string;
  // A private field, so the token shows in no inspection or serialisation of the client.
  readonly #token: string;
  readonly #api: Client<paths>;
  readonly #now: () => number;
  readonly #clock: RetryClock;

  constructor(options: DigitalOceanClientOptions) {
    checkToken(options.token);
    this.#token = options.token;
    this.baseUrl = (options.baseUrl ?? DIGITALOCEAN_API_URL).replace(/\/+$/, '');
    const clock = options.clock ?? realClock;
    this.#now = () => clock.now();
    this.#clock = clock;
    this.#api = createClient<paths>({ baseUrl: this.baseUrl, fetch: options.fetch ?? ((request) => fetch(request)) });
    const token = options.token;
    const auth: Middleware = {
      onRequest({ request }) {
        request.headers.set('Authorization', `Bearer ${token}`);
        return request;
      },
    };
    // Auth first: the retry middleware keeps a copy of the request as it will be sent.
    this.#api.use(auth, retryMiddleware({ ...defaultRetryPolicy, ...options.retry }, clock, options.log));
  }

  /** The answer's body on success; otherwise the call's failure in one sentence. */
  async #settle<D>(subject: string, pending: Promise<Answer<D>>): Promise<D> {
    let answer: Answer<D>;
    try {
      answer = await pending;
    } catch (error) {
      if (error instanceof SandboxError) throw error;
      if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) throw cancelledError('The DigitalOcean request');
      throw unreachableError(this.baseUrl, error, this.#token);
    }
    const { response } = answer;
    if (response.ok) return answer.data as D;
    throw responseError({ subject, status: response.status, body: answer.error, headers: response.headers, token: this.#token, now: this.#now() });
  }

  async #one<T>(subject: string, value: T | undefined): Promise<T> {
    if (value === undefined || value === null) {
      throw new DigitalOceanError('unavailable', `DigitalOcean answered without ${subject}; try again, and see status.digitalocean.com if it persists.`);
    }
    return value;
  }

  async #pages<Item, Body extends PageInfo>(subject: string, read: (page: number) => Promise<Answer<Body>>, items: (body: Body) => Item[] | undefined) {
    return listAll<Item>(async (page) => {
      const body = await this.#settle(subject, read(page));
      return { items: body ? items(body) : undefined, info: body };
    });
  }

  // Account and money.

  async account(signal?: AbortSignal): Promise<Account> {
    return this.#one('the account', (await this.#settle('the account', this.#api.GET('/v2/account', { signal })))?.account);
  }

  async balance(signal?: AbortSignal): Promise<Balance> {
    return this.#one('the balance', await this.#settle('the balance', this.#api.GET('/v2/customers/my/balance', { signal })));
  }

  /** Every size with its prices (USD) and GPU, read at run time: prices change. */
  async sizes(signal?: AbortSignal): Promise<Size[]> {
    const read = (page: number) => this.#api.GET('/v2/sizes', { params: { query: { page, per_page: PER_PAGE } }, signal });
    return this.#pages('the sizes', read, (body) => body.sizes);
  }

  async regions(signal?: AbortSignal): Promise<Region[]> {
    const read = (page: number) => this.#api.GET('/v2/regions', { params: { query: { page, per_page: PER_PAGE } }, signal });
    return this.#pages('the regions', read, (body) => body.regions);
  }

  // Droplets.

  async createDroplet(spec: NewDroplet, signal?: AbortSignal): Promise<Droplet> {
    const body: Schemas['droplet_single_create'] = {
      name: spec.name,
      region: spec.region,
      size: spec.size,
      image: spec.image,
      tags: spec.tags,
      ssh_keys: spec.sshKeys ?? [],
      user_data: spec.userData,
      vpc_uuid: spec.vpcUuid,
      // Metrics feed the busy/idle decision of the time-to-live; nothing else is wanted.
      monitoring: true,
      ipv6: false,
      backups: false,
      private_networking: false,
      public_networking: true,
      volumes: [],
    };
    const answer = await this.#settle(`the droplet ${spec.name}`, this.#api.POST('/v2/droplets', { body, signal }));
    return this.#one(`the new droplet ${spec.name}`, answer && 'droplet' in answer ? answer.droplet : undefined);
  }

  async droplet(id: number, signal?: AbortSignal): Promise<Droplet> {
    const read = this.#api.GET('/v2/droplets/{droplet_id}', { params: { path: { droplet_id: id } }, signal });
    return this.#one(`droplet ${id}`, (await this.#settle(`droplet ${id}`, read))?.droplet);
  }

  /** Every droplet carrying `tag`, GPU ones included (the API lists those only on their own, and not by tag). */
  async dropletsByTag(tag: string, signal?: AbortSignal): Promise<Droplet[]> {
    const subject = `the droplets tagged ${tag}`;
    const cpu = await this.#pages(
      subject,
      (page) => this.#api.GET('/v2/droplets', { params: { query: { tag_name: tag, page, per_page: PER_PAGE } }, signal }),
      (body) => body.droplets,
    );
    const gpu = await this.#pages(
      subject,
      (page) => this.#api.GET('/v2/droplets', { params: { query: { type: 'gpus', page, per_page: PER_PAGE } }, signal }),
      (body) => body.droplets,
    );
    const seen = new Set(cpu.map((droplet) => droplet.id));
    return [...cpu, ...gpu.filter((droplet) => droplet.tags?.includes(tag) && !seen.has(droplet.id))];
  }

  async deleteDroplet(id: number, signal?: AbortSignal): Promise<void> {
    await this.#settle(`droplet ${id}`, this.#api.DELETE('/v2/droplets/{droplet_id}', { params: { path: { droplet_id: id } }, signal }));
  }

  async #dropletAction(id: number, body: Schemas['droplet_action'] | Schemas['droplet_action_snapshot'], signal?: AbortSignal): Promise<Action> {
    const post = this.#api.POST('/v2/droplets/{droplet_id}/actions', { params: { path: { droplet_id: id } }, body, signal });
    return this.#one(`the ${body.type} action of droplet ${id}`, (await this.#settle(`droplet ${id}`, post))?.action);
  }

  async powerAction(id: number, type: PowerAction, signal?: AbortSignal): Promise<Action> {
    return this.#dropletAction(id, { type }, signal);
  }

  /** Starts a snapshot of the droplet (best powered off); poll the action, then find the snapshot by name. */
  async snapshotDroplet(id: number, name: string, signal?: AbortSignal): Promise<Action> {
    return this.#dropletAction(id, { type: 'snapshot', name }, signal);
  }

  /** Every action of a droplet (a snapshot under way shows here before its snapshot is listed). */
  async dropletActions(id: number, signal?: AbortSignal): Promise<Action[]> {
    const read = (page: number) =>
      this.#api.GET('/v2/droplets/{droplet_id}/actions', { params: { path: { droplet_id: id }, query: { page, per_page: PER_PAGE } }, signal });
    return this.#pages(`the actions of droplet ${id}`, read, (body) => body.actions);
  }

  async action(id: number, signal?: AbortSignal): Promise<Action> {
    const read = this.#api.GET('/v2/actions/{action_id}', { params: { path: { action_id: id } }, signal });
    return this.#one(`action ${id}`, (await this.#settle(`action ${id}`, read))?.action);
  }

  /**
   * CPU time of a droplet created with monitoring, per mode, from `start` to `end` (unix seconds): cumulative
   * counters, so busy time is the difference between samples.
   */
  async dropletCpu(id: number, start: number, end: number, signal?: AbortSignal): Promise<Metrics> {
    const query = { host_id: String(id), start: String(start), end: String(end) };
    const read = this.#api.GET('/v2/monitoring/metrics/droplet/cpu', { params: { query }, signal });
    return this.#one(`the CPU metrics of droplet ${id}`, await this.#settle(`the CPU metrics of droplet ${id}`, read));
  }

  /**
   * Polls an action until it completes, backing off from 1 s to 10 s between reads (each read counts against
   * the rate limit); fails in one sentence when it errors or outlasts `timeoutMs`.
   */
  async waitForAction(id: number, timeoutMs: number, signal?: AbortSignal): Promise<Action> {
    const deadline = this.#now() + timeoutMs;
    for (let poll = 0; ; poll++) {
      const action = await this.action(id, signal);
      if (action.status === 'completed') return action;
      const what = `${action.type ? `The ${action.type} action` : 'Action'} ${id} on DigitalOcean`;
      if (action.status === 'errored') throw new DigitalOceanError('rejected', `${what} failed; see the droplet's history in DigitalOcean's control panel.`);
      const wait = Math.min(10_000, 1000 * 2 ** poll);
      if (this.#now() + wait > deadline) {
        throw new DigitalOceanError(
          'unavailable',
          `${what} is still running after ${Math.round(timeoutMs / 1000)} s; check it in DigitalOcean's control panel.`,
        );
      }
      await this.#clock.sleep(wait, signal);
    }
  }

  // Snapshots and images.

  async dropletSnapshots(signal?: AbortSignal): Promise<Snapshot[]> {
    const read = (page: number) => this.#api.GET('/v2/snapshots', { params: { query: { resource_type: 'droplet', page, per_page: PER_PAGE } }, signal });
    return this.#pages('the snapshots', read, (body) => body.snapshots);
  }

  async deleteSnapshot(id: string, signal?: AbortSignal): Promise<void> {
    await this.#settle(`snapshot ${id}`, this.#api.DELETE('/v2/snapshots/{snapshot_id}', { params: { path: { snapshot_id: id } }, signal }));
  }

  /** Distribution images (the base of a sandbox without a snapshot), or the account's own images. */
  async images(which: 'distribution' | 'private', signal?: AbortSignal): Promise<Image[]> {
    const query = which === 'private' ? { private: true } : { type: 'distribution' as const };
    const read = (page: number) => this.#api.GET('/v2/images', { params: { query: { ...query, page, per_page: PER_PAGE } }, signal });
    return this.#pages('the images', read, (body) => body.images);
  }

  /** An image by id or by slug, e.g. "ubuntu-24-04-x64". */
  async image(idOrSlug: number | string, signal?: AbortSignal): Promise<Image> {
    const read = this.#api.GET('/v2/images/{image_id}', { params: { path: { image_id: idOrSlug } }, signal });
    return this.#one(`image ${idOrSlug}`, (await this.#settle(`image ${idOrSlug}`, read))?.image);
  }

  // SSH keys of the account (listing them is limited to 10 calls a minute: cache the answer).

  async sshKeys(signal?: AbortSignal): Promise<SshKey[]> {
    const read = (page: number) => this.#api.GET('/v2/account/keys', { params: { query: { page, per_page: PER_PAGE } }, signal });
    return this.#pages('the SSH keys', read, (body) => body.ssh_keys);
  }

  async createSshKey(name: string, publicKey: string, signal?: AbortSignal): Promise<SshKey> {
    const post = this.#api.POST('/v2/account/keys', { body: { name, public_key: publicKey }, signal });
    return this.#one(`the SSH key ${name}`, (await this.#settle(`the SSH key ${name}`, post))?.ssh_key);
  }

  async deleteSshKey(id: number, signal?: AbortSignal): Promise<void> {
    const path = { ssh_key_identifier: id };
    await this.#settle(`SSH key ${id}`, this.#api.DELETE('/v2/account/keys/{ssh_key_identifier}', { params: { path }, signal }));
  }

  // Firewalls and tags.

  async firewalls(signal?: AbortSignal): Promise<Firewall[]> {
    const read = (page: number) => this.#api.GET('/v2/firewalls', { params: { query: { page, per_page: PER_PAGE } }, signal });
    return this.#pages('the firewalls', read, (body) => body.firewalls);
  }

  /** One firewall read afresh (a create checks its droplet's final firewall with it, never with a cached copy). */
  async firewall(id: string, signal?: AbortSignal): Promise<Firewall> {
    const read = this.#api.GET('/v2/firewalls/{firewall_id}', { params: { path: { firewall_id: id } }, signal });
    return this.#one(`firewall ${id}`, (await this.#settle(`firewall ${id}`, read))?.firewall);
  }

  async createFirewall(spec: NewFirewall, signal?: AbortSignal): Promise<Firewall> {
    const body = { name: spec.name, inbound_rules: spec.inboundRules, outbound_rules: spec.outboundRules, tags: spec.tags };
    const post = this.#api.POST('/v2/firewalls', { body, signal });
    return this.#one(`the firewall ${spec.name}`, (await this.#settle(`the firewall ${spec.name}`, post))?.firewall);
  }

  /** Replaces the firewall's rules and tags: the API keeps only what this request names. */
  async updateFirewall(id: string, spec: NewFirewall, signal?: AbortSignal): Promise<Firewall> {
    const body = { name: spec.name, inbound_rules: spec.inboundRules, outbound_rules: spec.outboundRules, tags: spec.tags };
    const put = this.#api.PUT('/v2/firewalls/{firewall_id}', { params: { path: { firewall_id: id } }, body, signal });
    return this.#one(`firewall ${id}`, (await this.#settle(`firewall ${id}`, put))?.firewall);
  }

  async addFirewallTags(id: string, tags: string[], signal?: AbortSignal): Promise<void> {
    const post = this.#api.POST('/v2/firewalls/{firewall_id}/tags', { params: { path: { firewall_id: id } }, body: { tags }, signal });
    await this.#settle(`firewall ${id}`, post);
  }

  async deleteFirewall(id: string, signal?: AbortSignal): Promise<void> {
    await this.#settle(`firewall ${id}`, this.#api.DELETE('/v2/firewalls/{firewall_id}', { params: { path: { firewall_id: id } }, signal }));
  }

  /** Creates the tag; creating one that exists succeeds too. */
  async createTag(name: string, signal?: AbortSignal): Promise<Tag> {
    const post = this.#api.POST('/v2/tags', { body: { name }, signal });
    return this.#one(`the tag ${name}`, (await this.#settle(`the tag ${name}`, post))?.tag);
  }

  /** Puts the tag on a droplet (the firewalls attached by that tag cover it from then on). */
  async tagDroplet(tag: string, dropletId: number, signal?: AbortSignal): Promise<void> {
    const body = { resources: [{ resource_id: String(dropletId), resource_type: 'droplet' as const }] };
    await this.#settle(`the tag ${tag}`, this.#api.POST('/v2/tags/{tag_id}/resources', { params: { path: { tag_id: tag } }, body, signal }));
  }

  /** Takes the tag off a droplet. */
  async untagDroplet(tag: string, dropletId: number, signal?: AbortSignal): Promise<void> {
    const body = { resources: [{ resource_id: String(dropletId), resource_type: 'droplet' as const }] };
    await this.#settle(`the tag ${tag}`, this.#api.DELETE('/v2/tags/{tag_id}/resources', { params: { path: { tag_id: tag } }, body, signal }));
  }

  async tags(signal?: AbortSignal): Promise<Tag[]> {
    const read = (page: number) => this.#api.GET('/v2/tags', { params: { query: { page, per_page: PER_PAGE } }, signal });
    return this.#pages('the tags', read, (body) => body.tags);
  }
}
