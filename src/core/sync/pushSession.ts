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
  /** Ends the exec's input after a failure, so the sandbox's side ends even if no abort reaches it. */
  close(): void;
}

/**
 * sh: first line of stdin, the byte count of the NUL-separated path list that follows it (read
 * exactly). find prints the folder itself, then each path it finds, as
 * "TYPE SIZE MTIME MODE PATH\0LINK\0", without following links; "end\0\0" closes the listing.
 * No record for the folder means this find cannot list (not GNU find). The paths come as
 * "./relative" so none reads as an option. Then a line "tar" hands the rest of stdin to tar;
 * anything else (or none) ends the exec.
 */
const SESSION_SCRIPT = String.raw`IFS= read -r size || exit 3
case $size in ''|*[!0-9]*) exit 3 ;; esac
mkdir -p -- "$1" && cd -- "$1" || exit 1
{ printf './\0'; head -c "$size"; } | xargs -0 sh -c 'exec find -P "$@" -maxdepth 0 -printf "%y %s %T@ %m %p\0%l\0"' sandbox-list 2>/dev/null
printf 'end\0\0'
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
  let listed: () => void = () => undefined;
  const marker = new Promise<'end'>((resolve) => (listed = () => resolve('end')));
  parser.onEnd = () => listed();

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
      if (outcome !== 'end') {
        assertSucceeded(outcome, action, signal);
        throw new SandboxError('provider-error', `The sandbox ended the push before it listed its files in ${remoteDir}; push again.`);
      }
      return parser.listing();
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
    close() {
      // An archive still piping in would write after the end: that is no news here.
      stdin.on('error', () => undefined);
      if (!stdin.writableEnded && !stdin.destroyed) stdin.end();
    },
  };
}

/**
 * Gathers the listing until its end marker, then reads "FIELD\0FIELD\0" pairs at once,
 * keeping only the paths asked for. Past the budget the listing is dropped (no listing), but
 * the end marker is still found: it is always the last thing the script prints before it
 * waits for stdin again.
 */
class ListingParser {
  onEnd: () => void = () => undefined;
  private wanted = new Set<string>();
  private budget = 0;
  private chunks: Buffer[] = [];
  private received = 0;
  private overflow = false;
  private ended = false;
  private entries?: Map<string, SandboxEntry>;
  /** The last bytes seen, to find a marker split across chunks. */
  private tail = Buffer.alloc(0);
  /** find printed the folder itself: it can list. */
  private sawFolder = false;

  expect(wanted: Set<string>, budget: number): void {
    this.wanted = wanted;
    this.budget = budget;
  }

  listing(): SandboxListing | undefined {
    return this.sawFolder ? this.entries : undefined;
  }

  push(chunk: Buffer): void {
    if (this.ended) return; // after the marker: tar's own output, if any
    this.received += chunk.length;
    if (this.received > this.budget) {
      this.overflow = true;
      this.chunks = [];
    } else {
      this.chunks.push(chunk);
    }
    this.tail = Buffer.concat([this.tail, chunk.subarray(Math.max(0, chunk.length - 8))]).subarray(-8);
    if (!endsWithMarker(this.tail)) return;
    if (this.overflow) return this.end();
    const fields = Buffer.concat(this.chunks, this.received).toString('utf8').split('\0');
    fields.pop(); // what follows the last NUL: nothing
    // A marker at an odd field is inside a record (a link target "end"): not the end yet.
    if (fields.length % 2 !== 0 || fields[fields.length - 2] !== 'end' || fields[fields.length - 1] !== '') return;
    this.entries = new Map();
    for (let index = 0; index < fields.length - 2; index += 2) this.record(fields[index]!, fields[index + 1]!);
    this.end();
  }

  private end(): void {
    this.ended = true;
    this.chunks = [];
    this.onEnd();
  }

  private record(description: string, linkTarget: string): void {
    if (description.length > MAX_FIELD_BYTES) return;
    if (description.endsWith(' ./') && /^d /.test(description)) this.sawFolder = true;
    const match = RECORD.exec(description);
    if (!match || !this.wanted.has(match[5]!)) return;
    this.entries!.set(match[5]!, {
      type: TYPES[match[1]!] ?? 'other',
      size: Number(match[2]),
      mtime: Number(match[3]),
      mode: parseInt(match[4]!, 8) & 0o7777,
      linkTarget,
    });
  }
}

const MARKER = Buffer.from('end\0\0');

/** Whether what was received so far closes with "end\0\0", right after a NUL or at the very start. */
function endsWithMarker(tail: Buffer): boolean {
  if (tail.length < MARKER.length || !tail.subarray(-MARKER.length).equals(MARKER)) return false;
  const before = tail.length - MARKER.length - 1;
  return before < 0 || tail[before] === 0;
}
