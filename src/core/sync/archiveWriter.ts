import { constants } from 'node:fs';
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
/** Files up to this size are read whole, ahead of their turn, so disk latency overlaps with sending. */
const READ_AHEAD_MAX_BYTES = 1024 * 1024;
/** Entries whose reads may run ahead: bounds memory to READ_AHEAD_ENTRIES x READ_AHEAD_MAX_BYTES. */
const READ_AHEAD_ENTRIES = 16;

/**
 * Appends `paths` of `manifest` to `pack`, parents first, reading each file from disk while the
 * archive is consumed (never the whole tree in memory). Does not finalize the pack.
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
  const fileOf = (relativePath: string) => path.join(localRoot, ...relativePath.split('/'));
  const readsAhead = new Map<string, Promise<Buffer>>();
  let readsStarted = 0;

  for (let index = 0; index < sorted.length; index++) {
    for (; readsStarted < Math.min(index + READ_AHEAD_ENTRIES, sorted.length); readsStarted++) {
      const relativePath = sorted[readsStarted];
      const entry = manifestEntry(manifest, relativePath);
      if (entry?.type !== 'file' || entry.size > READ_AHEAD_MAX_BYTES) continue;
      const content = readExactly(fileOf(relativePath), entry.size, relativePath);
      content.catch(() => undefined); // awaited in its turn; not an unhandled rejection before that
      readsAhead.set(relativePath, content);
    }

    throwIfAborted(options.signal, 'The push');
    const relativePath = sorted[index];
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
      const content = readsAhead.get(relativePath);
      readsAhead.delete(relativePath);
      if (content) await addEntry(pack, fileHeader, await content);
      else await streamFile(pack, fileHeader, fileOf(relativePath), options.signal);
      options.onFileSent?.(entry.size);
    }
  }
}

function addEntry(pack: Pack, header: EntryHeader, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null): void => (error ? reject(error) : resolve());
    if (content) pack.entry(header, content, done);
    else pack.entry(header, done);
  });
}

/** The first `size` bytes of `file`, which must still be a regular file at least that long. */
async function readExactly(file: string, size: number, relativePath: string): Promise<Buffer> {
  const handle = await openRegularFile(file, relativePath);
  try {
    const content = Buffer.allocUnsafe(size);
    for (let offset = 0; offset < size; ) {
      const { bytesRead } = await handle.read(content, offset, size - offset, offset);
      if (bytesRead === 0) throw changedWhilePushing(relativePath);
      offset += bytesRead;
    }
    return content;
  } finally {
    await handle.close();
  }
}

/** Streams exactly `header.size` bytes of a large file; one that shrank since the scan fails the push. */
async function streamFile(pack: Pack, header: EntryHeader, file: string, signal?: AbortSignal): Promise<void> {
  const handle = await openRegularFile(file, header.name);
  try {
    let sink!: ReturnType<Pack['entry']>;
    const done = new Promise<void>((resolve, reject) => {
      sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
    });
    done.catch(() => undefined); // awaited after the loop; a read error must not leave it unhandled

    let remaining = header.size ?? 0;
    while (remaining > 0) {
      throwIfAborted(signal, 'The push');
      // A fresh buffer per chunk: the pack keeps a reference until the reader has taken it.
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, remaining));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) throw changedWhilePushing(header.name);
      remaining -= bytesRead;
      if (!sink.write(chunk.subarray(0, bytesRead))) await drained(sink);
    }
    sink.end(null); // streamx's end() takes an optional last chunk; null means none
    await done;
  } finally {
    await handle.close();
  }
}

/** O_NOFOLLOW: a file swapped for a symlink since the scan must not ship whatever it points to. */
async function openRegularFile(file: string, relativePath: string): Promise<FileHandle> {
  try {
    return await open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
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
