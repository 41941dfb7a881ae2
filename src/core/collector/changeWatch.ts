import { statSync, watch, type FSWatcher } from 'node:fs';
import * as path from 'node:path';

export interface WatchedFolder {
  dir: string;
  /** Only these names in it count (all when left out). */
  names?: string[];
}

/**
 * Whether files in some folders may have changed since the last look, from the system's file
 * notifications: a round that would find nothing new is skipped instead of opening every file.
 * A folder that cannot be watched (missing yet, no notifications where it lives) makes every
 * round look, and a full look at least every `fullLookMs` catches what a notification missed.
 */
export class ChangeWatch {
  /** Per folder, its watcher and the folder's inode when the watch began. */
  private readonly watchers = new Map<string, { watcher: FSWatcher; ino: number }>();
  private changed = true;
  private lastLook = 0;
  private closed = false;

  constructor(
    private readonly folders: WatchedFolder[],
    private readonly fullLookMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether to look now. A change seen while the caller looks makes the next call say yes again. */
  shouldLook(): boolean {
    const watchingAll = this.arm();
    const now = this.clock();
    if (!this.changed && watchingAll && now - this.lastLook < this.fullLookMs) return false;
    this.changed = false;
    this.lastLook = now;
    return true;
  }

  /** The last look stopped short (a bound, a failure): the next round looks again. */
  again(): void {
    this.changed = true;
  }

  close(): void {
    this.closed = true;
    for (const { watcher } of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** Watches every folder not watched yet, or made anew since (a watch dies with its folder); true when all are. */
  private arm(): boolean {
    if (this.closed) return false;
    for (const folder of this.folders) {
      const ino = statSync(folder.dir, { throwIfNoEntry: false })?.ino;
      const watched = this.watchers.get(folder.dir);
      if (watched && watched.ino === ino) continue;
      if (watched) this.forget(folder.dir);
      if (ino === undefined) continue; // not there yet: this round looks, and the next tries again
      try {
        const own = path.basename(folder.dir);
        const watcher = watch(folder.dir, { persistent: false }, (event, name) => {
          // The folder itself removed (told by its own name): the watch is dead, even if a new folder
          // took the same inode at once; the next round watches again.
          if (event === 'rename' && name !== null && String(name) === own) this.forget(folder.dir, watcher);
          if (!folder.names || name === null || folder.names.includes(String(name))) this.changed = true;
        });
        watcher.on('error', () => this.forget(folder.dir, watcher));
        this.watchers.set(folder.dir, { watcher, ino });
        // What changed before the watch began is not known.
        this.changed = true;
      } catch {
        // Not watchable (no notifications where it lives): every round looks.
      }
    }
    return this.watchers.size === this.folders.length;
  }

  private forget(dir: string, watcher?: FSWatcher): void {
    const watched = this.watchers.get(dir);
    // A late event of a watch already replaced leaves the new one alone.
    if (watcher && watched?.watcher !== watcher) return;
    watched?.watcher.close();
    this.watchers.delete(dir);
    this.changed = true;
  }
}
