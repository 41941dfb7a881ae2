/**
 * Listing the sandboxes of a DigitalOcean account: our droplets by tag and our hibernation
 * snapshots, reused while nothing changed (listingCache.ts), and the ledger entries of machines
 * no longer there closed as vanished.
 */
import * as path from 'node:path';
import type { Clock } from '../../cost/billing';
import type { CostLedger } from '../../cost/ledger';
import { vanishedEntries } from '../../cost/reconcile';
import { SandboxError, describeError, isSandboxError } from '../../errors';
import type { SandboxRecord } from '../../model';
import type { StateStore } from '../../store/stateStore';
import type { ListOptions, ProviderSandbox } from '../provider';
import type { DigitalOceanClient } from './api/client';
import { dropletSandbox, fallbackProfile, sandboxIdOfDroplet } from './droplets';
import type { Hibernation } from './hibernation';
import { ListingCache, RecordsFingerprint } from './listingCache';
import { ownerTag } from './tags';

/** Longer than any create or restore takes from its ledger entry to its droplet in a listing. */
const VANISHED_AFTER_MS = 15 * 60_000;
const KIND = 'digitalocean';

export interface DropletListingDeps {
  client(): Promise<DigitalOceanClient>;
  hibernation: Hibernation;
  store: StateStore;
  ledger: CostLedger;
  clock: Clock;
}

export class DropletListing {
  /** Why the last listing failed, so a sandbox missing from it is not taken for gone. */
  problem?: string;
  private readonly listings: ListingCache<ProviderSandbox[]>;

  constructor(private readonly deps: DropletListingDeps) {
    const records = new RecordsFingerprint(path.dirname(deps.store.recordPath('-')), (record) => record.provider === KIND);
    this.listings = new ListingCache({ clock: deps.clock, fingerprint: () => records.read() });
  }

  /**
   * Every sandbox of the owner, or none when the API cannot be read (with `problem` set), unless
   * `strict`: then a failed listing throws (a cleanup must not take it for an empty one), and the
   * listing is read afresh.
   */
  async list(ownerId: string, options: ListOptions = {}): Promise<ProviderSandbox[]> {
    try {
      const listed = options.strict ? await this.listAfresh(ownerId) : await this.listings.read(ownerId, () => this.listAfresh(ownerId));
      this.problem = undefined;
      return listed.map((sandbox) => structuredClone(sandbox));
    } catch (error) {
      // Signed out, or the API down: the cloud's sandboxes are unknown now, not gone.
      const problem = isSandboxError(error) ? error.message : `DigitalOcean could not be listed (${describeError(error)}); try again.`;
      if (options.strict) throw isSandboxError(error) ? error : new SandboxError('provider-error', problem, { cause: error });
      this.problem = problem;
      return [];
    }
  }

  /** A droplet was made, restored, hibernated or destroyed here: listings from before it are not reused. */
  invalidate(): void {
    this.listings.invalidate();
  }

  private async listAfresh(ownerId: string): Promise<ProviderSandbox[]> {
    const client = await this.deps.client();
    const [droplets, hibernated] = await Promise.all([client.dropletsByTag(ownerTag(ownerId)), this.deps.hibernation.list(ownerId)]);
    const records = new Map((await this.deps.store.listRecords()).map((record) => [record.id, record]));
    const machines = droplets.map((droplet) => dropletSandbox(droplet, records.get(sandboxIdOfDroplet(droplet)), fallbackProfile(droplet)));
    const listed = [...machines, ...hibernated];
    await this.closeVanished(listed, [...records.values()]);
    return listed;
  }

  /**
   * Ledger entries whose droplet is not listed and whose create is not under way (a create killed
   * before its droplet existed, a droplet destroyed elsewhere): closed as vanished, priced up to now.
   */
  private async closeVanished(listed: ProviderSandbox[], records: SandboxRecord[]): Promise<void> {
    const { ledger, clock } = this.deps;
    const accounted = new Set(listed.filter((sandbox) => !sandbox.cloud?.hibernatedAs).map((sandbox) => sandbox.name));
    for (const record of records) if (record.provider === KIND && record.state === 'creating') accounted.add(record.name);
    const book = await ledger.load();
    for (const id of vanishedEntries(book, accounted)) {
      const entry = book.machines.get(id);
      // An entry opened a moment ago may be a create or restore whose droplet is not listed yet.
      if (entry?.provider === KIND && clock() - entry.openedMs > VANISHED_AFTER_MS) await ledger.closeMachine(id, 'vanished');
    }
  }
}
