import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { SandboxError } from '../errors';
import { currentOwner, ownerAlive, type ExecOwner } from '../exec/owners';

/** Who holds a pid lock: its process (pid, start time, a hash of the host), since when, and what it runs as. */
export interface PidLockHolder extends ExecOwner {
  startedAt: string;
  /** What the holder is (`daemon`, `collector run`), for the sentence that refuses a second one. */
  role?: string;
}

export function readPidLock(file: string): PidLockHolder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<PidLockHolder>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string') return undefined;
    const holder: PidLockHolder = { pid: parsed.pid, start: String(parsed.start ?? ''), host: parsed.host, startedAt: String(parsed.startedAt ?? '') };
    if (typeof parsed.role === 'string') holder.role = parsed.role;
    return holder;
  } catch {
    return undefined;
  }
}

/** The holder of the lock when its process is alive (or on another machine, where it cannot be told). */
export function livePidLockHolder(file: string): PidLockHolder | undefined {
  const holder = readPidLock(file);
  return holder && ownerAlive(holder) ? holder : undefined;
}

/**
 * Makes this process the holder of a lock file, created with O_EXCL; one left by a process that
 * died (its pid gone, or reused by another program) is taken over. A live holder is refused with
 * the error `refuse` makes. Returns the release.
 */
export function acquirePidLock(file: string, refuse: (holder: PidLockHolder) => SandboxError, role?: string): () => void {
  const me: PidLockHolder = { ...currentOwner(), startedAt: new Date().toISOString(), ...(role ? { role } : {}) };
  for (let round = 0; round < 3; round++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, JSON.stringify(me) + '\n');
      } finally {
        closeSync(fd);
      }
      return () => {
        if (readPidLock(file)?.pid === me.pid) rmSync(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readPidLock(file);
    if (holder && ownerAlive(holder)) throw refuse(holder);
    // Stale: moved aside by one process only (a rename of the same name fails for the second).
    try {
      renameSync(file, `${file}.stale.${process.pid}`);
      rmSync(`${file}.stale.${process.pid}`, { force: true });
    } catch {
      // another process took it over first; look again
    }
  }
  throw new SandboxError('conflict', `The lock ${file} keeps changing; check that no other such process is starting, then try again.`);
}
