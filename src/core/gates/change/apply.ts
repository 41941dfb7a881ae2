import { readlinkSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { diff3Merge } from 'node-diff3';
import { SandboxError } from '../../errors';
import { commitChanges, type NewEntry, type PlannedDelete, type PlannedWrite } from './applyCommit';
import { PERMISSION_BITS, isGitMetadata, linkProblem, modeProblem, pathProblem, refuseChange, shortened } from './changeChecks';
import { inTree, isBinary, lstatIfPresent, parentThatIsNotAFolder, readTreeEntry, splitLines, type TreeEntry } from './treeEntries';
import type { FileChange, Patch } from '../types';

export interface ApplyOptions {
  /** The user's workspace folder: what the patch's base was copied from. */
  workspace: string;
  patch: Patch;
}

export interface ApplyResult {
  /** Paths written or deleted, sorted (merged ones included). */
  applied: string[];
  /** The part of `applied` that combines the task's change with the user's own edits. Sorted. */
  merged: string[];
}

/** Conflicting files a message names before "and N more". */
const NAMED_CONFLICTS = 10;
/** Group and others never get write access from a task's change. */
const NEVER_GRANTED = 0o022;

type Outcome = { write: NewEntry; merged: boolean } | { delete: true } | { nothing: true } | { conflict: string };

/**
 * Applies a task's change to the workspace, or nothing of it. Each path is compared three ways:
 * the local file (L), the base (B, what was pushed) and the task's result (A). L == B takes A,
 * L == A has nothing to do, a text file changed on both sides is merged line by line; anything
 * else is a conflict. Every change is checked again here (a Patch may come from anywhere), all
 * conflicts are found before the first write, and the writes themselves are atomic as a whole.
 */
export async function applyPatch(options: ApplyOptions): Promise<ApplyResult> {
  const { patch } = options;
  const workspace = await workspaceFolder(options.workspace);
  checkPatchShape(patch, workspace);

  const writes: PlannedWrite[] = [];
  const deletes: PlannedDelete[] = [];
  const merged: string[] = [];
  const conflicts: { path: string; reason: string }[] = [];
  /** Paths with nothing left once the deletions are done: a file the task replaced by a folder may stand in the way until then. */
  const gone = new Set<string>();
  const ordered = [...patch.changes].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // Deletions first, as they are committed: the other changes are judged on what they leave.
  for (const change of [...ordered.filter((one) => one.kind === 'deleted'), ...ordered.filter((one) => one.kind !== 'deleted')]) {
    const blocking = await parentThatIsNotAFolder(workspace, change.path);
    if (blocking !== undefined && !gone.has(blocking)) throw notAFolder(blocking);
    let local = blocking === undefined ? await readTreeEntry(workspace, change.path) : undefined;
    if (local?.type === 'dir' && change.kind !== 'deleted' && (await emptiedByDeletions(workspace, change.path, gone))) local = undefined;
    const base = change.kind === 'added' ? undefined : await readSide(patch.baseDir, change, 'base');
    const after = change.kind === 'deleted' ? undefined : await readSide(patch.afterDir, change, 'result');
    if (after) checkResultMatches(change, after, patch, workspace);
    const outcome = decide(change, local, base, after);
    if ('conflict' in outcome) conflicts.push({ path: change.path, reason: outcome.conflict });
    else if ('delete' in outcome) deletes.push({ path: change.path, local: local!.stats });
    else if ('write' in outcome) {
      writes.push({ path: change.path, entry: outcome.write, local: local?.stats });
      if (outcome.merged) merged.push(change.path);
    }
    if (change.kind === 'deleted' && ('delete' in outcome || 'nothing' in outcome)) gone.add(change.path);
  }
  if (conflicts.length > 0) throw conflictError(conflicts.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)));

  await commitChanges(workspace, writes, deletes, async (relativeDir) => (await lstatIfPresent(inTree(patch.afterDir, relativeDir)))?.isDirectory() === true);
  return { applied: [...deletes.map((deletion) => deletion.path), ...writes.map((write) => write.path)].sort(), merged };
}

function notAFolder(relativePath: string): SandboxError {
  return new SandboxError(
    'conflict',
    `Refused to apply the task's change: ${JSON.stringify(shortened(relativePath))} in the workspace is a link or a file, not a folder, and nothing is written through it; make it a real folder and retry the task (\`sandbox task retry ID\`), or take the change from its failed-state snapshot. Nothing was written.`,
  );
}

/**
 * Whether the local folder at `relativeDir` holds nothing but what the deletions remove (so the
 * commit removes it too, and a file of the task can take its place).
 */
