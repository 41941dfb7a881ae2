import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SandboxError } from '../errors';

/** A lock older than this belongs to a process that died holding it: nobody holds one for more than a write. */
const STALE_LOCK_MS = 10_000;
/** How long a writer waits for another process's write of the same record before giving up. */
const WAIT_LIMIT_MS = 15_000;

/**
 * Serialises the writes of one record across processes (the CLI, the extension, a daemon), so a
 * listing that read a record before another process deleted or rewrote it cannot write it back.
 * The lock is a directory: mkdir is atomic on every local file system and leaves no file to parse.
 */
export async function withRecordLock<T>(lockRoot: string, id: string, task: () => Promise<T>): Promise<T> {
  const lock = path.join(lockRoot, `${id}.lock`);
  await fs.mkdir(lockRoot, { recursive: true, mode: 0o700 });
  const started = Date.now();
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    try {
      await fs.mkdir(lock, { mode: 0o700 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const since = await fs.stat(lock).then(
      (info) => Date.now() - info.mtimeMs,
      () => 0,
    );
    if (since > STALE_LOCK_MS) {
      await fs.rmdir(lock).catch(() => undefined);
      continue;
    }
    if (Date.now() - started > WAIT_LIMIT_MS) {
      throw new SandboxError(
        'conflict',
        `Another process has held the record of sandbox ${id} for over ${WAIT_LIMIT_MS / 1000} s; try again, or delete ${lock} if no other sandbox command runs.`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  try {
    return await task();
  } finally {
    await fs.rmdir(lock).catch(() => undefined);
  }
}
