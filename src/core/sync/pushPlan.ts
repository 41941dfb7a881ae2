import type { PathFilter } from './ignore';
import { manifestEntry, type Manifest, type ManifestEntry } from './manifest';
import type { SandboxEntry, SandboxListing } from './pushSession';

export interface PushPlanInput {
  /** What the last push left in the sandbox, by our own record. */
  previous?: Manifest;
  /** The local folder now. */
  current: Manifest;
  /** What the sandbox holds now at every path of both; undefined when it could not say. */
  sandbox?: SandboxListing;
  filter: PathFilter;
  deleteExtraneous: boolean;
  /** Local paths that could not be read: what the sandbox holds there and under them stays. */
  unreadable: ReadonlySet<string>;
}

export interface PushPlan {
  /** Paths to send, sorted. */
  send: string[];
  /** Paths to remove in the sandbox before the archive is unpacked; topmost only. */
  remove: string[];
  /** The part of `remove` that is gone locally (`deleteExtraneous`); topmost only. */
  deleted: string[];
  /** Gone locally (or unreadable, or excluded now) and left in the sandbox: still ours. */
  kept: string[];
  /** Files and links the sandbox changed since the last push that this push replaces or removes. */
  overwrittenInSandbox: string[];
}

/**
 * What a push must do so the sandbox folder matches the local one. Without a listing of the
 * sandbox, the last push's manifest stands for it (what the sandbox changed is not seen).
 */
export function planPush(input: PushPlanInput): PushPlan {
  const { previous, current, sandbox } = input;
  const plan: PushPlan = { send: [], remove: [], deleted: [], kept: [], overwrittenInSandbox: [] };
  const removed = new Set<string>();
  const remove = (relativePath: string): void => {
    if (hasAncestorIn(relativePath, removed)) return;
    removed.add(relativePath);
    plan.remove.push(relativePath);
  };

  for (const relativePath of Object.keys(current.entries).sort()) {
    const wanted = current.entries[relativePath]!;
    const before = previous && manifestEntry(previous, relativePath);
    if (!sandbox) {
      if (differs(before, wanted)) plan.send.push(relativePath);
      if (before && before.type !== wanted.type) remove(relativePath);
      continue;
    }
    const there = sandbox.get(relativePath);
    if (!there || hasAncestorIn(relativePath, removed)) {
      plan.send.push(relativePath); // not in the sandbox (deleted there, or new), or removed with a parent
      continue;
    }
    const asLeft = before !== undefined && holds(there, before);
    if (asLeft && !differs(before, wanted)) continue;
    plan.send.push(relativePath);
    // tar replaces a file or link in place, but neither a folder by something else nor the reverse.
    if (there.type !== wanted.type) remove(relativePath);
    const theirs = !asLeft && !holds(there, wanted) && !(there.type === 'dir' && wanted.type === 'dir');
    if (previous && theirs) plan.overwrittenInSandbox.push(relativePath);
  }

  if (!previous) return plan;
  for (const relativePath of Object.keys(previous.entries).sort()) {
    if (manifestEntry(current, relativePath) || hasAncestorIn(relativePath, removed)) continue;
    const before = previous.entries[relativePath]!;
    const there = sandbox?.get(relativePath);
    if (sandbox && !there) continue; // gone from the sandbox too: no longer ours
    const unreadable = input.unreadable.has(relativePath) || hasAncestorIn(relativePath, input.unreadable);
    // Like rsync: excluding a path protects it in the sandbox rather than deleting it there.
    const excluded = input.filter.isExcluded(relativePath, before.type === 'dir');
    if (!input.deleteExtraneous || excluded || unreadable) {
      plan.kept.push(relativePath);
      continue;
    }
    // Sorted, so a folder comes before its content, which then goes with it (skipped above).
    plan.deleted.push(relativePath);
    remove(relativePath);
    if (there && there.type !== 'dir' && !holds(there, before)) plan.overwrittenInSandbox.push(relativePath);
  }
  plan.remove = plan.remove.filter((relativePath) => !hasAncestorIn(relativePath, removed));
  plan.overwrittenInSandbox.sort();
  return plan;
}

/** Whether our record and the local entry differ in what a push sends: content, mode, type or link target. */
export function differs(before: ManifestEntry | undefined, after: ManifestEntry): boolean {
  if (!before || before.type !== after.type || before.mode !== after.mode) return true;
  if (after.type === 'file') return before.hash !== after.hash;
  if (after.type === 'symlink') return before.linkTarget !== after.linkTarget;
  return false;
}

/** The whole-second mtime the sandbox's copy of a pushed file carries (tar keeps whole seconds). */
export function sandboxMtime(entry: ManifestEntry): number {
  return entry.sandboxMtime ?? Math.trunc(entry.mtimeMs / 1000);
}

/** Whether the sandbox still holds `entry` as a push would have left it (a folder's mtime moves with its content). */
function holds(there: SandboxEntry, entry: ManifestEntry): boolean {
  if (there.type !== entry.type) return false;
  if (entry.type === 'symlink') return there.linkTarget === entry.linkTarget;
  if (entry.type === 'dir') return there.mode === entry.mode;
  return there.size === entry.size && there.mtime === sandboxMtime(entry) && there.mode === entry.mode;
}

export function hasAncestorIn(relativePath: string, ancestors: ReadonlySet<string>): boolean {
  for (let slash = relativePath.indexOf('/'); slash !== -1; slash = relativePath.indexOf('/', slash + 1)) {
    if (ancestors.has(relativePath.slice(0, slash))) return true;
  }
  return false;
}
