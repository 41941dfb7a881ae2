/**
 * A powered-off droplet is billed like a running one. Hibernating keeps its disk as a snapshot and
 * destroys it, so only the snapshot's storage costs; `start` makes the droplet again from that
 * snapshot, under the same name and with the same host key (the one on its disk, pinned here).
 */
import type { Clock } from '../../cost/billing';
import { decideCreate, monthFigures } from '../../cost/budget';
import type { CostLedger } from '../../cost/ledger';
import { readBudgetSettings } from '../../cost/settings';
import { recordedTtlOf } from '../../cost/recordedTtl';
import { SandboxError, describeError } from '../../errors';
import type { SandboxRecord } from '../../model';
import { targetFor } from '../../ssh/session';
import type { StateStore } from '../../store/stateStore';
import type { ProviderSandbox } from '../provider';
import type { DigitalOceanClient, Droplet, Snapshot } from './api/client';
import { isDigitalOceanError } from './api/errors';
import { allowlistProblem, firewallProblem, type FirewallPreparer } from './bootFence';
import { ensureHibernationSnapshot } from './hibernationSnapshot';
import { dropletSandbox, publicIpv4, waitUntilActive, type BootTiming } from './droplets';
import { hibernatedIdOf, hibernatedRef, hibernationName, ownerTag, sandboxIdOf, sandboxIdTag } from './tags';
import { dropletUserData } from './userData';
import { dropletNetworkUserData } from './dropletAllowlist';

export interface HibernationDeps {
  client(): Promise<DigitalOceanClient>;
  /** The firewalls of a network policy, made or put right before a droplet boots under them. */
  firewalls: FirewallPreparer;
  ledger: CostLedger;
  store: StateStore;
  stateRoot: string;
  clock: Clock;
}

const POWER_TIMEOUT_MS = 5 * 60_000;

export class Hibernation {
  constructor(private readonly deps: HibernationDeps) {}