async function emptiedByDeletions(workspace: string, relativeDir: string, gone: ReadonlySet<string>): Promise<boolean> {
  const holdsGone = (folder: string): boolean => [...gone].some((deleted) => deleted.startsWith(`${folder}/`));
  if (!holdsGone(relativeDir)) return false;
  for (const entry of await readdir(inTree(workspace, relativeDir), { withFileTypes: true })) {
    const child = `${relativeDir}/${entry.name}`;
    if (entry.isDirectory() ? !(await emptiedByDeletions(workspace, child, gone)) : !gone.has(child)) return false;
  }
  return true;
}

async function workspaceFolder(workspace: string): Promise<string> {
  const stats = await stat(workspace).catch(() => undefined);
  if (!stats?.isDirectory()) throw new SandboxError('invalid-input', `The workspace ${workspace} is not a folder; apply the change to an existing folder.`);
  // The folder itself may be reached through a link; below it, no link is ever followed.
  return realpath(path.resolve(workspace));
}

/** Defense in depth: the checks computePatch made, again, on whatever Patch object we were given. */
function checkPatchShape(patch: Patch, workspace: string): void {
  if (!Array.isArray(patch?.changes) || typeof patch.baseDir !== 'string' || typeof patch.afterDir !== 'string') {
    throw new SandboxError('invalid-input', "The task's change is malformed; compute it again. Nothing was applied.");
  }
  const links = new Map(
    patch.changes.filter((change) => change?.type === 'symlink' && change.kind !== 'deleted').map((change) => [change.path, change.linkTarget]),
  );
  const seen = new Set<string>();
  for (const change of patch.changes) {
    if (typeof change !== 'object' || change === null)
      throw new SandboxError('invalid-input', "The task's change is malformed; compute it again. Nothing was applied.");
    const relativePath = String(change.path);
    const problem =
      pathProblem(change.path) ??
      (seen.has(relativePath) ? 'appears twice in the change' : undefined) ??
      (isGitMetadata(relativePath) ? "is inside git's metadata (.git), which a change never writes" : undefined) ??
      (['added', 'modified', 'deleted'].includes(change.kind) ? undefined : 'has an unknown kind of change') ??
      (change.renamedFrom === undefined ? undefined : pathProblem(change.renamedFrom)) ??
      (change.kind === 'deleted' ? undefined : newSideProblem(change, (link) => (links.has(link) ? links.get(link) : localLinkTarget(workspace, link))));
    if (problem) throw refuseChange(relativePath, problem, 'the change is rolled back; retry the task once the cause is gone');
    seen.add(relativePath);
  }
}

function newSideProblem(change: FileChange, linkTargetOf: (relativePath: string) => string | undefined): string | undefined {
  if (change.type !== 'file' && change.type !== 'symlink') return 'has an unknown type';
  if (change.mode !== undefined) {
    const problem = modeProblem(change.mode);
    if (problem) return problem;
  }
  return change.type === 'symlink' ? linkProblem(change.path, change.linkTarget!, linkTargetOf) : undefined;
}

/** Links of the workspace count when judging where a new link leads: the kernel will follow them. */
function localLinkTarget(workspace: string, relativePath: string): string | undefined {
  try {
    return readlinkSync(inTree(workspace, relativePath));
  } catch {
    return undefined;
  }
}

/** The base or result side of a change, read without following any link on the way. */
async function readSide(root: string, change: FileChange, side: 'base' | 'result'): Promise<TreeEntry | undefined> {
  const linkedFolder = await parentThatIsNotAFolder(root, change.path);
  if (linkedFolder !== undefined)
    throw refuseChange(
      change.path,
      `has a link (${JSON.stringify(shortened(linkedFolder))}) on its way in the ${side} copy`,
      'the change is rolled back; retry the task once the cause is gone',
    );
  const entry = await readTreeEntry(root, change.path);
  if (entry && entry.type !== 'file' && entry.type !== 'symlink')
    throw refuseChange(change.path, `is not a file or a link in the ${side} copy`, 'the change is rolled back; retry the task once the cause is gone');
  if (!entry && side === 'result') throw refuseChange(change.path, 'is missing from the copy of the sandbox', 'retry the task (`sandbox task retry ID`)');
  return entry;
}

/** What is written is what is on disk, not what the description says: both must agree, and be safe. */
function checkResultMatches(change: FileChange, after: TreeEntry, patch: Patch, workspace: string): void {
  const fix = 'the change is rolled back; retry the task once the cause is gone';
  if (after.type !== change.type) throw refuseChange(change.path, `is a ${after.type} in the copy of the sandbox, not a ${change.type ?? 'deletion'}`, fix);
  if (after.type === 'file') {
    const problem = modeProblem(after.mode);
    if (problem) throw refuseChange(change.path, problem, fix);
  }
  if (after.type === 'symlink') {
    if (after.target !== change.linkTarget) throw refuseChange(change.path, 'is a link whose target differs from the one described', fix);
    const problem = linkProblem(change.path, after.target, (link) => {
      const described = patch.changes.find((other) => other.path === link && other.kind !== 'deleted');
      return described ? described.linkTarget : localLinkTarget(workspace, link);
    });
    if (problem) throw refuseChange(change.path, problem, fix);
  }
}

