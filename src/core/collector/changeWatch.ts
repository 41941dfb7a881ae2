import { watch, type FSWatcher } from 'node:fs';

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
  private readonly watchers = new Map<string, FSWatcher>();
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

  close(): void {
    this.closed = true;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** Watches every folder not watched yet; true when all are. */
  private arm(): boolean {
    if (this.closed) return false;
    for (const folder of this.folders) {
      if (this.watchers.has(folder.dir)) continue;
      try {
        const watcher = watch(folder.dir, { persistent: false }, (_event, name) => {
          if (!folder.names || name === null || folder.names.includes(String(name))) this.changed = true;
        });
        watcher.on('error', () => {
          watcher.close();
          this.watchers.delete(folder.dir);
          this.changed = true;
        });
        this.watchers.set(folder.dir, watcher);
        // What changed before the watch began is not known.
        this.changed = true;
      } catch {
        // Not there yet, or not watchable: this round looks, and the next tries again.
      }
    }
    return this.watchers.size === this.folders.length;
  }
}