  /** A clean shutdown first (the disk is consistent), a power cut if that fails. */
  async powerOff(id: number, signal?: AbortSignal): Promise<void> {
    const client = await this.deps.client();
    const droplet = await client.droplet(id, signal);
    if (droplet.status === 'off') return;
    try {
      const action = await client.powerAction(id, 'shutdown', signal);
      await client.waitForAction(action.id!, POWER_TIMEOUT_MS, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      const action = await client.powerAction(id, 'power_off', signal);
      await client.waitForAction(action.id!, POWER_TIMEOUT_MS, signal);
    }
  }

  async hibernate(id: number, signal?: AbortSignal): Promise<ProviderSandbox> {
    const client = await this.deps.client();
    const ownerId = await this.deps.store.ownerId();
    const droplet = await client.droplet(id, signal);
    const sandboxId = sandboxIdOf(droplet.tags);
    const record = sandboxId ? await this.deps.store.readRecord(sandboxId) : undefined;
    if (!sandboxId || !record)
      throw new SandboxError('wrong-state', `Droplet ${droplet.name} has no sandbox record here to restore it from; remove it instead.`);
    await this.powerOff(id, signal);
    const name = hibernationName(ownerId, sandboxId);
    const snapshot = await ensureHibernationSnapshot(client, this.deps.ledger, { dropletId: id, dropletName: droplet.name, name, signal });
    const settings = await readBudgetSettings(this.deps.stateRoot);
    await this.deps.ledger.storeSnapshot({
      id: snapshot.id,
      sandbox: droplet.name,
      gb: snapshot.size_gigabytes,
      usdPerGbMonth: settings.snapshotUsdPerGbMonth,
    });
    await client.deleteDroplet(id, signal).catch((error: unknown) => {
      if (!isDigitalOceanError(error, 'not-found')) throw error;
    });
    const entry = (await this.deps.ledger.load()).openMachineOf(droplet.name);
    if (entry) await this.deps.ledger.closeMachine(entry.id, 'hibernated');
    return this.asSandbox(snapshot, record);
  }

  /** Makes the droplet again from its snapshot; the snapshot goes once the droplet answers with the pinned key. */
  async restore(snapshotId: string, timing: BootTiming, signal?: AbortSignal): Promise<ProviderSandbox> {
    const client = await this.deps.client();
    const ownerId = await this.deps.store.ownerId();
    const snapshot = (await client.dropletSnapshots(signal)).find((candidate) => candidate.id === snapshotId);
    const sandboxId = snapshot && hibernatedIdOf(ownerId, snapshot.name);
    const record = sandboxId ? await this.deps.store.readRecord(sandboxId) : undefined;
    const hostKey = record?.cloud?.hostKey ?? record?.ssh?.hostKey;
    if (!snapshot || !record?.cloud || !hostKey) {
      throw new SandboxError('not-found', `The hibernated sandbox's snapshot ${snapshotId} or its record is gone; remove it with \`sandbox rm\`.`);
    }
    const size = { slug: record.cloud.size, usdPerHour: record.cloud.usdPerHour };
    const ttlMs = recordedTtlOf(record);
    const settings = await readBudgetSettings(this.deps.stateRoot);
    const figures = monthFigures(await this.deps.ledger.load(), this.deps.clock(), settings);
    const decision = decideCreate(figures, { sandbox: record.name, size, ttlMs, reserveGb: snapshot.min_disk_size }, settings);
    if (!decision.allowed) throw new SandboxError('resource-limit', decision.refusal!);
    const network = record.profile.network ?? 'default';
    // Under its final firewall from the first moment: the disk is the agent's, and what it left to run at boot runs now.
    const firewalls = await this.deps.firewalls(network, signal);
    const entry = await this.deps.ledger.openMachine({
      sandbox: record.name,
      provider: 'digitalocean',
      size: size.slug,
      usdPerHour: size.usdPerHour,
      ttlMs,
      reserveGb: snapshot.min_disk_size,
      agent: record.agentId,
    });
    let dropletId: number;
    try {
      const droplet = await client.createDroplet(
        {
          name: record.name,
          region: snapshot.regions[0] ?? record.cloud.region,
          size: size.slug,
          image: Number(snapshotId),
          tags: [ownerTag(ownerId), sandboxIdTag(record.id), firewalls.finalTag],
          userData: dropletUserData({
            user: record.user,
            workdir: record.workdir,
            authorizedKey: (await this.deps.store.clientKey(record.id)).publicKey,
            sudo: record.profile.sudo,
            // Nothing to install: the disk has it all, and a none firewall shuts the mirror out.
            packages: [],
            desktop: record.profile.desktop,
            network: dropletNetworkUserData(record.profile),
          }),
        },
        signal,
      );
      dropletId = droplet.id;
    } catch (error) {
      if (isDigitalOceanError(error, 'rejected')) await this.deps.ledger.closeMachine(entry.id, 'destroyed');
      throw error;
    }
    let active: Droplet;
    try {
      active = await waitUntilActive(client, dropletId, timing, signal);
      const { privateKey } = await this.deps.store.clientKey(record.id);
      const target = targetFor(record.name, { host: publicIpv4(active)!, port: 22, user: record.user, hostKey }, { privateKey });
      const problem =
        (await allowlistProblem(target, record.profile, { user: record.user, timing, signal })) ?? (await firewallProblem(client, firewalls, signal));
      if (problem) {
        throw new SandboxError(
          'provider-error',
          `The restored droplet of ${record.name} was removed because ${problem}; its snapshot is kept, so \`sandbox start ${record.name}\` tries again.`,
        );
      }
    } catch (error) {
      // The snapshot stays (the sandbox is still hibernated); the droplet that did not come up goes, and stops costing.
      // If the delete fails too, the entry stays open: the droplet is priced until a listing finds it gone.
      const deleted = await client.deleteDroplet(dropletId).then(
        () => true,
        (failure: unknown) => isDigitalOceanError(failure, 'not-found'),
      );
      if (deleted) await this.deps.ledger.closeMachine(entry.id, 'destroyed');
      if (!deleted && !signal?.aborted) {
        throw new SandboxError(
          'provider-error',
          `${record.name} could not be restored (${describeError(error)}), and its new droplet ${dropletId} could not be removed, so it still runs and is priced; remove droplet ${dropletId} in DigitalOcean's control panel.`,
        );
      }
      throw error;
    }
    await client.deleteSnapshot(snapshotId, signal).catch((error: unknown) => {
      if (!isDigitalOceanError(error, 'not-found')) throw error;
    });
    await this.deps.ledger.deleteSnapshot(snapshotId);
    return dropletSandbox(active, { ...record, cloud: { ...record.cloud, hibernatedAs: undefined } }, record.profile);
  }

  /** Every hibernated sandbox of this owner (its snapshot, by name). */
  async list(ownerId: string): Promise<ProviderSandbox[]> {
    const client = await this.deps.client();
    const found: ProviderSandbox[] = [];
    for (const snapshot of await client.dropletSnapshots()) {
      const sandboxId = hibernatedIdOf(ownerId, snapshot.name);
      if (!sandboxId) continue;
      const record = await this.deps.store.readRecord(sandboxId);
      if (record) found.push(this.asSandbox(snapshot, record));
    }
    return found;
  }

  async inspect(snapshotId: string): Promise<ProviderSandbox | undefined> {
    const ownerId = await this.deps.store.ownerId();
    return (await this.list(ownerId)).find((sandbox) => sandbox.cloud?.hibernatedAs === snapshotId);
  }

  private asSandbox(snapshot: Snapshot, record: SandboxRecord): ProviderSandbox {
    return {
      id: record.id,
      name: record.name,
      agentId: record.agentId,
      profile: record.profile,
      user: record.user,
      workdir: record.workdir,
      createdAt: record.createdAt,
      providerRef: hibernatedRef(snapshot.id),
      state: 'stopped',
      stoppedAt: snapshot.created_at,
      ports: {},
      cloud: {
        region: snapshot.regions[0] ?? record.cloud?.region ?? '',
        size: record.cloud?.size ?? '',
        usdPerHour: record.cloud?.usdPerHour ?? 0,
        hostKey: record.cloud?.hostKey ?? record.ssh?.hostKey,
        hibernatedAs: snapshot.id,
        ttlMs: record.cloud?.ttlMs,
      },
    };
  }
}
