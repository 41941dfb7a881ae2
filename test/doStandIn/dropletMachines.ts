/**
 * The stand-in API's droplets as real machines: each droplet a container of the droplet image
 * (dropletContainer.ts) answering SSH on a loopback address of its own, each snapshot an engine
 * image committed from one. Everything made carries DROPLET_TEST_LABEL with this run's value, and
 * close() removes exactly that: by the ids recorded, then by the run's label.
 */
import * as net from 'node:net';
import type { Droplet, Firewall } from '../../src/core/providers/digitalocean/api/client';
import { docker } from '../integration/helpers';
import {
  DROPLET_TEST_LABEL,
  ensureDropletImage,
  powerOnDroplet,
  rebootDroplet,
  removeDroplets,
  removeSnapshots,
  snapshotDroplet,
  startDroplet,
  stopDroplet,
  type DropletContainer,
} from './dropletContainer';
import { enforceFirewall, outboundOf } from './firewallModel';
import type { DropletHooks, PowerActionType } from './state';

/** Addresses tried for one droplet when another run holds them (127.0.1.N:22 is shared by every run on the engine). */
const ADDRESS_ATTEMPTS = 8;
const ADDRESSES = 254;

export class DropletMachines {
  /** Container ids per droplet id, every attempt included, recorded before anything can fail. */
  readonly #containers = new Map<number, string[]>();
  readonly #booted = new Map<number, Promise<DropletContainer>>();
  readonly #addressIndex = new Map<number, number>();
  readonly #snapshotImages = new Map<string, string>();
  readonly #madeImages: string[] = [];
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #dropletRemovals = new Set<Promise<unknown>>();
  readonly #imageRemovals = new Set<Promise<unknown>>();
  readonly #firewallChanges = new Map<number, Promise<void>>();
  /** A random start, so parallel runs mostly keep off each other's addresses. */
  #nextIndex = 1 + Math.floor(Math.random() * ADDRESSES);
  #closed = false;
  /** What went wrong with a machine (a boot, a power change, a snapshot): a test should find none. */
  readonly failures: string[] = [];

  private constructor(
    readonly image: string,
    readonly runLabel: string,
  ) {}

  /** Builds the droplet image when the engine lacks it (see ensureDropletImage). */
  static async start(runLabel: string): Promise<DropletMachines> {
    return new DropletMachines(await ensureDropletImage(), runLabel);
  }