function decide(change: FileChange, local: TreeEntry | undefined, base: TreeEntry | undefined, after: TreeEntry | undefined): Outcome {
  if (local && local.type !== 'file' && local.type !== 'symlink') return { conflict: 'is a folder or a special file here' };
  if (change.kind === 'deleted') {
    if (!local) return { nothing: true };
    return same(local, base) ? { delete: true } : { conflict: 'was changed here and deleted by the task' };
  }
  const wanted = newEntry(after!, local);
  if (!local) return change.kind === 'added' ? { write: wanted, merged: false } : { conflict: 'was deleted here and changed by the task' };
  if (same(local, after)) return { nothing: true };
  if (change.kind === 'modified' && same(local, base)) return { write: wanted, merged: false };
  if (change.kind === 'modified' && local.type === 'file' && base?.type === 'file' && after?.type === 'file') return mergeFiles(local, base, after);
  return { conflict: 'was changed both here and by the task' };
}

/** Same type, content (or target) and permission bits. */
function same(a: TreeEntry | undefined, b: TreeEntry | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.type === 'file' && b.type === 'file') return (a.mode & PERMISSION_BITS) === (b.mode & PERMISSION_BITS) && a.content.equals(b.content);
  if (a.type === 'symlink' && b.type === 'symlink') return a.target === b.target;
  return false;
}

/** The task's entry as written here: a mode the user already has is kept, a new one never opens writing to others. */
function newEntry(after: TreeEntry, local: TreeEntry | undefined): NewEntry {
  if (after.type === 'symlink') return { type: 'symlink', target: after.target };
  if (after.type !== 'file') throw new Error('only files and links are written');
  return { type: 'file', content: after.content, mode: grantedMode(after.mode, local) };
}

function grantedMode(mode: number, local: TreeEntry | undefined): number {
  const wanted = mode & PERMISSION_BITS;
  if (local?.type === 'file' && (local.mode & PERMISSION_BITS) === wanted) return wanted;
  return wanted & ~NEVER_GRANTED;
}

/** Both sides changed a file: modes and lines are merged three ways; overlapping edits conflict. */
function mergeFiles(local: TreeEntry & { type: 'file' }, base: TreeEntry & { type: 'file' }, after: TreeEntry & { type: 'file' }): Outcome {
  const [localMode, baseMode, afterMode] = [local.mode, base.mode, after.mode].map((mode) => mode & PERMISSION_BITS) as [number, number, number];
  const mode = localMode === baseMode ? afterMode : afterMode === baseMode || afterMode === localMode ? localMode : undefined;
  if (mode === undefined) return { conflict: 'had its mode changed both here and by the task' };
  let content: Buffer;
  if (local.content.equals(base.content)) content = after.content;
  else if (after.content.equals(base.content) || after.content.equals(local.content)) content = local.content;
  else if (isBinary(local.content) || isBinary(base.content) || isBinary(after.content))
    return { conflict: 'is binary and was changed both here and by the task' };
  else {
    const regions = diff3Merge(
      splitLines(local.content.toString('utf8')),
      splitLines(base.content.toString('utf8')),
      splitLines(after.content.toString('utf8')),
      {
        excludeFalseConflicts: true,
      },
    );
    if (regions.some((region) => region.conflict)) return { conflict: 'has the same lines changed both here and by the task' };
    content = Buffer.from(regions.flatMap((region) => region.ok ?? []).join(''), 'utf8');
  }
  return { write: { type: 'file', content, mode: grantedMode(mode, local) }, merged: true };
}

function conflictError(conflicts: readonly { path: string; reason: string }[]): SandboxError {
  const start = "The task's change was not applied, nothing was written:";
  if (conflicts.length === 1) {
    const [only] = conflicts as [{ path: string; reason: string }];
    return new SandboxError(
      'conflict',
      `${start} ${JSON.stringify(shortened(only.path))} ${only.reason}; nothing was written: resolve it and retry the task (\`sandbox task retry ID\`), or open the agent's version with \`sandbox start --from\` its failed-state snapshot.`,
    );
  }
  const named = conflicts.slice(0, NAMED_CONFLICTS).map((conflict) => shortened(conflict.path));
  const more = conflicts.length > NAMED_CONFLICTS ? ` and ${conflicts.length - NAMED_CONFLICTS} more` : '';
  return new SandboxError(
    'conflict',
    `${start} ${conflicts.length} files conflict with edits made here (${named.join(', ')}${more}); nothing was written: resolve them and retry the task (\`sandbox task retry ID\`), or open the agent's version with \`sandbox start --from\` its failed-state snapshot.`,
  );
}
