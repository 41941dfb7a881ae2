/**
 * One build of an image at a time on this machine, across processes: the CLI an agent
 * runs, several of them in parallel, and the VS Code window all may ask for the same image
 * on a fresh engine. The lock is a file in the temp directory holding the builder's pid;
 * a lock whose process is gone is taken over.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const FOREIGN_LOCK_TRUST_MS = 60 * 60_000;

interface LockContent {
  pid: number;
  host: string;
  since: string;
  token: string;
}

export interface BuildLock {
  release(): void;
}

export function buildLockPath(endpoint: string, tag: string): string {
  const key = createHash('sha256').update(`${endpoint}\0${tag}`).digest('hex').slice(0, 16);
  return path.join(os.tmpdir(), `agent-sandboxes-image-${key}.lock`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockContent | undefined {
  try {
    const content = JSON.parse(readFileSync(file, 'utf8')) as LockContent;
    return typeof content.pid === 'number' ? content : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock, or returns the pid of the live process that holds it. A file that cannot
 * be read is taken for a lock being written, unless it stays that way (see `staleAfterMs`).
 */
export function tryBuildLock(file: string, staleAfterMs = 10_000): BuildLock | { heldBy: number | undefined } {
  const token = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const content: LockContent = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), token };
    try {
      writeFileSync(file, JSON.stringify(content), { flag: 'wx', mode: 0o644 });
      return {
        release: () => {
          if (readLock(file)?.token === token) {
            try {
              unlinkSync(file);
            } catch {
              // already gone
            }
          }
        },
      };
    } catch (error) {
      // A temp directory we cannot write to should not stop the build: go on unguarded.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return { release: () => undefined };
    }
    const holder = readLock(file);
    if (holder && holder.host === os.hostname() && alive(holder.pid)) return { heldBy: holder.pid };
    // Another host's process (a shared temp directory) cannot be checked: trust it for a while.
    if (holder && holder.host !== os.hostname() && !isOlderThan(file, FOREIGN_LOCK_TRUST_MS)) return { heldBy: undefined };
    if (!holder && !isOlderThan(file, staleAfterMs)) return { heldBy: undefined };
    // The holder is gone (or the file is garbage): clear it and try again.
    try {
      unlinkSync(file);
    } catch {
      // someone else cleared it
    }
  }
  return { heldBy: undefined };
}

function isOlderThan(file: string, ms: number): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs > ms;
  } catch {
    return true;
  }
}
