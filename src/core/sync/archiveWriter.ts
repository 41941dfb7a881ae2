import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import type { Header, Pack } from 'tar-stream';
import { SandboxError, throwIfAborted } from '../errors';
import { manifestEntry, type Manifest } from './manifest';

export interface ArchiveOwner {
  uid: number;
  gid: number;
}

export interface WriteEntriesOptions {
  owner?: ArchiveOwner;
  signal?: AbortSignal;
  onFileSent?: (bytes: number) => void;
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
 * reader takes it). A file entry without a hash gets the hash of the content sent. Does not
 * finalize the pack.
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
      const fileHeader: EntryHeader = { ...header, type: 'file', size: entry.size };
      const file = path.join(localRoot, ...relativePath.split('/'));
      const hash = entry.hash === undefined ? createHash('sha256') : undefined;
      if (entry.size <= WHOLE_READ_MAX_BYTES) {
        const content = readExactly(file, entry.size, relativePath);
        hash?.update(content);
        await addEntry(pack, fileHeader, content);
      } else {
        await streamFile(pack, fileHeader, file, options.signal, hash);
      }
      if (hash) entry.hash = hash.digest('hex');
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

/** The first `size` bytes of `file`, which must still be a regular file at least that long. */
function readExactly(file: string, size: number, relativePath: string): Buffer {
  const descriptor = openRegularFileSync(file, relativePath);
  try {
    const content = Buffer.allocUnsafe(size);
    for (let offset = 0; offset < size; ) {
      const bytesRead = readSync(descriptor, content, offset, size - offset, offset);
      if (bytesRead === 0) throw changedWhilePushing(relativePath);
      offset += bytesRead;
    }
    return content;
  } finally {
    closeSync(descriptor);
  }
}

/** Streams exactly `header.size` bytes of a large file; one that shrank since the scan fails the push. */
async function streamFile(pack: Pack, header: EntryHeader, file: string, signal?: AbortSignal, hash?: Hash): Promise<void> {
  const handle = await openRegularFile(file, header.name);
  try {
    let sink!: ReturnType<Pack['entry']>;
    const done = new Promise<void>((resolve, reject) => {
      sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
    });
    sink.on('error', () => undefined); // reported through the callback above
    done.catch(() => undefined); // awaited after the loop; a read error must not leave it unhandled

    let remaining = header.size ?? 0;
    while (remaining > 0) {
      throwIfAborted(signal, 'The push');
      // A fresh buffer per chunk: the pack keeps a reference until the reader has taken it.
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, remaining));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) throw changedWhilePushing(header.name);
      remaining -= bytesRead;
      hash?.update(chunk.subarray(0, bytesRead));
      if (!sink.write(chunk.subarray(0, bytesRead))) await drained(sink);
    }
    sink.end(null); // streamx's end() takes an optional last chunk; null means none
    await done;
  } finally {
    await handle.close();
  }
}

const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

/** O_NOFOLLOW: a file swapped for a symlink since the scan must not ship whatever it points to. */
function openRegularFileSync(file: string, relativePath: string): number {
  try {
    return openSync(file, OPEN_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') throw changedWhilePushing(relativePath);
    throw error;
  }
}

async function openRegularFile(file: string, relativePath: string): Promise<FileHandle> {
  try {
    return await open(file, OPEN_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') throw changedWhilePushing(relativePath);
    throw error;
  }
}

function changedWhilePushing(relativePath: string): SandboxError {
  return new SandboxError('conflict', `${JSON.stringify(relativePath)} changed while it was being pushed; push again.`);
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
