import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, openSync, read, readSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import type { Header, Pack } from 'tar-stream';
import { throwIfAborted } from '../errors';
import { READ_FLAGS, manifestEntry, type Manifest } from './manifest';
import { skipReasonFor, type SkipReason, type SkippedPath } from './skipped';

export interface ArchiveOwner {
  uid: number;
  gid: number;
}

export interface WriteEntriesOptions {
  owner?: ArchiveOwner;
  signal?: AbortSignal;
  onFileSent?: (bytes: number) => void;
  /** A file left out (or cut short) because it could not be read as the scan saw it; the rest goes on. */
  onSkipped?: (skipped: SkippedPath) => void;
}

type EntryHeader = Partial<Header> & Pick<Header, 'name'>;

/** Read size per chunk of a streamed file: large enough for throughput, small enough for flat memory. */
const READ_CHUNK_BYTES = 256 * 1024;
/**
 * Files up to this size are read in one synchronous call: from the page cache that costs a few
 * microseconds, where the same read through the thread pool costs three round trips.
 */
const WHOLE_READ_MAX_BYTES = 256 * 1024;

/**
 * Appends `paths` of `manifest` to `pack`, parents first, reading each file from disk while the
 * archive is consumed (never the whole tree in memory: the pack holds an entry back until the
 * reader takes it). Each file is sent as it is when opened, and its entry updated to match:
 * size, mtime, mode and the hash of the content sent. A file that cannot be opened is skipped
 * and said. Does not finalize the pack.
 */
export async function writeEntries(
  pack: Pack,
  localRoot: string,
  manifest: Manifest,
  paths: readonly string[],
  options: WriteEntriesOptions = {},
): Promise<void> {
  // A plain sort puts every directory before its content: a prefix sorts first.
  const sorted = [...paths].sort();
  for (const relativePath of sorted) {
    throwIfAborted(options.signal, 'The push');
    const entry = manifestEntry(manifest, relativePath);
    if (!entry) continue;
    const header: EntryHeader = {
      name: relativePath,
      mode: entry.mode,
      mtime: new Date(entry.mtimeMs),
      uid: options.owner?.uid ?? 0,
      gid: options.owner?.gid ?? 0,
    };
    if (entry.type === 'dir') {
      await addEntry(pack, { ...header, type: 'directory' });
    } else if (entry.type === 'symlink') {
      await addEntry(pack, { ...header, type: 'symlink', linkname: entry.linkTarget });
    } else {
      const opened = openForSending(path.join(localRoot, ...relativePath.split('/')));
      if (typeof opened === 'string') {
        options.onSkipped?.({ path: relativePath, reason: opened });
        continue;
      }
      const { descriptor, stats } = opened;
      try {
        Object.assign(entry, { size: stats.size, mtimeMs: stats.mtimeMs, mode: stats.mode & 0o7777 });
        const fileHeader: EntryHeader = { ...header, type: 'file', size: stats.size, mode: entry.mode, mtime: new Date(stats.mtimeMs) };
        const hash = createHash('sha256');
        if (stats.size <= WHOLE_READ_MAX_BYTES) {
          // Read before the header is written: a file that shrank since the fstat is sent as read.
          const content = readUpTo(descriptor, stats.size);
          hash.update(content);
          entry.size = content.length;
          await addEntry(pack, { ...fileHeader, size: content.length }, content);
        } else if (!(await streamFile(pack, fileHeader, descriptor, hash, options.signal))) {
          entry.hash = ''; // the sandbox's copy is cut short: no hash matches it, so the next push sends it again
          options.onSkipped?.({ path: relativePath, reason: 'changed' });
          continue;
        }
        entry.hash = hash.digest('hex');
      } finally {
        closeSync(descriptor);
      }
      options.onFileSent?.(entry.size);
    }
  }
}

function addEntry(pack: Pack, header: EntryHeader, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null): void => (error ? reject(error) : resolve());
    const sink = content ? pack.entry(header, content, done) : pack.entry(header, done);
    // The callback gets the error; without a listener the entry's 'error' event would crash the process.
    sink.on('error', () => undefined);
  });
}

/**
 * Opens a file to send without following a link or waiting on a fifo, and checks it is still a
 * regular file; on failure, why it is skipped. Errors that are not about this one file throw.
 */
function openForSending(file: string): { descriptor: number; stats: Stats } | SkipReason {
  let descriptor: number;
  try {
    descriptor = openSync(file, READ_FLAGS);
  } catch (error) {
    const reason = skipReasonFor(error);
    if (reason === undefined) throw error;
    return reason;
  }
  try {
    const stats = fstatSync(descriptor);
    if (stats.isFile()) return { descriptor, stats };
  } catch (error) {
    closeSync(descriptor);
    throw error;
  }
  closeSync(descriptor);
  return 'vanished'; // replaced by a folder, fifo or device since the walk
}

/** Up to `size` bytes from the start of the file; fewer when it shrank. */
function readUpTo(descriptor: number, size: number): Buffer {
  const content = Buffer.allocUnsafe(size);
  let offset = 0;
  while (offset < size) {
    const bytesRead = readSync(descriptor, content, offset, size - offset, offset);
    if (bytesRead === 0) break;
    offset += bytesRead;
  }
  return offset === size ? content : content.subarray(0, offset);
}

/**
 * Streams exactly `header.size` bytes of a large file. The header is already out when a file
 * shrinks mid-read, so the rest is zeros (the archive stays whole) and the result is false.
 */
async function streamFile(pack: Pack, header: EntryHeader, descriptor: number, hash: Hash, signal?: AbortSignal): Promise<boolean> {
  let sink!: ReturnType<Pack['entry']>;
  const done = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
  });
  sink.on('error', () => undefined); // reported through the callback above
  done.catch(() => undefined); // awaited after the loop; a read error must not leave it unhandled

  let remaining = header.size ?? 0;
  let position = 0;
  let whole = true;
  while (remaining > 0) {
    throwIfAborted(signal, 'The push');
    // A fresh buffer per chunk: the pack keeps a reference until the reader has taken it.
    let chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, remaining));
    const bytesRead = whole ? await readAt(descriptor, chunk, position) : 0;
    if (bytesRead > 0) chunk = chunk.subarray(0, bytesRead);
    else {
      whole = false;
      chunk.fill(0);
    }
    position += chunk.length;
    remaining -= chunk.length;
    hash.update(chunk);
    if (!sink.write(chunk)) await drained(sink);
  }
  sink.end(null); // streamx's end() takes an optional last chunk; null means none
  await done;
  return whole;
}

function readAt(descriptor: number, buffer: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(descriptor, buffer, 0, buffer.length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))),
  );
}

function drained(sink: ReturnType<Pack['entry']>): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      sink.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      sink.off('drain', onDrain);
      reject(new Error('The archive closed while a file was being written.'));
    };
    sink.once('drain', onDrain);
    sink.once('close', onClose);
  });
}
