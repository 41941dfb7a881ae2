/**
 * A create that failed and whose cleanup failed too (a cloud API down cannot remove the droplet
 * it may have made): the record is kept as a failed create, and the error says what is left and
 * what becomes of it, never that it was removed.
 */
import * as os from 'node:os';
import { CostLedger } from '../cost/ledger';
import { SandboxError, describeError, isSandboxError } from '../errors';
import type { SandboxRecord } from '../model';
import type { StateStore } from '../store/stateStore';

/** Marks the record as a failed create (listed as such; `sandbox prune`, or the daemon for a priced one, removes it) and returns the error to throw. */
export async function keepFailedCreate(store: StateStore, record: SandboxRecord, failure: unknown, cleanup: unknown): Promise<SandboxError> {
  const book = await new CostLedger(store.root, Date.now).load().catch(() => undefined);
  // Priced: the daemon's cost check destroys a failed create whose machine still costs.
  const fate = book?.openMachineOf(record.name)
    ? 'it stays priced, is listed as a failed create, and the daemon destroys it at its next check'
    : `it is listed as a failed create; remove it with \`sandbox rm ${record.name}\` once the provider answers`;
  const left = record.providerRef ? 'its machine could not be removed' : 'whether it made a machine could not be checked';
  // The cleanup's own reason, unless it is the create's (the same API down).
  const reason = describeError(cleanup) === describeError(failure) ? '' : ` (${withoutStop(describeError(cleanup))})`;
  const problem = `Creating ${record.name} failed and ${left}${reason}; ${fate}.`;
  const failed: SandboxRecord = {
    ...record,
    state: 'error',
    problem,
    // A record naming its creator in error is an interrupted create (sandboxState.isInterrupted).
    creator: record.creator ?? { pid: process.pid, host: os.hostname() },
    updatedAt: new Date().toISOString(),
  };
  await store.writeRecord(failed).catch(() => undefined);
  const code = isSandboxError(failure) ? failure.code : 'provider-error';
  return new SandboxError(code, `${withoutStop(describeError(failure))}. ${problem}`, { cause: failure });
}

function withoutStop(message: string): string {
  return message.trim().replace(/[.\s]+$/, '');
}
