import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readlink, rename, rmdir, unlink, utimes } from 'node:fs/promises';
import * as path from 'node:path';
import { SandboxError } from '../errors';

export interface DirectoryAttributes {
  /** Permission bits. */
  mode: number;
  mtime?: Date;
}

/** A local symlink that a folder or file of the sandbox replaced; `target` says where it pointed. */
export interface ReplacedLink {
  path: string;
  target: string;
}

interface Move {
  from: string;
  to: string;
  /** What is in the way at `to` and must go first. */
  replaces?: 'folder' | 'entry';
}

/**
 * Moves a fully validated staging tree into `target`. Folders present on both sides are merged;
 * anything else is replaced by a rename, so only the last path component is ever touched and no
 * link of the local tree is followed. A local symlink where the sandbox has a folder or a file is
 * replaced too (never written through: it may lead anywhere) and returned, to be reported.
 * Conflicts are found before the first change.
 */
export async function commitStaged(staging: string, target: string, directories: ReadonlyMap<string, DirectoryAttributes>): Promise<ReplacedLink[]> {
  const moves: Move[] = [];
  const replacedLinks: ReplacedLink[] = [];
  await planMoves(staging, target, '', moves, replacedLinks);
  await mkdir(target, { recursive: true });
  for (const move of moves) {
    if (move.replaces === 'folder') await rmdir(move.to);
    if (move.replaces === 'entry') await unlink(move.to);
    await rename(move.from, move.to);
  }
  // Deepest first: setting a folder's mtime before its children are placed would not stick.
  const deepestFirst = [...directories].sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0));
  for (const [relativePath, attributes] of deepestFirst) {
    const folder = path.join(target, ...relativePath.split('/'));
    await chmod(folder, attributes.mode);
    if (attributes.mtime) await utimes(folder, attributes.mtime, attributes.mtime);
  }
  return replacedLinks;
}

async function planMoves(stagedFolder: string, targetFolder: string, relativeFolder: string, moves: Move[], replacedLinks: ReplacedLink[]): Promise<void> {
  for (const name of await readdir(stagedFolder)) {
    const from = path.join(stagedFolder, name);
    const to = path.join(targetFolder, name);
    const relativePath = relativeFolder ? `${relativeFolder}/${name}` : name;
    const staged = await lstat(from);
    const existing = await lstatIfPresent(to);
    if (staged.isDirectory() && existing?.isDirectory()) {
      await planMoves(from, to, relativePath, moves, replacedLinks);
      continue;
    }
    // A link replaced by a link is an ordinary update; by a folder or a file it changes what the user set up.
    if (existing?.isSymbolicLink() && !staged.isSymbolicLink()) replacedLinks.push({ path: relativePath, target: await readlink(to) });
    if (existing?.isDirectory() && (await readdir(to)).length > 0) {
      throw new SandboxError(
        'conflict',
        `${to} is a folder with content here but not in the sandbox; move it away and pull again. Nothing was changed locally.`,
      );
    }
    // rename() replaces a non-folder by a non-folder atomically; other pairs need the old one gone first.
    const replaces = !existing ? undefined : existing.isDirectory() ? 'folder' : staged.isDirectory() ? 'entry' : undefined;
    moves.push({ from, to, replaces });
  }
}

async function lstatIfPresent(file: string): Promise<Stats | undefined> {
  try {
    return await lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
