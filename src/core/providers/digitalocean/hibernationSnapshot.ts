/**
 * The snapshot a hibernation keeps, made at most once per droplet however often the hibernation
 * is tried: a try after one whose droplet delete failed (or that was cut off while its snapshot
 * ran) finds that snapshot instead of making a second of the same name.
 */
import type { CostLedger } from '../../cost/ledger';
import { SandboxError } from '../../errors';
import type { DigitalOceanClient, Snapshot } from './api/client';
import { isDigitalOceanError } from './api/errors';

/** A snapshot of a whole disk can take a while; DigitalOcean gives no bound. */
export const SNAPSHOT_TIMEOUT_MS = 60 * 60_000;

export interface HibernationSnapshotRequest {
  dropletId: number;
  /** The droplet's name, for messages. */
  dropletName: string;
  /** The hibernation snapshot's name (one per sandbox). */
  name: string;
  signal?: AbortSignal;
}

/**
 * Waits for a snapshot of the droplet still under way, reuses a finished one of this name, makes
 * one only when there is none, and deletes any duplicates (and their ledger entries) so exactly
 * one is kept and billed.
 */
export async function ensureHibernationSnapshot(client: DigitalOceanClient, ledger: CostLedger, request: HibernationSnapshotRequest): Promise<Snapshot> {
  const { dropletId, name, signal } = request;
  const actions = await client.dropletActions(dropletId, signal);
  // Actions carry no snapshot name: any snapshot of this droplet under way may be ours, so wait for it to finish first.
  const running = actions.filter((action) => action.type === 'snapshot' && action.status === 'in-progress');
  for (const action of running) {
    await client.waitForAction(action.id!, SNAPSHOT_TIMEOUT_MS, signal).catch((error: unknown) => {
      // One that failed made nothing; a new one is made below.
      if (!isDigitalOceanError(error, 'rejected')) throw error;
    });
  }
  let found = await snapshotsNamed(client, dropletId, name, signal);
  // A snapshot from before the droplet last ran (a hibernation whose delete failed, then a start)
  // lacks what the agent did since: it goes, and a new one is made.
  const ranSince = lastRunMs(actions);
  if (found.length > 0 && found.every((snapshot) => Date.parse(snapshot.created_at) < ranSince)) {
    for (const stale of found) await removeSnapshot(client, ledger, stale.id, signal);
    found = [];
  }
  if (found.length === 0) {
    const action = await client.snapshotDroplet(dropletId, name, signal);
    await client.waitForAction(action.id!, SNAPSHOT_TIMEOUT_MS, signal);
    found = await snapshotsNamed(client, dropletId, name, signal);
  }
  // The newest is kept: an older one of the name may predate work done since.
  const kept = found.at(-1);
  const duplicates = found.slice(0, -1);
  if (!kept) {
    throw new SandboxError(
      'provider-error',
      `The snapshot of ${request.dropletName} is not listed after it completed; the droplet is kept (powered off), try again.`,
    );
  }
  for (const duplicate of duplicates) await removeSnapshot(client, ledger, duplicate.id, signal);
  return kept;
}

async function removeSnapshot(client: DigitalOceanClient, ledger: CostLedger, id: string, signal?: AbortSignal): Promise<void> {
  await client.deleteSnapshot(id, signal).catch((error: unknown) => {
    if (!isDigitalOceanError(error, 'not-found')) throw error;
  });
  await ledger.deleteSnapshot(id);
}

/** When the droplet last came up (a power-on, cycle or reboot completed), or 0. */
function lastRunMs(actions: { type?: string; status?: string; completed_at?: string | null }[]): number {
  const ran = actions.filter(
    (action) => ['power_on', 'power_cycle', 'reboot'].includes(action.type ?? '') && action.status === 'completed' && action.completed_at,
  );
  return Math.max(0, ...ran.map((action) => Date.parse(action.completed_at!)));
}

/** This droplet's snapshots of that name, oldest first (the newest is the one kept). */
async function snapshotsNamed(client: DigitalOceanClient, dropletId: number, name: string, signal?: AbortSignal): Promise<Snapshot[]> {
  const snapshots = (await client.dropletSnapshots(signal)).filter((candidate) => candidate.name === name && candidate.resource_id === String(dropletId));
  return snapshots.sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || Number(a.id) - Number(b.id));
}
