import { PassThrough, type Readable } from 'node:stream';
import { SandboxError } from '../errors';
import type { ExecResult } from '../model';
import { assertSucceeded, type SyncChannel } from './channel';

/** What the sandbox says it holds at one path. Hostile: it only decides what gets sent. */
export interface SandboxEntry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  /** Whole seconds. */
  mtime: number;
  /** Permission bits. */
  mode: number;
  linkTarget: string;
}

/** Relative path -> what the sandbox holds there; a path it does not hold is absent. */
export type SandboxListing = ReadonlyMap<string, SandboxEntry>;

/**
 * One exec in the sandbox for a whole push: it lists what the sandbox holds at the paths we
 * name, then unpacks the tar stream we send, as the exec's user. One exec costs what the
 * unpack alone cost, and it starts while the local folder is still being walked.
 */
export interface PushSession {
  /**
   * What the sandbox holds at `paths` (relative to the folder). Undefined when the sandbox
   * cannot say (no GNU find there) or said more than such a listing can hold: then the push
   * trusts the last push's manifest, as it did before the listing existed.
   */
  list(paths: readonly string[]): Promise<SandboxListing | undefined>;
  /**
   * Streams `archive` into the sandbox's tar and resolves once it is unpacked; without one,
   * ends the exec with nothing unpacked. Call once, after `list`.
   */
  finish(archive?: Readable): Promise<void>;
}

/**
 * sh: first line of stdin, the byte count of the NUL-separated path list that follows it (read
 * exactly). find prints each path it finds as "TYPE SIZE MTIME MODE PATH\0LINK\0" without
 * following links; "end\0\0" (or "none\0\0" when find cannot) closes the listing. The paths
 * come as "./relative" so none reads as an option. Then a line "tar" hands the rest of stdin to
 * tar; anything else (or none) ends the exec.
 */
const SESSION_SCRIPT = String.raw`IFS= read -r size || exit 3
case $size in ''|*[!0-9]*) exit 3 ;; esac
mkdir -p -- "$1" && cd -- "$1" || exit 1
if find -P . -maxdepth 0 -printf '' >/dev/null 2>&1; then
  head -c "$size" | xargs -0 -r sh -c 'exec find -P "$@" -maxdepth 0 -printf "%y %s %T@ %m %p\0%l\0"' sandbox-list 2>/dev/null
  printf 'end\0\0'
else
  head -c "$size" >/dev/null
  printf 'none\0\0'
fi
IFS= read -r next && [ "$next" = tar ] || exit 0
exec tar -x -p -f -`;

/** Bytes a listing may take beyond its paths: a hostile sandbox that pads it gets no listing. */
const LISTING_SLACK_BYTES = 1024 * 1024;
const PER_PATH_BYTES = 128;
/** No field of a real record is longer: two PATH_MAX plus the numbers. */
const MAX_FIELD_BYTES = 2 * 4096 + 256;

const TYPES: Record<string, SandboxEntry['type']> = { f: 'file', d: 'dir', l: 'symlink' };
const RECORD = /^([a-zA-Z]) (\d+) (-?\d+)(?:\.\d*)? ([0-7]{1,5}) \.\/(.+)$/s;

export function openPushSession(channel: SyncChannel, remoteDir: string, signal: AbortSignal): PushSession {
  const stdin = new PassThrough();
  const parser = new ListingParser();
  let listed: (outcome: 'end' | 'none') => void = () => undefined;
  const marker = new Promise<'end' | 'none'>((resolve) => (listed = resolve));
  parser.onEnd = (outcome) => listed(outcome);

  const running: Promise<ExecResult> = channel.exec({
    command: ['sh', '-c', SESSION_SCRIPT, 'sandbox-push', remoteDir],
    stdin,
    signal,
    maxOutputBytes: 64 * 1024,
    onStdout: (chunk) => parser.push(chunk),
  });
  running.catch(() => undefined); // awaited by list and unpack; a failure before them must not go unhandled
  const action = `unpack files into ${remoteDir}`;

  return {
    async list(paths) {
      const wanted = new Set(paths);
      const list = Buffer.from(paths.map((relativePath) => `./${relativePath}\0`).join(''), 'utf8');
      parser.expect(wanted, LISTING_SLACK_BYTES + list.length + paths.length * PER_PATH_BYTES);
      stdin.write(`${list.length}\n`);
      stdin.write(list);
      const outcome = await Promise.race([marker, running]);
      if (typeof outcome !== 'string') {
        assertSucceeded(outcome, action, signal);
        throw new SandboxError('provider-error', `The sandbox ended the push before it listed its files in ${remoteDir}; push again.`);
      }
      return outcome === 'end' ? parser.listing() : undefined;
    },
    async finish(archive) {
      if (archive) {
        stdin.write('tar\n');
        archive.on('error', (error) => stdin.destroy(error));
        archive.pipe(stdin);
      } else {
        stdin.end();
      }
      assertSucceeded(await running, action, signal);
    },
  };
}

/**
 * Reads "FIELD\0FIELD\0" pairs as they come, keeping only the paths asked for and never more
 * than the budget; past it the listing is dropped, but the end marker is still found.
 */
class ListingParser {
  onEnd: (outcome: 'end' | 'none') => void = () => undefined;
  private wanted = new Set<string>();
  private budget = 0;
  private readonly entries = new Map<string, SandboxEntry>();
  private overflow = false;
  private ended = false;
  private field: Buffer[] = [];
  private fieldBytes = 0;
  private fieldTooLong = false;
  private first?: string;
  private received = 0;

  expect(wanted: Set<string>, budget: number): void {
    this.wanted = wanted;
    this.budget = budget;
  }

  listing(): SandboxListing | undefined {
    return this.overflow ? undefined : this.entries;
  }

  push(chunk: Buffer): void {
    if (this.ended) return; // after the marker: tar's own output, if any
    this.received += chunk.length;
    if (this.received > this.budget) this.overflow = true;
    let start = 0;
    for (let nul = chunk.indexOf(0, start); nul !== -1; nul = chunk.indexOf(0, start)) {
      this.append(chunk.subarray(start, nul));
      this.closeField();
      start = nul + 1;
      if (this.ended) return;
    }
    this.append(chunk.subarray(start));
  }

  private append(part: Buffer): void {
    if (this.fieldTooLong || part.length === 0) return;
    if (this.fieldBytes + part.length > MAX_FIELD_BYTES) {
      this.fieldTooLong = true;
      this.field = [];
      return;
    }
    this.field.push(part);
    this.fieldBytes += part.length;
  }

  private closeField(): void {
    const text = this.fieldTooLong ? undefined : Buffer.concat(this.field, this.fieldBytes).toString('utf8');
    this.field = [];
    this.fieldBytes = 0;
    this.fieldTooLong = false;
    if (this.first === undefined) {
      this.first = text ?? '\0'; // an over-long first field can match nothing
      return;
    }
    const first = this.first;
    this.first = undefined;
    if ((first === 'end' || first === 'none') && text === '') {
      this.ended = true;
      this.onEnd(first);
    } else if (!this.overflow && text !== undefined) {
      this.record(first, text);
    }
  }

  private record(description: string, linkTarget: string): void {
    const match = RECORD.exec(description);
    if (!match || !this.wanted.has(match[5]!)) return;
    this.entries.set(match[5]!, {
      type: TYPES[match[1]!] ?? 'other',
      size: Number(match[2]),
      mtime: Number(match[3]),
      mode: parseInt(match[4]!, 8) & 0o7777,
      linkTarget,
    });
  }
}
