import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/** An unreadable lock file younger than this may be one being written: it is not taken for stale. */
const UNREADABLE_GRACE_MS = 5_000;

/**
 * Makes this process the holder of a lock file, made whole in one step (a temp file linked to
 * the name, so no other process reads it empty); one left by a process that died (its pid gone,
 * or reused by another program) is taken over. A live holder is refused with the error `refuse`
 * makes. Returns the release.
 */
export function acquirePidLock(file: string, refuse: (holder: PidLockHolder) => SandboxError, role?: string): () => void {
  const me: PidLockHolder = { ...currentOwner(), startedAt: new Date().toISOString(), ...(role ? { role } : {}) };
  for (let round = 0; round < 3; round++) {
    if (createWhole(file, JSON.stringify(me) + '\n')) {
      return () => {
        if (readPidLock(file)?.pid === me.pid) rmSync(file, { force: true });
      };
    }
    const holder = readPidLock(file);
    if (holder && ownerAlive(holder)) throw refuse(holder);
    if (!holder && Date.now() - (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0) < UNREADABLE_GRACE_MS) {
      sleepSync(200);
      continue;
    }
    // Stale: moved aside, then checked to be the one judged dead. Another process may have taken
    // the name over between our look and the move: its live lock is put back.
    const aside = `${file}.stale.${process.pid}`;
    try {
      renameSync(file, aside);
    } catch {
      continue; // another process moved it first; look again
    }
    const moved = readPidLock(aside);
    const sameAsJudged = holder ? moved?.pid === holder.pid && moved.start === holder.start && moved.host === holder.host : moved === undefined;
    if (!sameAsJudged) {
      try {
        linkSync(aside, file);
      } catch {
        // the name was taken again meanwhile; the next look sees who holds it
      }
    }
    rmSync(aside, { force: true });
  }
  throw new SandboxError('conflict', `The lock ${file} keeps changing; check that no other such process is starting, then try again.`);
}

/** Creates `file` with `content`, whole, unless it exists (then false). */
function createWhole(file: string, content: string): boolean {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, content, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    rmSync(temp, { force: true });
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
