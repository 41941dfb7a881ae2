import { realpathSync } from 'node:fs';
import { chmod, mkdir, open, readdir, symlink, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { SandboxError } from '../../errors';
import type { TreeFilter } from '../../sync/ignore';
import { LinkResolver } from '../../sync/linkTargets';
import { sandboxLink } from '../../sync/links';
import { READ_FLAGS, manifestEntry, scanTree, type Manifest, type ManifestEntry } from '../../sync/manifest';
import { skipReasonFor, type SkippedPath } from '../../sync/skipped';
import { PERMISSION_BITS, isGitMetadata, linkProblem, modeProblem, pathProblem, refuseChange } from './changeChecks';
import { MAX_TEXT_BYTES, countLineChanges, inTree, isBinary, readFileNoFollow } from './treeEntries';
import type { FileChange, Patch, PatchStats } from '../types';

export { unifiedDiff, type UnifiedDiffOptions } from './diffText';

const COPY_CHUNK_BYTES = 1024 * 1024;

/**
 * Copies `source` into `dest` (missing or empty) as a push sends it: the same filter, links as
 * links with the target the sandbox gets (never followed), permission bits kept. What a push
 * leaves out (unreadable files, fifos, sockets, devices) is left out here too. Returns the
 * manifest of what was copied.
 */
export async function copyTree(source: string, dest: string, filter: TreeFilter): Promise<Manifest> {
  const root = path.resolve(source);
  await mkdir(dest, { recursive: true });
  if ((await readdir(dest)).length > 0) throw new SandboxError('invalid-input', `${dest} is not empty; give an empty or missing folder to copy ${root} into.`);
  const manifest = await scanTree(root, filter);
  const roots = [root];
  const real = realpathSync(root);
  if (real !== root) roots.push(real);

  // Sorted, so a folder is made before its content.
  for (const relativePath of Object.keys(manifest.entries).sort()) {
    const entry = manifest.entries[relativePath]!;
    const target = inTree(dest, relativePath);
    if (entry.type === 'dir') await mkdir(target, { mode: 0o700 });
    else if (entry.type === 'symlink') {
      entry.linkTarget = sandboxLink(roots, relativePath, entry.linkTarget!).target;
      await symlink(entry.linkTarget, target);
    } else if (!(await copyFileNoFollow(inTree(root, relativePath), target, entry.mode & PERMISSION_BITS))) {
      delete manifest.entries[relativePath];
    }
  }
  // Deepest first, and always writable by us: the copy must stay removable.
  const folders = Object.keys(manifest.entries).filter((relativePath) => manifest.entries[relativePath]!.type === 'dir');
  for (const relativePath of folders.sort().reverse())
    await chmod(inTree(dest, relativePath), (manifest.entries[relativePath]!.mode & PERMISSION_BITS) | 0o700);
  return manifest;
}

/** False when the file vanished or became unreadable since the scan (a push would skip it too). */
async function copyFileNoFollow(from: string, to: string, mode: number): Promise<boolean> {
  let input;
  try {
    input = await open(from, READ_FLAGS);
    if (!(await input.stat()).isFile()) throw Object.assign(new Error(`${from} is no longer a file`), { code: 'ENOENT' });
  } catch (error) {
    await input?.close();
    if (skipReasonFor(error) !== undefined) return false;
    throw error;
  }
  try {
    const output = await open(to, 'wx', mode);
    try {
      await copyContent(input, output);
      await output.chmod(mode); // the umask may have taken bits away
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
  return true;
}

/** Chunk by chunk, so a large file never sits whole in memory. */
async function copyContent(input: FileHandle, output: FileHandle): Promise<void> {
  const chunk = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
  for (;;) {
    const { bytesRead } = await input.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) return;
    await output.write(chunk, 0, bytesRead);
  }
}

/**
 * The change from `baseDir` (what was pushed) to `afterDir` (what the sandbox holds after the
 * task), sorted by path. `filter` decides which paths count, as for the push; make it for the
 * base (`createTreeFilter(baseDir, excludes)`), so the rules are those in force when the task
 * started and a task cannot hide a file by editing a .gitignore. Git's own metadata is never
 * part of a change. Anything `afterDir` holds that no workspace should receive (a fifo, a device,
 * a setuid file, a link leading outside) refuses the whole change.
 */
export async function computePatch(baseDir: string, afterDir: string, filter: TreeFilter): Promise<Patch> {
  const withoutGit: TreeFilter = {
    loadGitignore: (relativeDir) => filter.loadGitignore(relativeDir),
    isExcluded: (relativePath, isDirectory) => isGitMetadata(relativePath) || filter.isExcluded(relativePath, isDirectory),
  };
  const base = await scanTree(baseDir, withoutGit);
  const skippedAfter: SkippedPath[] = [];
  const after = await scanTree(afterDir, withoutGit, undefined, { onSkipped: (skipped) => skippedAfter.push(skipped) });
  refuseSkipped(skippedAfter);

  const paths = new Set([...Object.keys(base.entries), ...Object.keys(after.entries)]);
  const linkPlaces = { base: linkPlaceIn(base), after: linkPlaceIn(after) };
  const changes: FileChange[] = [];
  for (const relativePath of [...paths].sort()) {
    const before = leafEntry(base, relativePath);
    const now = leafEntry(after, relativePath);
    if (now) checkAfterEntry(after, relativePath, now);
    if (!now && before) {
      // The pull never brings back a link leading outside, so its absence says nothing of the task.
      if (before.type === 'symlink' && linkProblem(relativePath, before.linkTarget!, (link) => manifestEntry(base, link)?.linkTarget)) continue;
      changes.push(await describeChange(baseDir, afterDir, relativePath, 'deleted', before, undefined));
    } else if (now && !before) changes.push(await describeChange(baseDir, afterDir, relativePath, 'added', undefined, now));
    else if (now && before && differs(relativePath, before, now, linkPlaces))
      changes.push(await describeChange(baseDir, afterDir, relativePath, 'modified', before, now));
  }
  markRenames(changes, base, after);
  return { baseDir, afterDir, changes, stats: statsOf(changes) };
}

/** What the patch is made of: files and links (folders come and go with them). */
function leafEntry(manifest: Manifest, relativePath: string): ManifestEntry | undefined {
  const entry = manifestEntry(manifest, relativePath);
  return entry && entry.type !== 'dir' ? entry : undefined;
}

type LinkPlace = (linkPath: string, target: string) => string;

/**
 * Where a link of `manifest` leads, spelled one way: a pull writes './x' back as 'x', which is no
 * change. Links leading outside keep their target as written.
 */
function linkPlaceIn(manifest: Manifest): LinkPlace {
  const resolver = new LinkResolver('/workspace', (link) => manifestEntry(manifest, link)?.linkTarget);
  return (linkPath, target) => {
    const decision = resolver.decide(linkPath, target);
    return 'write' in decision ? decision.write : target;
  };
}

function differs(relativePath: string, before: ManifestEntry, after: ManifestEntry, linkPlaces: { base: LinkPlace; after: LinkPlace }): boolean {
  if (before.type !== after.type || (before.mode & PERMISSION_BITS) !== (after.mode & PERMISSION_BITS)) return true;
  if (after.type === 'file') return before.hash !== after.hash;
  return before.linkTarget !== after.linkTarget && linkPlaces.base(relativePath, before.linkTarget!) !== linkPlaces.after(relativePath, after.linkTarget!);
}

function refuseSkipped(skipped: readonly SkippedPath[]): void {
  const special = skipped.find((entry) => entry.reason === 'special');
  if (special) throw refuseChange(special.path, 'is a fifo, socket or device, which no workspace should receive');
  const unreadable = skipped.find((entry) => entry.reason !== 'vanished');
  // Left out, it would read as deleted by the task.
  if (unreadable) throw refuseChange(unreadable.path, 'could not be read in the copy of the sandbox', 'check its permissions and compare again');
}

function checkAfterEntry(after: Manifest, relativePath: string, entry: ManifestEntry): void {
  const problem =
    pathProblem(relativePath) ??
    modeProblem(entry.mode & (entry.type === 'symlink' ? PERMISSION_BITS : 0o7777)) ??
    (entry.type === 'symlink' ? linkProblem(relativePath, entry.linkTarget!, (link) => manifestEntry(after, link)?.linkTarget) : undefined);
  if (problem) throw refuseChange(relativePath, problem);
}

async function describeChange(
  baseDir: string,
  afterDir: string,
  relativePath: string,
  kind: FileChange['kind'],
  before: ManifestEntry | undefined,
  after: ManifestEntry | undefined,
): Promise<FileChange> {
  const change: FileChange = { path: relativePath, kind, binary: false, addedLines: 0, removedLines: 0 };
  if (after) {
    change.type = after.type === 'symlink' ? 'symlink' : 'file';
    change.mode = after.mode & PERMISSION_BITS;
    if (after.type === 'symlink') change.linkTarget = after.linkTarget;
  }
  // A file too large to diff is binary without being read: it may be gigabytes.
  const tooLarge = (before?.type === 'file' && before.size > MAX_TEXT_BYTES) || (after?.type === 'file' && after.size > MAX_TEXT_BYTES);
  const beforeContent = before?.type === 'file' && !tooLarge ? await readFileNoFollow(inTree(baseDir, relativePath)) : undefined;
  const afterContent = after?.type === 'file' && !tooLarge ? await readFileNoFollow(inTree(afterDir, relativePath)) : undefined;
  change.binary = tooLarge || (beforeContent !== undefined && isBinary(beforeContent)) || (afterContent !== undefined && isBinary(afterContent));
  // Links have no lines; a type change counts the file side only.
  if (!change.binary) Object.assign(change, countLineChanges(beforeContent?.toString('utf8') ?? '', afterContent?.toString('utf8') ?? ''));
  return change;
}

/** A deleted file whose exact content (and mode) reappears as an added one was moved there: the added entry says from where. */
function markRenames(changes: FileChange[], base: Manifest, after: Manifest): void {
  const deletedByContent = new Map<string, FileChange[]>();
  for (const change of changes) {
    const entry = manifestEntry(base, change.path);
    // Empty files all look alike: a new empty file is not a move.
    if (change.kind !== 'deleted' || entry?.type !== 'file' || entry.size === 0) continue;
    const key = `${entry.hash}:${entry.mode & PERMISSION_BITS}`;
    deletedByContent.set(key, [...(deletedByContent.get(key) ?? []), change]);
  }
  for (const change of changes) {
    const entry = manifestEntry(after, change.path);
    if (change.kind !== 'added' || entry?.type !== 'file' || entry.size === 0) continue;
    const source = deletedByContent.get(`${entry.hash}:${entry.mode & PERMISSION_BITS}`)?.shift();
    if (!source) continue;
    change.renamedFrom = source.path;
    // A pure move changes no line.
    change.addedLines = change.removedLines = source.addedLines = source.removedLines = 0;
  }
}

function statsOf(changes: readonly FileChange[]): PatchStats {
  return {
    files: changes.length,
    addedLines: changes.reduce((sum, change) => sum + change.addedLines, 0),
    removedLines: changes.reduce((sum, change) => sum + change.removedLines, 0),
  };
}
