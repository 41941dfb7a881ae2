import type { SandboxRecord } from '../model';
import type { StateStore } from '../store/stateStore';
import { DEFAULT_TTL_MS } from './ttl';

/** Tries before an extension gives up on a record other processes keep rewriting (the ledger has it either way). */
const ATTEMPTS = 5;

/**
 * The time-to-live a cloud sandbox is given again when it is restored from hibernation: its
 * create's plus every extension, as kept on its record; the default for a record made before that.
 */
export function recordedTtlOf(record: Pick<SandboxRecord, 'cloud'>): number {
  const ttlMs = record.cloud?.ttlMs;
  return ttlMs !== undefined && ttlMs > 0 ? ttlMs : DEFAULT_TTL_MS;
}

/**
 * `sandbox extend`: adds the extension to the time-to-live on the record, written only over the
 * record as read (a listing rewriting it meanwhile makes this read it again). False when the
 * record is gone or not a cloud sandbox's.
 */
export async function addToRecordedTtl(store: Pick<StateStore, 'readRecord' | 'replaceRecordIf'>, sandboxId: string, byMs: number): Promise<boolean> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const record = await store.readRecord(sandboxId);
    if (!record?.cloud) return false;
    const next: SandboxRecord = { ...record, cloud: { ...record.cloud, ttlMs: recordedTtlOf(record) + byMs } };
    if (await store.replaceRecordIf(record, next)) return true;
  }
  return false;
}
