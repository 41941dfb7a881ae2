import { SandboxError } from './errors';
import type { SandboxRecord } from './model';

/** A create that died before it finished: its record still names the process that made it. */
export function isInterrupted(record: SandboxRecord): boolean {
  return record.state === 'error' && record.creator !== undefined;
}

/** Why a sandbox without a usable machine cannot take work, and what to do. */
export function brokenError(record: SandboxRecord): SandboxError {
  return new SandboxError('wrong-state', record.problem ?? `${record.name} has no machine; remove it with \`sandbox rm ${record.name}\`.`);
}

/**
 * Refuses work on a sandbox that cannot take it, with the reason and what to do. `internal`: a
 * step of the create itself, which works on a sandbox still `creating`.
 */
export function assertUsable(record: SandboxRecord, internal: boolean): void {
  if (!record.providerRef || record.state === 'lost' || isInterrupted(record)) throw brokenError(record);
  if (record.state === 'creating' && !internal) {
    throw new SandboxError('wrong-state', `${record.name} is still being created; wait for its start to finish.`);
  }
  if (record.state === 'stopped') {
    throw new SandboxError('wrong-state', `${record.name} is stopped; start it with \`sandbox start ${record.name}\`.`);
  }
}
