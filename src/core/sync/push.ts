import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { SandboxError, cancelledError } from '../errors';
import { writeEntries, type ArchiveOwner } from './archiveWriter';
import { assertRemoteDirectory, removeRemotePaths, type SyncChannel } from './channel';
import { createTreeFilter, type PathFilter } from './ignore';
import { isUsableManifest, manifestEntry, scanTree, type Manifest, type ManifestEntry } from './manifest';

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
 * Sends what changed in `localRoot` since `previous` into `remoteDir` as one tar stream, and
 * removes what disappeared when asked. Without `previous`, everything is sent.
 */
export async function pushTree(options: PushOptions): Promise<PushResult> {
  const started = performance.now();
  const { channel, remoteDir, signal, onProgress } = options;
  assertRemoteDirectory(remoteDir);
  const localRoot = await assertLocalDirectory(options.localRoot);
  // A stored manifest comes back as untyped JSON; one we cannot trust means a full push.
  const previous = isUsableManifest(options.previous) ? options.previous : undefined;

  const filter = createTreeFilter(localRoot, options.excludes);
  const manifest = await scanTree(localRoot, filter, previous, { signal, deferNewFileHashes: true });
  const scanned = Object.keys(manifest.entries).length;
  onProgress?.({ phase: 'scan', done: scanned, total: scanned });

  const { changed, deleted } = diffManifests(previous, manifest);
  const removals = planRemovals(previous, manifest, changed, deleted, filter, options.deleteExtraneous ?? false);

  const toRemove = topmostPaths([...removals.replaced, ...removals.deleted]);
  if (toRemove.length > 0) {
    onProgress?.({ phase: 'delete', done: 0, total: toRemove.length });
    await removeRemotePaths(channel, remoteDir, toRemove, signal);
    onProgress?.({ phase: 'delete', done: toRemove.length, total: toRemove.length });
  }

  // The first push sends even an empty tree: putArchive makes the sandbox folder.
  const sent = changed.length > 0 || !previous ? await sendArchive(options, localRoot, manifest, changed) : { files: 0, bytes: 0 };

  // Still in the sandbox, so still ours: a later push with deleteExtraneous can remove them.
  for (const relativePath of removals.kept) manifest.entries[relativePath] = previous!.entries[relativePath];

  return {
    manifest,
    filesSent: sent.files,
    bytesSent: sent.bytes,
    deleted: topmostPaths(removals.deleted),
    unchanged: countFiles(manifest) - sent.files,
    durationMs: Math.round(performance.now() - started),
  };
}

function countFiles(manifest: Manifest): number {
  return Object.values(manifest.entries).filter((entry) => entry.type === 'file').length;
}

function differs(before: ManifestEntry | undefined, after: ManifestEntry): boolean {
  if (!before || before.type !== after.type || before.mode !== after.mode) return true;
  if (after.type === 'file') return before.hash !== after.hash;
  if (after.type === 'symlink') return before.linkTarget !== after.linkTarget;
  return false;
}

interface RemovalPlan {
  /** Changed type (a file became a folder...): the old one goes first, whatever deleteExtraneous says. */
  replaced: string[];
  /** Gone locally and removed in the sandbox. */
  deleted: string[];
  /** Gone locally (or now excluded) but left in the sandbox. */
  kept: string[];
}

function planRemovals(
  previous: Manifest | undefined,
  current: Manifest,
  changed: readonly string[],
  deleted: readonly string[],
  filter: PathFilter,
  deleteExtraneous: boolean,
): RemovalPlan {
  const plan: RemovalPlan = { replaced: [], deleted: [], kept: [] };
  if (!previous) return plan;
  plan.replaced = changed.filter((relativePath) => {
    const before = manifestEntry(previous, relativePath);
    return before !== undefined && before.type !== current.entries[relativePath].type;
  });
  const replaced = new Set(plan.replaced);
  for (const relativePath of deleted) {
    if (hasAncestorIn(relativePath, replaced)) continue; // removed with the path it was under
    // Like rsync: excluding a path protects it in the sandbox rather than deleting it there.
    const excluded = filter.isExcluded(relativePath, previous.entries[relativePath].type === 'dir');
    (deleteExtraneous && !excluded ? plan.deleted : plan.kept).push(relativePath);
  }
  return plan;
}

async function sendArchive(
  options: PushOptions,
  localRoot: string,
  manifest: Manifest,
  paths: readonly string[],
): Promise<{ files: number; bytes: number }> {
  const { channel, remoteDir, signal, onProgress } = options;
  const fileCount = paths.filter((relativePath) => manifest.entries[relativePath].type === 'file').length;
  const sent = { files: 0, bytes: 0 };
  const pack = tar.pack();
  pack.on('error', () => undefined); // reported through `fail`; the reader may not have started yet
  // Either side failing stops the other: the pack is destroyed and putArchive is aborted.
  const stop = new AbortController();
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
  }).then(() => pack.finalize(), fail);
  const archive = Readable.from(inBatches(pack as AsyncIterable<Buffer>), { objectMode: false });
  const putSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const consuming = channel.putArchive(remoteDir, archive, putSignal).catch(fail);

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

/** Drops every path that sits under another one of the list. */
function topmostPaths(paths: readonly string[]): string[] {
  const kept = new Set<string>();
  for (const relativePath of [...paths].sort()) {
    if (!hasAncestorIn(relativePath, kept)) kept.add(relativePath);
  }
  return [...kept];
}

function hasAncestorIn(relativePath: string, ancestors: ReadonlySet<string>): boolean {
  for (let slash = relativePath.indexOf('/'); slash !== -1; slash = relativePath.indexOf('/', slash + 1)) {
    if (ancestors.has(relativePath.slice(0, slash))) return true;
  }
  return false;
}
