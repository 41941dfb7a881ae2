import { realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { SandboxError, cancelledError } from '../errors';
import { writeEntries, type ArchiveOwner } from './archiveWriter';
import { assertRemoteDirectory, removeRemotePaths, type SyncChannel } from './channel';
import { createTreeFilter } from './ignore';
import { sandboxLink } from './links';
import { isUsableManifest, manifestEntry, scanTree, type Manifest } from './manifest';
import { differs, hasAncestorIn, planPush, sandboxMtime, type PushPlan } from './pushPlan';
import { openPushSession, type PushSession } from './pushSession';
import type { SkippedPath } from './skipped';

export interface PushProgress {
  phase: 'scan' | 'send' | 'delete';
  done: number;
  total: number;
  /** Content bytes sent so far (phase 'send'). */
  bytes?: number;
}

export interface PushOptions {
  channel: SyncChannel;
  localRoot: string;
  /** Absolute POSIX path inside the sandbox; created when missing. */
  remoteDir: string;
  /** The manifest returned by the last successful push of this folder to this sandbox folder. */
  previous?: Manifest;
  /** Remove in the sandbox what was pushed before and is gone locally (never excluded paths). */
  deleteExtraneous?: boolean;
  /** Extra gitignore-style patterns, on top of DEFAULT_EXCLUDES and the tree's .gitignore files. */
  excludes?: string[];
  /**
   * Read the .gitignore files from this tree instead of `localRoot`'s: a tree that came from a
   * sandbox is pushed under the rules of the tree it was compared with, never its own.
   */
  gitignoreFrom?: string;
  /** Owner of the files written in the sandbox; without it they belong to uid/gid 0. */
  owner?: ArchiveOwner;
  signal?: AbortSignal;
  onProgress?: (progress: PushProgress) => void;
}

export interface PushResult {
  /** What the sandbox folder now holds from us: store it and pass it as `previous` next time. */
  manifest: Manifest;
  filesSent: number;
  /** File content bytes (not counting tar headers). */
  bytesSent: number;
  /** Paths removed in the sandbox, topmost only (a removed folder stands for its content). */
  deleted: string[];
  unchanged: number;
  durationMs: number;
  /** Local paths not sent (unreadable, vanished, cut short, fifos...), sorted; the rest went. */
  skipped: SkippedPath[];
  /** Files and links the sandbox had changed since the last push that this push replaced or removed. */
  overwrittenInSandbox: string[];
  /** Links sent that lead outside the pushed folder: written as they are, so they point into the sandbox's own tree. */
  linksOutside: string[];
}

export interface ManifestDiff {
  /** New, or different in content, mode, type or link target. Sorted. */
  changed: string[];
  /** In `previous` but not in `current`. Sorted. */
  deleted: string[];
}

/** A file whose mtime moved but whose hash did not is unchanged: a touch sends nothing. */
export function diffManifests(previous: Manifest | undefined, current: Manifest): ManifestDiff {
  const changed = Object.keys(current.entries).filter((relativePath) =>
    differs(previous && manifestEntry(previous, relativePath), current.entries[relativePath]),
  );
  const deleted = previous ? Object.keys(previous.entries).filter((relativePath) => !manifestEntry(current, relativePath)) : [];
  return { changed: changed.sort(), deleted: deleted.sort() };
}

/**
 * Makes `remoteDir` in the sandbox match `localRoot`: sends what changed locally since
 * `previous`, and what the sandbox itself changed or lost since then (one listing of the
 * sandbox, in the same exec as the unpack, says which), and removes what disappeared locally
 * when asked. Without `previous`, everything is sent.
 */
export async function pushTree(options: PushOptions): Promise<PushResult> {
  const started = performance.now();
  const { channel, remoteDir, signal, onProgress } = options;
  assertRemoteDirectory(remoteDir);
  const localRoot = await assertLocalDirectory(options.localRoot);
  // A stored manifest comes back as untyped JSON; one we cannot trust means a full push.
  const previous = isUsableManifest(options.previous) ? options.previous : undefined;

  // Either side failing stops the other: the exec is aborted and the archive destroyed.
  const stop = new AbortController();
  const execSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  // Opened first: the exec starts in the sandbox while the local folder is walked.
  const session = openPushSession(channel, remoteDir, execSignal);
  try {
    const skipped = new Map<string, SkippedPath>();
    const onSkipped = (entry: SkippedPath): void => void skipped.set(entry.path, entry);
    const filter = createTreeFilter(options.gitignoreFrom ?? localRoot, options.excludes);
    const manifest = await scanTree(localRoot, filter, previous, { signal, deferNewFileHashes: true, onSkipped });
    const scanned = Object.keys(manifest.entries).length;
    onProgress?.({ phase: 'scan', done: scanned, total: scanned });
    const outside = linksForSandbox(localRoot, manifest);

    const paths = new Set(Object.keys(manifest.entries));
    if (previous) for (const relativePath of Object.keys(previous.entries)) paths.add(relativePath);
    const sandbox = await session.list([...paths].sort());
    const unreadable = new Set([...skipped.values()].filter((entry) => entry.reason === 'unreadable').map((entry) => entry.path));
    const plan = planPush({ previous, current: manifest, sandbox, filter, deleteExtraneous: options.deleteExtraneous ?? false, unreadable });

    if (plan.remove.length > 0) {
      onProgress?.({ phase: 'delete', done: 0, total: plan.remove.length });
      await removeRemotePaths(channel, remoteDir, plan.remove, execSignal);
      onProgress?.({ phase: 'delete', done: plan.remove.length, total: plan.remove.length });
    }
    // The session made the sandbox folder already: with nothing to send, no archive goes.
    let sent = { files: 0, bytes: 0 };
    if (plan.send.length > 0) sent = await sendArchive(options, session, localRoot, manifest, plan.send, stop, onSkipped);
    else await session.finish();

    const toSend = new Set(plan.send);
    const unchanged = Object.entries(manifest.entries).filter(([relativePath, entry]) => entry.type === 'file' && !toSend.has(relativePath)).length;
    recordWhatTheSandboxHolds(manifest, previous, plan, skipped);
    return {
      manifest,
      filesSent: sent.files,
      bytesSent: sent.bytes,
      deleted: plan.deleted,
      unchanged,
      durationMs: Math.round(performance.now() - started),
      skipped: [...skipped.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
      overwrittenInSandbox: plan.overwrittenInSandbox,
      linksOutside: plan.send.filter((relativePath) => outside.has(relativePath)),
    };
  } catch (error) {
    stop.abort();
    session.close();
    throw signal?.aborted ? cancelledError('The push') : error;
  }
}

/** Rewrites each link's target to the one the sandbox gets; returns the links that lead outside. */
function linksForSandbox(localRoot: string, manifest: Manifest): Set<string> {
  const roots = [localRoot];
  try {
    const real = realpathSync(localRoot);
    if (real !== localRoot) roots.push(real);
  } catch {
    // the folder went away: the push fails later, on its own
  }
  const outside = new Set<string>();
  for (const [relativePath, entry] of Object.entries(manifest.entries)) {
    if (entry.type !== 'symlink' || entry.linkTarget === undefined) continue;
    const link = sandboxLink(roots, relativePath, entry.linkTarget);
    entry.linkTarget = link.target;
    if (link.outside) outside.add(relativePath);
  }
  return outside;
}

/**
 * Leaves in `manifest` what the sandbox folder now holds from us: what was sent as sent, what
 * was not sent as our record says the sandbox keeps it, nothing for what it no longer holds.
 */
function recordWhatTheSandboxHolds(manifest: Manifest, previous: Manifest | undefined, plan: PushPlan, skipped: ReadonlyMap<string, SkippedPath>): void {
  const removed = new Set(plan.remove);
  for (const relativePath of plan.send) {
    const reason = skipped.get(relativePath)?.reason;
    if (reason === undefined || reason === 'changed') continue; // sent (a cut-short copy has no hash)
    // Meant to be sent but skipped: the sandbox keeps what it had, unless that was removed.
    const before = previous && manifestEntry(previous, relativePath);
    if (before && !removed.has(relativePath) && !hasAncestorIn(relativePath, removed)) manifest.entries[relativePath] = before;
    else delete manifest.entries[relativePath];
  }
  const sent = new Set(plan.send);
  for (const [relativePath, entry] of Object.entries(manifest.entries)) {
    const before = previous && manifestEntry(previous, relativePath);
    if (sent.has(relativePath) || entry.type !== 'file' || before?.type !== 'file') continue;
    // Touched here only, so not sent: the sandbox's copy keeps the older time.
    if (sandboxMtime(before) !== sandboxMtime(entry)) entry.sandboxMtime = sandboxMtime(before);
  }
  // Still in the sandbox, so still ours: a later push with deleteExtraneous can remove them.
  for (const relativePath of plan.kept) manifest.entries[relativePath] = previous!.entries[relativePath]!;
}

async function sendArchive(
  options: PushOptions,
  session: PushSession,
  localRoot: string,
  manifest: Manifest,
  paths: readonly string[],
  stop: AbortController,
  onSkipped: (entry: SkippedPath) => void,
): Promise<{ files: number; bytes: number }> {
  const { signal, onProgress } = options;
  const fileCount = paths.filter((relativePath) => manifest.entries[relativePath]!.type === 'file').length;
  const sent = { files: 0, bytes: 0 };
  const pack = tar.pack();
  pack.on('error', () => undefined); // reported through `fail`; the reader may not have started yet
  let failure: unknown;
  const fail = (error: unknown): void => {
    failure ??= error;
    stop.abort();
    pack.destroy(error as Error);
  };

  const producing = writeEntries(pack, localRoot, manifest, paths, {
    owner: options.owner,
    signal,
    onFileSent: (bytes) => {
      sent.files++;
      sent.bytes += bytes;
      onProgress?.({ phase: 'send', done: sent.files, total: fileCount, bytes: sent.bytes });
    },
    onSkipped,
  }).then(() => pack.finalize(), fail);
  const archive = Readable.from(inBatches(pack as AsyncIterable<Buffer>), { objectMode: false });
  const consuming = session.finish(archive).catch(fail);

  await Promise.all([producing, consuming]);
  if (failure !== undefined) throw signal?.aborted ? cancelledError('The push') : failure;
  return sent;
}

/** Bytes gathered per write: the pack yields 512-byte headers and small files one by one. */
const BATCH_BYTES = 256 * 1024;

/** Joins small chunks into large ones, so the transport makes a few big writes instead of many. */
async function* inBatches(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    parts.push(chunk);
    size += chunk.length;
    if (size >= BATCH_BYTES) {
      yield Buffer.concat(parts, size);
      parts = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(parts, size);
}

async function assertLocalDirectory(localRoot: string): Promise<string> {
  const absolute = path.resolve(localRoot);
  const stats = await stat(absolute).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!stats) throw new SandboxError('invalid-input', `The folder ${absolute} does not exist.`);
  if (!stats.isDirectory()) throw new SandboxError('invalid-input', `${absolute} is not a folder; push a folder.`);
  return absolute;
}