  /** The stand-in's hooks: a create boots a container, actions power and snapshot it, deletes remove it. */
  get hooks(): Required<DropletHooks> {
    return {
      onDropletCreated: async (droplet, userData) => (await this.#track(droplet.id, 'boot', this.#boot(droplet, userData ?? ''))).ipv4,
      onDropletDeleted: (droplet) => this.#removal(this.#dropletRemovals, this.#removeDroplet(droplet.id)),
      onDropletPower: (droplet, type) => this.#track(droplet.id, type, this.#power(droplet.id, type)),
      onDropletSnapshot: (droplet, snapshotId) => this.#track(droplet.id, `snapshot ${snapshotId}`, this.#snapshot(droplet.id, snapshotId)),
      onSnapshotDeleted: (snapshotId) => this.#removal(this.#imageRemovals, this.#removeSnapshot(snapshotId)),
      onDropletFirewalls: (droplet, firewalls) => this.#track(droplet.id, 'firewall', this.#firewall(droplet, firewalls)),
    };
  }

  /** Ids of this run's droplet containers on the engine, running or not. */
  async containers(): Promise<string[]> {
    const listed = await docker.listContainers({ all: true, filters: { label: [`${DROPLET_TEST_LABEL}=${this.runLabel}`] } });
    return listed.map((container) => container.Id);
  }

  /** Ids of this run's snapshot images on the engine. */
  async images(): Promise<string[]> {
    const listed = await docker.listImages({ filters: { label: [`${DROPLET_TEST_LABEL}=${this.runLabel}`] } });
    return listed.map((image) => image.Id);
  }

  /** The container of a droplet (its latest, when another run's address made it start over). */
  containerOf(dropletId: number): string | undefined {
    return this.#containers.get(dropletId)?.at(-1);
  }

  /** The engine image a snapshot id stands for, while the snapshot exists. */
  imageOfSnapshot(snapshotId: string): string | undefined {
    return this.#snapshotImages.get(snapshotId);
  }

  /** Waits for a droplet's machine work, noting a failure unless the droplet or the stand-in went meanwhile. */
  async #track<T>(dropletId: number, what: string, work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    try {
      return await work;
    } catch (error) {
      if (!this.#closed && this.#containers.has(dropletId)) {
        this.failures.push(`${what} of droplet ${dropletId}: ${error instanceof Error ? error.message : String(error)}`);
      }
      throw error;
    } finally {
      this.#inFlight.delete(work);
    }
  }

  async #removal(pending: Set<Promise<unknown>>, work: Promise<void>): Promise<void> {
    pending.add(work);
    await work.finally(() => pending.delete(work));
  }

  async #boot(droplet: Droplet, userData: string): Promise<DropletContainer> {
    const made: string[] = [];
    this.#containers.set(droplet.id, made);
    if (this.#closed) throw new Error('the stand-in is closing');
    // Every distribution image (Ubuntu 24.04 and 22.04, Debian 12) boots the one droplet image.
    const image = droplet.image.type === 'snapshot' ? this.#snapshotImages.get(String(droplet.image.id)) : this.image;
    if (!image) throw new Error(`snapshot ${droplet.image.id} has no image on the engine`);
    const booting = this.#startOnFreeAddress(droplet, image, userData, made);
    this.#booted.set(droplet.id, booting);
    return booting;
  }

  /** Starts the droplet's container on the next address nothing answers on, moving on when another run took it meanwhile. */
  async #startOnFreeAddress(droplet: Droplet, image: string, userData: string, made: string[]): Promise<DropletContainer> {
    for (let attempt = 1; ; attempt++) {
      const index = await this.#freeAddressIndex();
      this.#addressIndex.set(droplet.id, index);
      const name = `${this.runLabel}-${droplet.id}`;
      try {
        return await startDroplet({ image, userData, index, name, hostname: droplet.name, instanceId: String(droplet.id), runLabel: this.runLabel, made });
      } catch (error) {
        const taken = /already allocated|address already in use/i.test(String(error));
        if (!taken || attempt >= ADDRESS_ATTEMPTS || this.#closed) throw error;
        await removeDroplets(made.splice(0));
      }
    }
  }

  async #freeAddressIndex(): Promise<number> {
    const inUse = new Set(this.#addressIndex.values());
    for (let tried = 0; tried < ADDRESSES; tried++) {
      const index = this.#nextIndex;
      this.#nextIndex = (this.#nextIndex % ADDRESSES) + 1;
      if (!inUse.has(index) && !(await answers(`127.0.1.${index}`, 22))) return index;
    }
    throw new Error('every stand-in droplet address 127.0.1.1-254 is taken');
  }

  #machine(dropletId: number): Promise<DropletContainer> {
    const booted = this.#booted.get(dropletId);
    if (!booted) return Promise.reject(new Error(`droplet ${dropletId} has no machine`));
    return booted;
  }

  async #power(dropletId: number, type: PowerActionType): Promise<void> {
    const machine = await this.#machine(dropletId);
    if (type === 'power_off' || type === 'shutdown') await stopDroplet(machine);
    else if (type === 'power_on') await powerOnDroplet(machine);
    else await rebootDroplet(machine);
  }

  /** Enforces the droplet's firewalls in the order their changes came (a tag added, then one taken off). */
  #firewall(droplet: Droplet, firewalls: Firewall[]): Promise<void> {
    const previous = this.#firewallChanges.get(droplet.id) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => enforceFirewall((await this.#machine(droplet.id)).id, outboundOf(firewalls, droplet.tags, droplet.id)));
    this.#firewallChanges.set(droplet.id, next);
    return next;
  }

  /** Resolves once the firewall changes made so far are in force on the droplet. */
  async firewallsSettled(dropletId: number): Promise<void> {
    await this.#firewallChanges.get(dropletId);
  }

  async #snapshot(dropletId: number, snapshotId: string): Promise<void> {
    const machine = await this.#machine(dropletId);
    this.#snapshotImages.set(snapshotId, await snapshotDroplet(machine, this.runLabel, this.#madeImages));
  }

  async #removeDroplet(dropletId: number): Promise<void> {
    const made = this.#containers.get(dropletId) ?? [];
    this.#containers.delete(dropletId);
    this.#booted.delete(dropletId);
    this.#addressIndex.delete(dropletId);
    await removeDroplets(made);
  }

  /** Removes a snapshot's image once the droplets being deleted are gone; one a droplet still uses stays until close(). */
  async #removeSnapshot(snapshotId: string): Promise<void> {
    const image = this.#snapshotImages.get(snapshotId);
    this.#snapshotImages.delete(snapshotId);
    if (!image) return;
    await Promise.allSettled(this.#dropletRemovals);
    await removeSnapshots([image]).catch(() => undefined);
  }

  /** Removes this run's containers and images, waiting for boots and actions under way; fails naming what could not go. */
  async close(): Promise<void> {
    this.#closed = true;
    const problems: string[] = [];
    const removeContainers = async (ids: string[]) => {
      for (const id of ids) await removeDroplets([id]).catch((error: unknown) => problems.push(`container ${id.slice(0, 12)}: ${String(error)}`));
    };
    await removeContainers([...this.#containers.values()].flat());
    // Boots under way fail fast once their container is gone; what they made meanwhile goes next.
    await Promise.allSettled([...this.#inFlight, ...this.#dropletRemovals, ...this.#imageRemovals]);
    // A first removal that met one under way (409) is tried again here.
    problems.length = 0;
    await removeContainers([...[...this.#containers.values()].flat(), ...(await this.containers())]);
    // Newest first: a snapshot of a restored droplet is a child of the snapshot it was restored from.
    for (const id of [...[...this.#madeImages].reverse(), ...(await this.images())]) {
      await removeSnapshots([id]).catch((error: unknown) => problems.push(`image ${id.slice(0, 19)}: ${String(error)}`));
    }
    if (problems.length > 0) throw new Error(`Some of the stand-in's droplets or snapshots could not be removed: ${problems.join('; ')}`);
  }
}

/** Whether anything accepts a connection on host:port. */
function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(500, () => done(true));
    socket.on('connect', () => done(true));
    socket.on('error', () => done(false));
  });
}
