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
    if (JSON.stringify(updated) !== JSON.stringify(record) && !(await this.deps.store.replaceRecordIf(record, updated))) {
      // Another process changed or deleted it meanwhile: its change stands.
      return (await this.deps.store.readRecord(record.id)) ?? updated;
    }
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
    const before = new Map(records.map((record) => [record.id, record]));
    // Another process may have changed or deleted a record since it was read: its change stands.
    const overtaken = new Map<string, SandboxRecord | undefined>();
    const written: SandboxRecord[] = [];
    for (const record of plan.changed) {
      if (await store.replaceRecordIf(before.get(record.id) ?? null, record)) written.push(record);
      else overtaken.set(record.id, await store.readRecord(record.id));
    }
    const adopted: string[] = [];
    for (const record of plan.adoptedRecords) {
      if (await store.replaceRecordIf(null, record)) {
        adopted.push(record.name);
        await events.emit({
          type: 'sandbox.adopted',
          sandboxId: record.id,
          name: record.name,
          provider: record.provider,
          providerRef: record.providerRef ?? '',
        });
      } else {
        overtaken.set(record.id, await store.readRecord(record.id));
      }
    }
    for (const record of written) {
      if (plan.lost.includes(record.name)) await this.tellFailed(record, 'lost');
      else if (plan.interrupted.includes(record.name)) await this.tellFailed(record, 'interrupted');
    }
    const overtakenNames = new Set(plan.records.filter((record) => overtaken.has(record.id)).map((record) => record.name));
    if (overtaken.size > 0) {
      plan.records = plan.records.flatMap((record) => (overtaken.has(record.id) ? (overtaken.get(record.id) ?? []) : [record]));
    }
    await this.deps.sshConfig.refresh(plan.records);
    return {
      adopted,
      lost: plan.lost.filter((name) => !overtakenNames.has(name)),
      interrupted: plan.interrupted.filter((name) => !overtakenNames.has(name)),
      records: plan.records,
    };
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
