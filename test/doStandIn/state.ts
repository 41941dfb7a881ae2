import type { Action, Droplet, Firewall, Image, Snapshot, Tag } from '../../src/core/providers/digitalocean/api/client';
import { DISTRIBUTION_IMAGES, REGIONS, SIZES } from './catalog';
import { FirewallStore } from './firewalls';
import { ApiRefusal, isoSeconds, missing, refuse, validTags } from './refusals';

export { ApiRefusal };

/** Boots a droplet (a container, see dropletMachines.ts) and answers the public IPv4 address to report for it. */
export type DropletBootHook = (droplet: Droplet, userData: string | undefined) => Promise<string>;

/** The power actions the stand-in carries out. */
export type PowerActionType = 'power_off' | 'shutdown' | 'power_on' | 'reboot' | 'power_cycle';

/**
 * Where a droplet's machine can be plugged in: booted on create, removed on delete, powered and
 * snapshotted by actions. An action completes once its hook has settled (and its delay passed);
 * a hook that fails makes it `errored`, as a droplet that never comes up stays `new`.
 */
export interface DropletHooks {
  onDropletCreated?: DropletBootHook;
  onDropletDeleted?: (droplet: Droplet) => Promise<void>;
  onDropletPower?: (droplet: Droplet, type: PowerActionType) => Promise<void>;
  /** Keeps the droplet's disk as the snapshot `snapshotId`, which a later create may name as its image. */
  onDropletSnapshot?: (droplet: Droplet, snapshotId: string) => Promise<void>;
  onSnapshotDeleted?: (snapshotId: string) => Promise<void>;
  /** The droplet's tags changed: the firewalls covering it now (firewallModel.ts enforces their outbound rules). */
  onDropletFirewalls?: (droplet: Droplet, firewalls: Firewall[]) => Promise<void>;
}

export interface StandInTiming {
  /** How long a new droplet stays `new` before it is `active` with a public address. */
  bootDelayMs: number;
  /** How long an action stays `in-progress` before it is `completed` and takes effect. */
  actionDelayMs: number;
}

export interface CreateDropletRequest {
  name?: unknown;
  region?: unknown;
  size?: unknown;
  image?: unknown;
  tags?: unknown;
  user_data?: unknown;
}

// DigitalOcean's own rules, as its API applies them.
const DROPLET_NAME = /^[a-zA-Z0-9]?[a-z0-9A-Z.-]*[a-z0-9A-Z]$/;
const MAX_USER_DATA_BYTES = 64 * 1024;
const POWER_EFFECT: Record<PowerActionType, Droplet['status']> = {
  power_off: 'off',
  shutdown: 'off',
  power_on: 'active',
  reboot: 'active',
  power_cycle: 'active',
};

interface DropletRecord {
  droplet: Droplet;
  userData: string | undefined;
  activeAt: number;
  /** The address the boot hook answered, once it has. */
  publicIpv4?: string;
  powerStatus: Droplet['status'];
}

interface ActionRecord {
  action: Action;
  completesAt: number;
  /** What the action does once it completes. */
  effect: () => void;
  /** The machine's side of the action: the action waits for it, and errors when it fails. */
  work: { settledAt?: number; failed?: boolean };
}

/** The state of one DigitalOcean account as the stand-in keeps it; ids are deterministic (counters). */
export class StandInState {
  readonly #droplets = new Map<number, DropletRecord>();
  readonly #actions = new Map<number, ActionRecord>();
  readonly #snapshots = new Map<string, Snapshot>();
  readonly #snapshotDistribution = new Map<string, Image['distribution']>();
  readonly firewalls = new FirewallStore(
    (tags) => tags.forEach((tag) => this.#tags.add(tag)),
    () => this.now(),
  );
  readonly #tags = new Set<string>();
  #nextDropletId = 500_001;
  #nextActionId = 900_001;
  #nextSnapshotId = 700_001;
  #nextLoopbackHost = 1;
  #billedUsd = 0;

  constructor(
    readonly timing: StandInTiming,
    readonly hooks: DropletHooks = {},
    readonly now: () => number = () => Date.now(),
  ) {}

  /** Applies every action whose time has come and brings booted droplets up, as time passing would. */
  #advance(): void {
    const now = this.now();
    for (const record of this.#actions.values()) {
      const { settledAt, failed } = record.work;
      if (record.action.status === 'in-progress' && now >= record.completesAt && settledAt !== undefined) {
        record.action.status = failed ? 'errored' : 'completed';
        record.action.completed_at = isoSeconds(Math.max(record.completesAt, settledAt));
        if (!failed) record.effect();
        const droplet = this.#droplets.get(record.action.resource_id ?? -1);
        if (droplet) droplet.droplet.locked = this.#pendingActions(droplet.droplet.id).length > 0;
      }
    }
    for (const record of this.#droplets.values()) {
      const { droplet } = record;
      if (droplet.status === 'new' && now >= record.activeAt && record.publicIpv4 !== undefined) {
        droplet.status = record.powerStatus;
        droplet.networks = {
          v4: [{ ip_address: record.publicIpv4, netmask: '255.255.255.0', gateway: record.publicIpv4.replace(/\.\d+$/, '.254'), type: 'public' }],
          v6: [],
        };
      } else if (droplet.status !== 'new') {
        droplet.status = record.powerStatus;
      }
    }
  }

