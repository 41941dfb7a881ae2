import { SandboxError, cancelledError, throwIfAborted } from '../errors';
import { assertRemoteDirectory, type SyncChannel } from './channel';
import { extractArchiveSafely, type PullProgress, type SkippedLink } from './extract';
import { createPathFilter } from './ignore';
import type { ReplacedLink } from './merge';
import { openRemoteArchive } from './remoteArchive';

export const DEFAULT_PULL_MAX_BYTES = 1024 * 1024 * 1024;

export interface PullOptions {
  channel: SyncChannel;
  /** Absolute POSIX path inside the sandbox. */
  remoteDir: string;
  /** Created on success when missing; its parent must exist. */
  localRoot: string;
  /** Bytes the archive may have, headers included (default 1 GiB). */
  maxBytes?: number;
  /** Extra gitignore-style patterns, on top of DEFAULT_EXCLUDES. */
  excludes?: string[];
  signal?: AbortSignal;
  onProgress?: (progress: PullProgress) => void;
}

export interface PullResult {
  /** Entries other than folders written locally. */
  files: number;
  /** Their content bytes. */
  bytes: number;
  /** Symlinks not written because they lead outside `remoteDir` (or through a loop of links). */
  skippedLinks: SkippedLink[];
  /** Local symlinks replaced by a folder or file of the sandbox. */
  replacedLinks: ReplacedLink[];
  durationMs: number;
}

/**
 * Copies `remoteDir` of the sandbox into `localRoot`, treating the sandbox as hostile: its `tar`
 * may be anything, so the stream goes through `extractArchiveSafely`, and the local tree changes
 * only when the whole archive passed and the remote tar exited 0. The archive streams to disk
 * at the pace the disk takes it (see openRemoteArchive), so memory stays bounded whatever its
 * size. Local files the archive does not mention are left alone.
 */
export async function pullTree(options: PullOptions): Promise<PullResult> {
  const started = performance.now();
  const { channel, remoteDir, signal } = options;
  assertRemoteDirectory(remoteDir);
  const maxBytes = options.maxBytes ?? DEFAULT_PULL_MAX_BYTES;
  if (!(maxBytes > 0)) throw new SandboxError('invalid-input', `The size limit of a pull must be a positive number of bytes, not ${maxBytes}.`);
  throwIfAborted(signal, 'The pull');

  const archive = openRemoteArchive({ channel, remoteDir, maxBytes, signal });
  try {
    const result = await extractArchiveSafely(archive.source, options.localRoot, {
      sourceDir: remoteDir,
      maxBytes,
      filter: createPathFilter(options.excludes),
      signal,
      onProgress: options.onProgress,
    });
    return { ...result, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    throw signal?.aborted ? cancelledError('The pull') : error;
  } finally {
    archive.close(); // a no-op once the remote tar has exited
    await archive.finished;
  }
}
