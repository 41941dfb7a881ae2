import * as path from 'node:path';
import { SandboxError } from '../errors';
import { acquirePidLock, livePidLockHolder, type PidLockHolder } from '../tasks/pidLock';

export const COLLECTOR_LOCK_FILE = 'collector.lock';

/** What runs the collector: the daemon, or `sandbox collector run` alone. */
export type CollectorRole = 'daemon' | 'collector run';

export function collectorLockFile(stateRoot: string): string {
  return path.join(stateRoot, COLLECTOR_LOCK_FILE);
}

/** The process that runs the collector of this state dir now, if one does. */
export function runningCollector(stateRoot: string): PidLockHolder | undefined {
  return livePidLockHolder(collectorLockFile(stateRoot));
}

/** Makes this process the store's one writer; refuses, in one sentence, while another process is. Returns the release. */
export function acquireCollectorLock(stateRoot: string, role: CollectorRole): () => void {
  return acquirePidLock(
    collectorLockFile(stateRoot),
    (holder) =>
      new SandboxError(
        'conflict',
        holder.role === 'daemon'
          ? `The daemon (pid ${holder.pid}) already runs the collector for this state dir; stop it with \`sandbox daemon stop\` to run one alone.`
          : `A collector already runs for this state dir (pid ${holder.pid}, since ${holder.startedAt}); stop it (Ctrl-C where it runs) first.`,
      ),
    role,
  );
}