  #pendingActions(dropletId: number): ActionRecord[] {
    return [...this.#actions.values()].filter((record) => record.action.resource_id === dropletId && record.action.status === 'in-progress');
  }

  #image(reference: unknown): Image {
    if (typeof reference === 'string') {
      const image = DISTRIBUTION_IMAGES.find((candidate) => candidate.slug === reference);
      if (!image) throw refuse('You specified an invalid image for Droplet creation.');
      return image;
    }
    if (typeof reference === 'number') {
      const snapshot = this.#snapshots.get(String(reference));
      if (snapshot) return this.#snapshotImage(snapshot);
      const image = DISTRIBUTION_IMAGES.find((candidate) => candidate.id === reference);
      if (image) return image;
    }
    throw refuse('You specified an invalid image for Droplet creation.');
  }

  #snapshotImage(snapshot: Snapshot): Image {
    return {
      id: Number(snapshot.id),
      name: snapshot.name,
      type: 'snapshot',
      distribution: this.#snapshotDistribution.get(snapshot.id) ?? 'Unknown',
      public: false,
      regions: snapshot.regions as Image['regions'],
      created_at: snapshot.created_at,
      min_disk_size: snapshot.min_disk_size,
      size_gigabytes: snapshot.size_gigabytes,
      tags: snapshot.tags ?? [],
      status: 'available',
    };
  }

  // Droplets.

  createDroplet(request: CreateDropletRequest): Droplet {
    const { name, region: regionSlug, size: sizeSlug, user_data: userData } = request;
    if (typeof name !== 'string' || name.length > 255 || !DROPLET_NAME.test(name)) {
      throw refuse('Name Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)');
    }
    const region = REGIONS.find((candidate) => candidate.slug === regionSlug);
    if (!region) throw refuse('You specified an invalid region for Droplet creation.');
    const size = SIZES.find((candidate) => candidate.slug === sizeSlug);
    if (!size) throw refuse('You specified an invalid size for Droplet creation.');
    if (!size.regions.includes(region.slug)) throw refuse(`Size is not available in this region. (${size.slug} in ${region.slug})`);
    if (userData !== undefined && userData !== null && typeof userData !== 'string') throw refuse('user_data must be a string.');
    if (typeof userData === 'string' && Buffer.byteLength(userData) > MAX_USER_DATA_BYTES) throw refuse('user_data is too long (the limit is 64 KiB).');
    const image = this.#image(request.image);
    const tags = validTags(request.tags);
    tags.forEach((tag) => this.#tags.add(tag));
    const createdAt = this.now();
    const droplet: Droplet = {
      id: this.#nextDropletId++,
      name,
      memory: size.memory,
      vcpus: size.vcpus,
      disk: size.disk,
      locked: false,
      status: 'new',
      created_at: isoSeconds(createdAt),
      features: ['monitoring'],
      backup_ids: [],
      next_backup_window: null,
      snapshot_ids: [],
      image,
      volume_ids: [],
      size,
      size_slug: size.slug,
      networks: { v4: [], v6: [] },
      region,
      tags,
      ...(size.gpu_info ? { gpu_info: size.gpu_info } : {}),
    };
    const record: DropletRecord = { droplet, userData: userData ?? undefined, activeAt: createdAt + this.timing.bootDelayMs, powerStatus: 'active' };
    this.#droplets.set(droplet.id, record);
    // A droplet whose boot fails stays `new`, as a real one that never comes up would.
    const boot = this.hooks.onDropletCreated ?? (async () => this.#nextLoopbackAddress());
    const booted = boot(structuredClone(droplet), record.userData).then((address) => {
      record.publicIpv4 = address;
    });
    this.#recordAction(droplet, 'create', createdAt, record.activeAt, () => undefined, booted);
    return structuredClone(droplet);
  }

  /** 127.0.1.1, 127.0.1.2, ... then 127.0.2.1 after 127.0.1.254: a loopback address of its own per droplet. */
  #nextLoopbackAddress(): string {
    const index = this.#nextLoopbackHost++ - 1;
    return `127.0.${1 + Math.floor(index / 254)}.${1 + (index % 254)}`;
  }

  droplet(id: number): Droplet {
    this.#advance();
    const record = this.#droplets.get(id);
    if (!record) throw missing('droplet');
    return structuredClone(record.droplet);
  }

  /** Droplets in creation order; GPU droplets are listed only with `type=gpus`, and not together with a tag. */
  droplets(filter: { tagName?: string; type?: string }): Droplet[] {
    if (filter.tagName !== undefined && filter.type !== undefined) throw new ApiRefusal(400, 'bad_request', 'tag_name cannot be combined with type.');
    this.#advance();
    const wantsGpu = filter.type === 'gpus';
    return [...this.#droplets.values()]
      .map((record) => record.droplet)
      .filter((droplet) => Boolean(droplet.gpu_info) === wantsGpu)
      .filter((droplet) => filter.tagName === undefined || droplet.tags.includes(filter.tagName))
      .map((droplet) => structuredClone(droplet));
  }

  deleteDroplet(id: number): void {
    const record = this.#droplets.get(id);
    if (!record) throw missing('droplet');
    this.#droplets.delete(id);
    this.#billedUsd += this.#costUsd(record);
    // The machine goes in the background, as a destroyed droplet's does; a failure there is the hook's to report.
    void this.hooks.onDropletDeleted?.(structuredClone(record.droplet)).catch(() => undefined);
  }

  /** DigitalOcean's billing: per second of existence (powered off included), at least 60 s or $0.01. */
  #costUsd(record: DropletRecord): number {
    const seconds = Math.max(60, (this.now() - Date.parse(record.droplet.created_at)) / 1000);
    return Math.max(0.01, (record.droplet.size.price_hourly * seconds) / 3600);
  }

  /** This month's usage so far in USD, as the balance reports it: deleted droplets and running ones. */
  monthToDateUsage(): string {
    const running = [...this.#droplets.values()].reduce((sum, record) => sum + this.#costUsd(record), 0);
    return (this.#billedUsd + running).toFixed(2);
  }

  /** How many droplets exist: the test's proof that nothing is left behind. */
  get dropletCount(): number {
    return this.#droplets.size;
  }

  // Actions.

  startDropletAction(dropletId: number, body: { type?: unknown; name?: unknown }): Action {
    this.#advance();
    const record = this.#droplets.get(dropletId);
    if (!record) throw missing('droplet');
    const { type } = body;
    const isPower = typeof type === 'string' && type in POWER_EFFECT;
    if (type !== 'snapshot' && !isPower) throw refuse(`Action type "${String(type)}" is not supported.`);
    if (isPower && record.droplet.status === 'new') throw refuse('Droplet is not yet active; try again when it is.');
    if (this.#pendingActions(dropletId).length > 0) throw refuse('Droplet already has a pending event.');
    let effect: () => void;
    let work: Promise<void> | undefined;
    if (type === 'snapshot') {
      const name = typeof body.name === 'string' && body.name ? body.name : `${record.droplet.name}-${this.now()}`;
      const snapshotId = String(this.#nextSnapshotId++);
      work = this.hooks.onDropletSnapshot?.(structuredClone(record.droplet), snapshotId);
      effect = () => this.#addSnapshot(record, snapshotId, name);
    } else {
      const power = type as PowerActionType;
      work = this.hooks.onDropletPower?.(structuredClone(record.droplet), power);
      effect = () => {
        record.powerStatus = POWER_EFFECT[power];
      };
    }
    const startedAt = this.now();
    record.droplet.locked = true;
    return this.#recordAction(record.droplet, type, startedAt, startedAt + this.timing.actionDelayMs, effect, work);
  }

  #recordAction(droplet: Droplet, type: string, startedAt: number, completesAt: number, effect: () => void, work?: Promise<void>): Action {
    const action: Action = {
      id: this.#nextActionId++,
      status: 'in-progress',
      type,
      started_at: isoSeconds(startedAt),
      completed_at: null,
      resource_id: droplet.id,
      resource_type: 'droplet',
      region: droplet.region,
      region_slug: droplet.region.slug,
    };
    const record: ActionRecord = { action, completesAt, effect, work: work ? {} : { settledAt: startedAt } };
    work?.then(
      () => (record.work = { settledAt: this.now() }),
      () => (record.work = { settledAt: this.now(), failed: true }),
    );
    this.#actions.set(action.id!, record);
    return structuredClone(action);
  }

  /** The `create` action of a droplet, as the create's answer links it. */
  createActionOf(dropletId: number): Action | undefined {
    const record = [...this.#actions.values()].find(({ action }) => action.resource_id === dropletId && action.type === 'create');
    return record && structuredClone(record.action);
  }

  /** A droplet's actions, newest first, as DigitalOcean lists them. */
  dropletActions(dropletId: number): Action[] {
    this.#advance();
    if (!this.#droplets.has(dropletId)) throw missing('droplet');
    return [...this.#actions.values()]
      .filter(({ action }) => action.resource_id === dropletId)
      .map(({ action }) => structuredClone(action))
      .reverse();
  }

  action(id: number): Action {
    this.#advance();
    const record = this.#actions.get(id);
    if (!record) throw missing('action');
    return structuredClone(record.action);
  }

  // Snapshots and images.

  #addSnapshot(record: DropletRecord, id: string, name: string): void {
    this.#snapshotDistribution.set(id, record.droplet.image.distribution);
    this.#snapshots.set(id, {
      id,
      name,
      created_at: isoSeconds(this.now()),
      regions: [record.droplet.region.slug],
      min_disk_size: record.droplet.disk,
      size_gigabytes: 1.42,
      resource_id: String(record.droplet.id),
      resource_type: 'droplet',
      tags: [],
    });
    record.droplet.snapshot_ids.push(Number(id));
  }

  snapshots(): Snapshot[] {
    this.#advance();
    return [...this.#snapshots.values()].map((snapshot) => structuredClone(snapshot));
  }

  snapshot(id: string): Snapshot {
    const snapshot = this.#snapshots.get(id);
    if (!snapshot) throw missing('snapshot');
    return structuredClone(snapshot);
  }

  /** Deletes a snapshot by its image id, as `DELETE /v2/images/{id}` does. */
  deleteImage(id: string): void {
    if (!this.#snapshots.has(id))
      throw /^\d+$/.test(id) && DISTRIBUTION_IMAGES.some((image) => image.id === Number(id)) ? refuse('A public image cannot be deleted.') : missing('image');
    this.deleteSnapshot(id);
  }

  deleteSnapshot(id: string): void {
    if (!this.#snapshots.delete(id)) throw missing('snapshot');
    // The kept disk goes in the background; a failure there is the hook's to report.
    void this.hooks.onSnapshotDeleted?.(id).catch(() => undefined);
    for (const record of this.#droplets.values()) record.droplet.snapshot_ids = record.droplet.snapshot_ids.filter((kept) => kept !== Number(id));
  }

  images(filter: { type?: string; private?: boolean }): Image[] {
    this.#advance();
    const own = [...this.#snapshots.values()].map((snapshot) => this.#snapshotImage(snapshot));
    if (filter.private) return own;
    if (filter.type === 'distribution') return structuredClone(DISTRIBUTION_IMAGES);
    return [...structuredClone(DISTRIBUTION_IMAGES), ...own];
  }

  image(idOrSlug: string): Image {
    const byId = /^\d+$/.test(idOrSlug) ? Number(idOrSlug) : idOrSlug;
    try {
      return structuredClone(this.#image(byId));
    } catch {
      throw missing('image');
    }
  }

  // Firewalls and tags.

  createTag(name: unknown): Tag {
    validTags([name]).forEach((tag) => this.#tags.add(tag));
    return this.tag(String(name));
  }

  tag(name: string): Tag {
    if (!this.#tags.has(name)) throw missing('tag');
    const count = [...this.#droplets.values()].filter((record) => record.droplet.tags.includes(name)).length;
    return { name, resources: { count, droplets: { count } } };
  }

  tags(): Tag[] {
    return [...this.#tags].map((name) => this.tag(name));
  }

  /** Tags or untags resources as `/v2/tags/{tag}/resources` does: droplets only here, the tag must exist. */
  tagResources(name: string, resources: unknown, add: boolean): void {
    if (!this.#tags.has(name)) throw missing('tag');
    if (!Array.isArray(resources) || resources.length === 0) throw refuse('resources must be a non-empty list.');
    const droplets = resources.map((resource: { resource_id?: unknown; resource_type?: unknown }) => {
      if (resource?.resource_type !== 'droplet') throw refuse('Only droplets can be tagged here.');
      const record = this.#droplets.get(Number(resource.resource_id));
      if (!record) throw missing('droplet');
      return record.droplet;
    });
    for (const droplet of droplets) {
      const kept = droplet.tags.filter((tag) => tag !== name);
      droplet.tags = add ? [...kept, name] : kept;
      void this.hooks.onDropletFirewalls?.(structuredClone(droplet), this.firewalls.list()).catch(() => undefined);
    }
  }

  deleteTag(name: string): void {
    if (!this.#tags.delete(name)) throw missing('tag');
  }
}
