/**
 * A DigitalOcean listing costs two or more requests against a rate limit of 250 a minute, and the
 * scheduler looks at the sandboxes every few hundred milliseconds. A listing is reused for a
 * while, as long as nothing it depends on changed: no record of ours was written or removed (by
 * any process), and this process made, restored, hibernated or destroyed no droplet since.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { SandboxRecord } from '../../model';

/** How long a listing is reused while nothing changed; changes made elsewhere in the cloud show up after at most this. */
export const LISTING_REUSE_MS = 15_000;

export interface ListingCacheOptions {
  clock: () => number;
  /** What the records this listing depends on look like now; a different answer means a fresh listing. */
  fingerprint: () => Promise<string>;
  reuseMs?: number;
}

export class ListingCache<T> {
  private last?: { key: string; atMs: number; value: Promise<T> };
  private readonly reuseMs: number;

  constructor(private readonly options: ListingCacheOptions) {
    this.reuseMs = options.reuseMs ?? LISTING_REUSE_MS;
  }

  /** The listing of `scope` (an owner), reused while fresh and unchanged; a listing under way is shared, a failed one never kept. */
  async read(scope: string, list: () => Promise<T>): Promise<T> {
    const key = `${scope}\n${await this.options.fingerprint()}`;
    const now = this.options.clock();
    const last = this.last;
    if (last && last.key === key && now - last.atMs < this.reuseMs) return last.value;
    const entry = { key, atMs: now, value: list() };
    this.last = entry;
    entry.value.catch(() => {
      if (this.last === entry) this.last = undefined;
    });
    return entry.value;
  }

  /** This process changed a droplet: the next read lists afresh (a listing under way is not kept either). */
  invalidate(): void {
    this.last = undefined;
  }
}

/**
 * The records of one provider as a string that changes whenever one is written or removed: each
 * file's name, inode, modification time and size (a write replaces the file). A file is parsed
 * only when it changed, to learn whose it is.
 */
export class RecordsFingerprint {
  private readonly known = new Map<string, { stamp: string; ours: boolean }>();

  constructor(
    private readonly dir: string,
    private readonly isOurs: (record: Pick<SandboxRecord, 'provider'>) => boolean,
  ) {}

  async read(): Promise<string> {
    let names: string[];
    try {
      names = (await fs.readdir(this.dir)).filter((name) => name.endsWith('.json')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw error;
    }
    const parts: string[] = [];
    for (const name of names) {
      const info = await fs.stat(path.join(this.dir, name)).catch(() => undefined);
      if (!info) continue;
      const stamp = `${info.ino}:${info.mtimeMs}:${info.size}`;
      let known = this.known.get(name);
      if (known?.stamp !== stamp) {
        known = { stamp, ours: await this.ours(name) };
        this.known.set(name, known);
      }
      if (known.ours) parts.push(`${name}@${stamp}`);
    }
    const present = new Set(names);
    for (const name of this.known.keys()) if (!present.has(name)) this.known.delete(name);
    return parts.join('|');
  }

  /** A record that cannot be read counts as ours: a needless listing is cheaper than a stale one. */
  private async ours(name: string): Promise<boolean> {
    try {
      const record = JSON.parse(await fs.readFile(path.join(this.dir, name), 'utf8')) as Partial<SandboxRecord>;
      return typeof record.provider !== 'string' || this.isOurs({ provider: record.provider });
    } catch {
      return true;
    }
  }
}
