import { closeSync, fsyncSync, ftruncateSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';

const MAGIC = Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);

/**
 * Rolls back the rollback journal a writer killed mid-commit left beside the database, as SQLite
 * itself would on the next open. The WebAssembly SQLite's file lock is one directory for every
 * lock level, so when it opens a file it sees its own lock as another process's and never takes a
 * journal for hot: the half-written transaction would stay in the file. Call only as the one
 * writer, with no lock held (collector.lock taken, the lock directory cleared). Returns whether a
 * journal was rolled back.
 *
 * The journal's format (sqlite.org/fileformat2.html#the_rollback_journal): headers at sector
 * boundaries (magic, page count, checksum nonce, the database's size before the transaction in
 * pages, sector size, page size), each followed by its pages (number, the original content, a
 * checksum); playback stops at the first page whose checksum fails (it was never synced).
 */
export function rollBackHotJournal(dbFile: string): boolean {
  const journal = `${dbFile}-journal`;
  const size = statSync(journal, { throwIfNoEntry: false })?.size ?? 0;
  // As SQLite does: a journal beside a database that is gone or empty has nothing to put back.
  if (size === 0 || (statSync(dbFile, { throwIfNoEntry: false })?.size ?? 0) === 0) {
    rmSync(journal, { force: true });
    return false;
  }
  const jfd = openSync(journal, 'r');
  let rolledBack = false;
  try {
    const header = Buffer.alloc(28);
    // A zeroed or partial first header: nothing of the database was changed yet.
    if (readSync(jfd, header, 0, 28, 0) === 28 && header.subarray(0, 8).equals(MAGIC)) rolledBack = playBack(jfd, size, dbFile);
  } finally {
    closeSync(jfd);
  }
  rmSync(journal, { force: true });
  return rolledBack;
}

function playBack(jfd: number, size: number, dbFile: string): boolean {
  const header = Buffer.alloc(28);
  const dfd = openSync(dbFile, 'r+');
  let played = false;
  try {
    let offset = 0;
    while (offset + 28 <= size) {
      if (readSync(jfd, header, 0, 28, offset) < 28 || !header.subarray(0, 8).equals(MAGIC)) break;
      let records = header.readUInt32BE(8);
      const nonce = header.readUInt32BE(12);
      const originalPages = header.readUInt32BE(16);
      const sectorSize = header.readUInt32BE(20);
      const pageSize = header.readUInt32BE(24);
      if (sectorSize < 32 || sectorSize > 65536 || pageSize < 512 || pageSize > 65536) break;
      const recordSize = pageSize + 8;
      offset += sectorSize;
      if (records === 0xffffffff) records = Math.floor((size - offset) / recordSize);
      // The first header's size is the database's before the transaction.
      if (!played) ftruncateSync(dfd, originalPages * pageSize);
      played = true;
      const record = Buffer.alloc(recordSize);
      let intact = true;
      for (let i = 0; i < records && offset + recordSize <= size; i++, offset += recordSize) {
        readSync(jfd, record, 0, recordSize, offset);
        const page = record.readUInt32BE(0);
        const data = record.subarray(4, 4 + pageSize);
        let checksum = nonce;
        for (let at = pageSize - 200; at > 0; at -= 200) checksum = (checksum + data[at]!) >>> 0;
        if (page === 0 || checksum !== record.readUInt32BE(4 + pageSize)) {
          intact = false; // never synced: playback ends here, as SQLite's does
          break;
        }
        if (page <= originalPages) writeSync(dfd, data, 0, pageSize, (page - 1) * pageSize);
      }
      if (!intact) break;
      offset = Math.ceil(offset / sectorSize) * sectorSize;
    }
    if (played) fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
  return played;
}
