import * as os from 'node:os';
import { SandboxError } from '../errors';
import type { ProviderKind, SandboxRecord } from '../model';
import type { Provider, ProviderSandbox } from '../providers/provider';
import { isInterrupted } from '../sandboxState';
import type { ReconcileReport } from './types';

/**
 * The rules that keep records (a cache) in line with what providers report (the truth). Pure:
 * no store, no engine; the listing service applies what they decide.
 */

/** A create that has sat in `creating` this long is interrupted even if its pid now belongs to someone else. */
export const CREATE_STALE_MS = 30 * 60 * 1000;

/** A record updated from its machine as the provider sees it. */
export function mergeRecord(record: SandboxRecord, sandbox: ProviderSandbox): SandboxRecord {
  const merged: SandboxRecord = {
    ...record,
    providerRef: sandbox.providerRef,
    state: sandbox.state,
    problem: sandbox.problem,
    ports: sandbox.ports,
    ssh: sandbox.ssh,
    placement: sandbox.placement,
    limits: sandbox.limits,
    cloud: sandbox.cloud,
    startedAt: sandbox.startedAt ?? record.startedAt,
    stoppedAt: sandbox.stoppedAt,
  };
  if (record.state === 'creating' || isInterrupted(record)) return creatingState(merged, record);
  const changed = merged.state !== record.state || merged.problem !== record.problem;
  return changed ? { ...merged, updatedAt: new Date().toISOString() } : merged;
}

/**
 * A record whose machine the provider did not list: lost, unless its host did not answer
 * (`provider.unreachable`) or its create is still under way.
 */
export function markMissing(record: SandboxRecord, provider?: Pick<Provider, 'unreachable'>): SandboxRecord {
  if (record.state === 'creating' || isInterrupted(record)) return creatingState(record, record);
  if (record.state === 'lost') return record;
  // Not listed because its host did not answer: unknown, not gone.
  const unreachable = record.providerRef ? provider?.unreachable?.(record.providerRef) : undefined;
  if (unreachable) {
    if (record.state === 'error' && record.problem === unreachable) return record;
    return { ...record, state: 'error', problem: unreachable, updatedAt: new Date().toISOString() };
  }
  return {
    ...record,
    ports: {},
    ssh: undefined,
    state: 'lost',
    problem: `The machine of ${record.name} is gone (removed outside Agent Sandboxes); forget it with \`sandbox rm ${record.name}\`.`,
    updatedAt: new Date().toISOString(),
  };
}

/** A sandbox still being made: leave it to its creator while that process lives. */
export function creatingState(current: SandboxRecord, record: SandboxRecord): SandboxRecord {
  if (record.state === 'creating' && creatorAlive(record)) return { ...current, state: 'creating', problem: undefined };
  return {
    ...current,
    state: 'error',
    problem: `Creating ${record.name} was interrupted; remove it with \`sandbox rm ${record.name}\` or \`sandbox prune\`.`,
    updatedAt: isInterrupted(record) ? record.updatedAt : new Date().toISOString(),
  };
}

/** Whether the process that is creating this sandbox still runs (trusted until stale when on another machine). */
export function creatorAlive(record: SandboxRecord): boolean {
  const creator = record.creator;
  if (!creator) return false;
  if (Date.now() - Date.parse(record.createdAt) > CREATE_STALE_MS) return false;
  if (creator.host !== os.hostname()) return true; // cannot tell from here; trust it until stale
  try {
    process.kill(creator.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The sandbox an id, a name, or a unique prefix of either names; undefined when none does. */
export function matchRecord(records: SandboxRecord[], ref: string): SandboxRecord | undefined {
  const exact = records.find((r) => r.id === ref) ?? records.find((r) => r.name === ref);
  if (exact) return exact;
  const candidates = records.filter((r) => r.id.startsWith(ref) || r.name.startsWith(ref));
  if (candidates.length > 1) {
    const names = candidates.map((r) => r.name).join(', ');
    throw new SandboxError('ambiguous', `"${ref}" matches several sandboxes (${names}); give more of the name or id.`);
  }
  return candidates[0];
}

/** What one provider listed for this owner. */
export interface ProviderListing {
  kind: ProviderKind;
  provider: Pick<Provider, 'unreachable'>;
  sandboxes: ProviderSandbox[];
}

/** What a reconcile decided: every record after it, which to rewrite, which to take in. */
export interface ReconcilePlan extends ReconcileReport {
  /** In creation order; records of a provider not set up here are left out. */
  records: SandboxRecord[];
  /** Known records whose content changed. */
  changed: SandboxRecord[];
  /** Machines ours by label without a record here. */
  adoptedRecords: SandboxRecord[];
}

/** Compares the records with the providers' listings, provider by provider. */
export function planReconcile(records: SandboxRecord[], listings: ProviderListing[]): ReconcilePlan {
  const plan: ReconcilePlan = { adopted: [], lost: [], interrupted: [], records: [], changed: [], adoptedRecords: [] };
  for (const { kind, provider, sandboxes } of listings) {
    const remote = new Map(sandboxes.map((sandbox) => [sandbox.id, sandbox]));
    for (const record of records.filter((r) => r.provider === kind)) {
      const sandbox = remote.get(record.id);
      remote.delete(record.id);
      const updated = sandbox ? mergeRecord(record, sandbox) : markMissing(record, provider);
      if (updated.state === 'lost' && record.state !== 'lost') plan.lost.push(record.name);
      if (isInterrupted(updated) && !isInterrupted(record)) plan.interrupted.push(record.name);
      if (JSON.stringify(updated) !== JSON.stringify(record)) plan.changed.push(updated);
      plan.records.push(updated);
    }
    for (const sandbox of remote.values()) {
      // Ours (by label) but unknown here: the provider is the truth, so take it in.
      const adopted = mergeRecord({ ...sandbox, provider: kind, state: sandbox.state, updatedAt: new Date().toISOString() }, sandbox);
      plan.adoptedRecords.push(adopted);
      plan.adopted.push(adopted.name);
      plan.records.push(adopted);
    }
  }
  plan.records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  return plan;
}
