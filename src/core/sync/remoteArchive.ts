import { PassThrough } from 'node:stream';
import { SandboxError } from '../errors';
import type { ExecResult } from '../model';
import { refuseArchive } from './archivePaths';
import { assertSucceeded, type SyncChannel } from './channel';
import type { ArchiveSource } from './extract';

/** The sandbox sends in blocks of this size, each one asked for. */
export const ARCHIVE_BLOCK_BYTES = 1024 * 1024;
/** Blocks asked for at once: fewer rounds (one `dd` each in the sandbox) against a finer pace. */
const BLOCKS_PER_GRANT = 4;
/**
 * Bytes asked for and not yet read by the extractor, at most: what may wait in memory. Also the
 * most that can be on the way, so it caps the rate at window / round trip (80 MB/s at 100 ms).
 */
export const ARCHIVE_WINDOW_BYTES = 8 * ARCHIVE_BLOCK_BYTES;

/** The result keeps this much of each output stream; stderr's first line is all we report. */
const OUTPUT_BYTES_KEPT = 64 * 1024;

/**
 * Runs `tar` in the sandbox and hands out its archive at the pace it is read. No exec transport
 * can be paused, so the pace is set inside the sandbox: tar writes into a pipe, and `dd` copies
 * to stdout only the blocks we asked for on stdin (one line per grant: a number of blocks).
 * We ask for more as the extractor reads, so at most ARCHIVE_WINDOW_BYTES wait in memory,
 * whatever the transport and however slow the disk. `dd` reads a pipe block by block with
 * `iflag=fullblock` and says "N+0 records in" for a full grant; anything else means tar's
 * output ended (dd speaks English under LC_ALL=C). The script exits with tar's status.
 * Everything is POSIX sh, tar and dd.
 */
const PACED_TAR_SCRIPT = `exec 3<&0 4>&1 </dev/null
status=$( { { tar -C "$1" -cf - . 3<&- 4>&- 5>&-; echo "$?" >&5; } | {
  while read -r blocks <&3; do
    copied=$(LC_ALL=C dd bs="$2" count="$blocks" iflag=fullblock 2>&1 >&4) || { printf '%s\\n' "$copied" >&2; exit 1; }
    case $copied in "$blocks+0 records in"*) ;; *) exit 0 ;; esac
  done
} 5>&-; } 5>&1 )
exit "\${status:-1}"`;

export interface RemoteArchiveOptions {
  channel: SyncChannel;
  remoteDir: string;
  /** Refuse once more than this many bytes came. */
  maxBytes: number;
  signal?: AbortSignal;
}

/**
 * The archive of `remoteDir` as an ArchiveSource. It ends only once the remote tar exited 0, so
 * the extractor never commits a partial archive; it fails on a refusal (too large, more data
 * than asked for: a sandbox ignoring the pace is hostile) or a failed tar. `finished` settles
 * once the remote command is over; call `close` first to stop it early.
 */
export function openRemoteArchive(options: RemoteArchiveOptions): { source: ArchiveSource; close: () => void; finished: Promise<void> } {
  const { channel, remoteDir, maxBytes, signal } = options;
  // Stops the remote tar as soon as the local side gives up (refusal, size cap, local error).
  const stop = new AbortController();
  const inbox = new PacedInbox(maxBytes, () => stop.abort());
  const finished = channel
    .exec({
      command: ['sh', '-c', PACED_TAR_SCRIPT, 'sandbox-pull', remoteDir, String(ARCHIVE_BLOCK_BYTES)],
      stdin: inbox.requests,
      signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
      maxOutputBytes: OUTPUT_BYTES_KEPT,
      onStdout: (chunk) => inbox.receive(chunk),
    })
    .then(
      (result) => inbox.settle(() => checkTar(result, remoteDir, signal)),
      (error: unknown) => inbox.fail(error),
    )
    .finally(() => inbox.requests.end());
  return { source: inbox, close: () => inbox.destroy(), finished };
}

function checkTar(result: ExecResult, remoteDir: string, signal: AbortSignal | undefined): void {
  if (result.exitCode !== 0 && /Cannot (open|chdir)|Not a directory/.test(result.stderr)) {
    throw new SandboxError('not-found', `The folder ${remoteDir} does not exist in the sandbox; give a folder that does.`);
  }
  assertSucceeded(result, `archive ${remoteDir}`, signal);
}

/**
 * Chunks from the sandbox, waiting to be read. It asks for more (on `requests`, the command's
 * stdin) only as the reader takes them, and keeps no more than it asked for.
 */
class PacedInbox implements AsyncIterable<Buffer> {
  readonly requests = new PassThrough();
  private readonly queue: Buffer[] = [];
  private received = 0;
  private granted = 0;
  private consumed = 0;
  private ended = false;
  private failure: unknown;
  private closed = false;
  private wake?: () => void;

  constructor(
    private readonly maxBytes: number,
    private readonly stopRemote: () => void,
  ) {
    this.requests.on('error', () => undefined); // the command may end before reading every request
    this.grant();
  }

  receive(chunk: Buffer): void {
    if (this.closed || this.failure !== undefined || this.ended) return;
    this.received += chunk.length;
    if (this.received > this.maxBytes) return this.fail(refuseArchive(`the archive is larger than the limit of ${this.maxBytes} bytes`));
    if (this.received > this.granted) return this.fail(refuseArchive('the sandbox sent more data than was asked for'));
    this.queue.push(chunk);
    this.notify();
  }

  /** The command ended: the stream ends when `check` passes, and fails with what it throws otherwise. */
  settle(check: () => void): void {
    if (this.closed || this.failure !== undefined) return;
    try {
      check();
      this.ended = true;
      this.notify();
    } catch (error) {
      this.fail(error);
    }
  }

  fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.queue.length = 0;
    this.stopRemote();
    this.notify();
  }

  /** The reader gave up: drop what waits and stop the sandbox's side. */
  destroy(): void {
    this.closed = true;
    this.queue.length = 0;
    this.stopRemote();
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (this.closed) return;
      const chunk = this.queue.shift();
      if (chunk) {
        this.consumed += chunk.length;
        this.grant();
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Keeps the window full: asks for more while what was asked and not yet read leaves room. */
  private grant(): void {
    const grantBytes = BLOCKS_PER_GRANT * ARCHIVE_BLOCK_BYTES;
    // Past the cap there is nothing more to ask for: one byte over it is enough to refuse.
    while (this.granted - this.consumed + grantBytes <= ARCHIVE_WINDOW_BYTES && this.granted <= this.maxBytes) {
      this.requests.write(`${BLOCKS_PER_GRANT}\n`);
      this.granted += grantBytes;
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
