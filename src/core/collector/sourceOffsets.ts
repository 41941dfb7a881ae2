import type { CollectorDatabase } from './database';

/** How far the collector has read one append-only source (a journal, a machine's log). */
export interface SourceOffset {
  source: string;
  /** The file's identity (device and inode), when the source is a file that may be rotated. */
  fileId?: string;
  offset: number;
}

interface SourceRow {
  source: string;
  file_id: string | null;
  offset: number;
}

function offsetOf(row: SourceRow): SourceOffset {
  return { source: row.source, offset: Number(row.offset), ...(row.file_id ? { fileId: row.file_id } : {}) };
}

/**
 * The `sources` table. The writer keeps it in memory as well, read once at open and changed only
 * after its own commits (no other process writes it): its parts ask for offsets every round, and
 * each query through the WebAssembly SQLite takes and gives back a lock directory on disk.
 */
export class SourceOffsets {
  private cached?: Map<string, SourceOffset>;

  constructor(
    private readonly db: CollectorDatabase,
    private readonly keepInMemory: boolean,
  ) {}

  get(source: string): SourceOffset | undefined {
    if (this.keepInMemory) {
      const offset = this.loaded().get(source);
      return offset && { ...offset };
    }
    const row = this.db.get<SourceRow>('SELECT source, file_id, offset FROM sources WHERE source = ?', [source]);
    return row ? offsetOf(row) : undefined;
  }

  /** Every source's offset, or those whose name starts with `prefix`, by name. */
  list(prefix = ''): SourceOffset[] {
    if (this.keepInMemory) {
      return [...this.loaded().values()]
        .filter((offset) => offset.source.startsWith(prefix))
        .map((offset) => ({ ...offset }))
        .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
    }
    return this.read(prefix);
  }

  /** Within the ingest's transaction: the rows. */
  write(offsets: SourceOffset[], dropped: string[]): void {
    this.db.insertMany(
      'INSERT OR REPLACE INTO sources (source, file_id, offset, updated) VALUES (?, ?, ?, ?)',
      offsets.map((o) => [o.source, o.fileId ?? null, o.offset, Date.now()]),
    );
    this.db.insertMany(
      'DELETE FROM sources WHERE source = ?',
      dropped.map((source) => [source]),
    );
  }

  /** After the ingest's commit: the copy in memory follows. */
  committed(offsets: SourceOffset[], dropped: string[]): void {
    if (!this.cached) return;
    for (const offset of offsets) this.cached.set(offset.source, { ...offset });
    for (const source of dropped) this.cached.delete(source);
  }

  /** A commit that failed may still have reached the file (an error past its commit point): read it again. */
  forget(): void {
    this.cached = undefined;
  }

  private loaded(): Map<string, SourceOffset> {
    this.cached ??= new Map(this.read('').map((offset) => [offset.source, offset]));
    return this.cached;
  }

  private read(prefix: string): SourceOffset[] {
    return this.db
      .all<SourceRow>('SELECT source, file_id, offset FROM sources WHERE substr(source, 1, ?) = ? ORDER BY source', [prefix.length, prefix])
      .map(offsetOf);
  }
}
