import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, rename, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { SandboxError, describeError } from '../../errors';
import { shortened } from './changeChecks';
import { inTree, lstatIfPresent } from './treeEntries';

/** What a path of the workspace gets. */
export type NewEntry = { type: 'file'; content: Buffer; mode: number } | { type: 'symlink'; target: string };

export interface PlannedWrite {
  path: string;
  entry: NewEntry;
  /** What was there when the change was planned: it must still be there when it is replaced. */
  local: Stats | undefined;
}

export interface PlannedDelete {
  path: string;
  local: Stats;
}

/** Where the staging folders live, inside the workspace so every move is a rename on one file system. */
export const STAGING_PARENT = '.sandboxes';

/**
 * Writes every planned change into `workspace` or none: each new entry is staged inside the
 * workspace first, then moved into place by rename, the entry it replaces or deletes kept aside;
 * any failure puts back everything moved so far, in reverse order, before the error is thrown.
 * Folders a write needs are made (and removed again on failure); folders a deletion empties are
 * removed unless `keepFolder` says the change still has them.
 */
export async function commitChanges(
  workspace: string,
  writes: readonly PlannedWrite[],
  deletes: readonly PlannedDelete[],
  keepFolder: (relativeDir: string) => Promise<boolean>,
): Promise<void> {
  if (writes.length === 0 && deletes.length === 0) return;
  const stagingParent = path.join(workspace, STAGING_PARENT);
  const existingParent = await lstatIfPresent(stagingParent);
  if (existingParent && !existingParent.isDirectory()) {
    throw new SandboxError('conflict', `${stagingParent} is not a folder; move it away and apply the task's change again. Nothing was written.`);
  }
  if (!existingParent) await mkdir(stagingParent);
  const staging = await mkdtemp(path.join(stagingParent, '.apply-'));
  const undo: (() => Promise<unknown>)[] = [];
  let keepStaging = false;
  try {
    await mkdir(path.join(staging, 'new'));
    await mkdir(path.join(staging, 'old'));
    const staged = await Promise.all(writes.map((write, index) => stage(path.join(staging, 'new', String(index)), write.entry)));
    let moved = 0;
    const setAside = async (relativePath: string, local: Stats | undefined): Promise<void> => {
      const target = inTree(workspace, relativePath);
      await assertUnchanged(relativePath, target, local);
      if (!local) return;
      const aside = path.join(staging, 'old', String(moved++));
      await rename(target, aside);
      undo.push(() => rename(aside, target));
    };
    try {
      for (const deletion of deletes) await setAside(deletion.path, deletion.local);
      await removeEmptiedFolders(workspace, deletes, keepFolder, undo);
      for (const [index, write] of writes.entries()) {
        await makeParents(workspace, write.path, undo);
        await setAside(write.path, write.local);
        const target = inTree(workspace, write.path);
        await rename(staged[index]!, target);
        undo.push(() => rename(target, staged[index]!));
      }
    } catch (error) {
      const notRestored = await undoAll(undo);
      keepStaging = notRestored.length > 0;
      throw failure(error, notRestored, staging);
    }
  } finally {
    if (!keepStaging) {
      await rm(staging, { recursive: true, force: true });
      if (!existingParent) await rmdir(stagingParent).catch(() => undefined);
    }
  }
}

async function stage(file: string, entry: NewEntry): Promise<string> {
  if (entry.type === 'symlink') await symlink(entry.target, file);
  else {
    await writeFile(file, entry.content, { flag: 'wx', mode: entry.mode });
    await chmod(file, entry.mode); // the umask may have taken bits away
  }
  return file;
}

/** Refuses to replace what someone changed since the plan was made: their edit would be lost. */
async function assertUnchanged(relativePath: string, target: string, planned: Stats | undefined): Promise<void> {
  const now = await lstatIfPresent(target);
  const same =
    now === undefined
      ? planned === undefined
      : planned !== undefined && now.ino === planned.ino && now.size === planned.size && now.mtimeMs === planned.mtimeMs && now.mode === planned.mode;
  if (!same) {
    throw new SandboxError(
      'conflict',
      `${JSON.stringify(shortened(relativePath))} changed while the task's change was being applied, so nothing was applied; retry the task (\`sandbox task retry ID\`).`,
    );
  }
}

/** Makes the missing folders above `relativePath`; an existing one that is not a real folder stops everything. */
async function makeParents(workspace: string, relativePath: string, undo: (() => Promise<unknown>)[]): Promise<void> {
  const parts = relativePath.split('/');
  for (let depth = 1; depth < parts.length; depth++) {
    const folder = inTree(workspace, parts.slice(0, depth).join('/'));
    const stats = await lstatIfPresent(folder);
    if (stats?.isDirectory()) continue;
    if (stats) throw new SandboxError('conflict', `${folder} is not a folder any more; apply the task's change again.`);
    await mkdir(folder);
    undo.push(() => rmdir(folder));
  }
}

/** Folders left empty by deletions and absent after the task (a moved folder) go too, deepest first. */
async function removeEmptiedFolders(
  workspace: string,
  deletes: readonly PlannedDelete[],
  keepFolder: (relativeDir: string) => Promise<boolean>,
  undo: (() => Promise<unknown>)[],
): Promise<void> {
  const folders = new Set<string>();
  for (const { path: relativePath } of deletes) {
    for (let slash = relativePath.lastIndexOf('/'); slash > 0; slash = relativePath.lastIndexOf('/', slash - 1)) folders.add(relativePath.slice(0, slash));
  }
  for (const relativeDir of [...folders].sort().reverse()) {
    if (relativeDir === STAGING_PARENT || (await keepFolder(relativeDir))) continue;
    const folder = inTree(workspace, relativeDir);
    const stats = await lstat(folder);
    if (!stats.isDirectory() || (await readdir(folder)).length > 0) continue;
    await rmdir(folder);
    undo.push(async () => {
      await mkdir(folder);
      await chmod(folder, stats.mode & 0o7777);
    });
  }
}

/** Runs every undo step, last first; returns the messages of those that failed. */
async function undoAll(undo: readonly (() => Promise<unknown>)[]): Promise<string[]> {
  const failed: string[] = [];
  for (const step of [...undo].reverse()) await step().catch((error: unknown) => failed.push(describeError(error)));
  return failed;
}

function failure(error: unknown, notRestored: readonly string[], staging: string): Error {
  if (notRestored.length > 0) {
    return new SandboxError(
      'wrong-state',
      `Applying the task's change failed (${describeError(error)}) and putting the workspace back failed too (${notRestored[0]}); the replaced files are kept in ${staging}.`,
      { cause: error },
    );
  }
  if (error instanceof SandboxError)
    return new SandboxError(error.code, `${error.message.replace(/\.$/, '')}; the workspace was put back as it was.`, { cause: error });
  return new SandboxError(
    'wrong-state',
    `Applying the task's change failed (${describeError(error)}); the workspace was put back as it was: fix the cause and retry the task (\`sandbox task retry ID\`).`,
    { cause: error },
  );
}
