import { SandboxError } from '../errors';
import type { SandboxRecord } from '../model';
import type { ProviderSet } from '../providers/registry';
import type { StateStore } from '../store/stateStore';
import type { SshConfigWriter } from '../connections/sshConfigWriter';
import type { EventBus } from '../events/bus';
import { markMissing, matchRecord, mergeRecord, planReconcile, type ProviderListing } from './records';
import type { ReconcileReport } from './types';

export interface SandboxCatalogDeps {
  store: StateStore;
  providers: ProviderSet;
  events: EventBus;
  sshConfig: SshConfigWriter;
  /** Called with every full listing (commands whose owner is gone are killed then). */
  onListed(records: SandboxRecord[]): Promise<void>;
}

/** Which sandboxes exist: the records of this state dir, reconciled with what the providers report. */
export class SandboxCatalog {
  constructor(private readonly deps: SandboxCatalogDeps) {}

  /** list_vms: every sandbox of this state dir, reconciled with the providers. */
  async list(): Promise<SandboxRecord[]> {
    const records = (await this.reconcile()).records;
    await this.deps.onListed(records);
    return records;
  }

  /** get_vm_status */
  async status(ref: string): Promise<SandboxRecord> {
    const record = await this.resolve(ref);
    if (!record.providerRef) return record;
    const provider = this.deps.providers.get(record.provider);
    const sandbox = await provider.inspect(record.providerRef);
    const updated = sandbox ? mergeRecord(record, sandbox) : markMissing(record, provider);
    if (JSON.stringify(updated) !== JSON.stringify(record)) await this.deps.store.replaceRecord(updated);
    if (updated.state === 'lost' && record.state !== 'lost') await this.tellFailed(updated, 'lost');
    return updated;
  }

  /** Brings the records in line with every provider's listing, takes in machines without a record, and says what changed. */
  async reconcile(): Promise<ReconcileReport & { records: SandboxRecord[] }> {
    const { store, providers, events } = this.deps;
    const ownerId = await store.ownerId();
    const records = await store.listRecords();
    const listings: ProviderListing[] = [];
    for (const [kind, provider] of providers.entries()) listings.push({ kind, provider, sandboxes: await provider.list(ownerId) });
    const plan = planReconcile(records, listings);
    for (const record of plan.changed) await store.replaceRecord(record);
    for (const adopted of plan.adoptedRecords) {
      await store.writeRecord(adopted);
      await events.emit({ type: 'sandbox.adopted', sandboxId: adopted.id, name: adopted.name, provider: adopted.provider, providerRef: adopted.providerRef ?? '' });
    }
    for (const record of plan.changed) {
      if (plan.lost.includes(record.name)) await this.tellFailed(record, 'lost');
      else if (plan.interrupted.includes(record.name)) await this.tellFailed(record, 'interrupted');
    }
    await this.deps.sshConfig.refresh(plan.records);
    return { adopted: plan.adopted, lost: plan.lost, interrupted: plan.interrupted, records: plan.records };
  }

  private async tellFailed(record: SandboxRecord, reason: 'lost' | 'interrupted'): Promise<void> {
    await this.deps.events.emit({ type: 'sandbox.failed', sandboxId: record.id, name: record.name, reason, problem: record.problem });
  }

  /** Finds a sandbox by id, name, or a unique prefix of either. */
  async resolve(ref: string): Promise<SandboxRecord> {
    const found = matchRecord(await this.deps.store.listRecords(), ref);
    if (found) return found;
    // Maybe made by another state dir of the same owner, or never recorded: ask the providers.
    const reconciled = matchRecord(await this.list(), ref);
    if (reconciled) return reconciled;
    throw new SandboxError('not-found', `No sandbox is called ${ref}; see \`sandbox list\`.`);
  }
}
