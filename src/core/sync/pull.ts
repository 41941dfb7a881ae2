import { PassThrough } from 'node:stream';
import { SandboxError, cancelledError, throwIfAborted } from '../errors';
import { refuseArchive } from './archivePaths';
import { assertRemoteDirectory, assertSucceeded, type SyncChannel } from './channel';
import { extractArchiveSafely, type PullProgress } from './extract';
import { createPathFilter } from './ignore';

export const DEFAULT_PULL_MAX_BYTES = 1024 * 1024 * 1024;

/** The result keeps this much of each output stream; stderr's first line is all we report. */
const OUTPUT_BYTES_KEPT = 64 * 1024;

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
  durationMs: number;
}

/**
 * Copies `remoteDir` of the sandbox into `localRoot`, treating the sandbox as hostile: its `tar`
 * may be anything, so the stream goes through `extractArchiveSafely`, and the local tree changes
 * only when the whole archive passed and the remote tar exited 0. Local files the archive does
 * not mention are left alone.
 */
export async function pullTree(options: PullOptions): Promise<PullResult> {
  const started = performance.now();
  const { channel, remoteDir, signal } = options;
  assertRemoteDirectory(remoteDir);
  const maxBytes = options.maxBytes ?? DEFAULT_PULL_MAX_BYTES;
  if (!(maxBytes > 0)) throw new SandboxError('invalid-input', `The size limit of a pull must be a positive number of bytes, not ${maxBytes}.`);
  throwIfAborted(signal, 'The pull');

  // Stops the remote tar as soon as the local side gives up (refusal, size cap, local error).
  const stop = new AbortController();
  const archive = new PassThrough();
  // Errors reach the extractor through iteration; this only keeps an early one from going unhandled.
  archive.on('error', () => undefined);
  let received = 0;
  const remoteTar = channel
    .exec({
      command: ['tar', '-C', remoteDir, '-cf', '-', '.'],
      signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
      maxOutputBytes: OUTPUT_BYTES_KEPT,
      onStdout: (chunk) => {
        if (archive.destroyed) return;
        received += chunk.length;
        // exec cannot be paused, so this buffer is where data waits: the size cap also caps memory.
        if (received > maxBytes) archive.destroy(refuseArchive(`the archive is larger than the limit of ${maxBytes} bytes`));
        else archive.write(chunk);
      },
    })
    .then(
      (result) => {
        if (archive.destroyed) return;
        try {
          if (result.exitCode !== 0 && /Cannot (open|chdir)|Not a directory/.test(result.stderr)) {
            throw new SandboxError('not-found', `The folder ${remoteDir} does not exist in the sandbox; give a folder that does.`);
          }
          assertSucceeded(result, `archive ${remoteDir}`, signal);
          // Only now may the extractor see the end of the stream and commit.
          archive.end();
        } catch (error) {
          archive.destroy(error as Error);
        }
      },
      (error: unknown) => archive.destroy(error as Error),
    );

  try {
    const { files, bytes } = await extractArchiveSafely(archive, options.localRoot, {
      maxBytes,
      filter: createPathFilter(options.excludes),
      signal,
      onProgress: options.onProgress,
    });
    return { files, bytes, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    throw signal?.aborted ? cancelledError('The pull') : error;
  } finally {
    stop.abort(); // a no-op once the remote tar has exited
    await remoteTar;
  }
}
