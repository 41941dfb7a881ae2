import { isUtf8 } from 'node:buffer';
import type { Stats } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import * as path from 'node:path';
import { diffLines } from 'diff';
import { READ_FLAGS } from '../../sync/manifest';

/** What one path of a local tree holds, read without following any link. */
export type TreeEntry =
  { type: 'file'; content: Buffer; mode: number; stats: Stats } | { type: 'symlink'; target: string; stats: Stats } | { type: 'dir' | 'special'; stats: Stats };

/** Bytes looked at for a NUL, as git does, before a file is taken for text. */
const BINARY_SNIFF_BYTES = 8 * 1024;
/** Larger files are not diffed line by line: counted as binary, so a review never loads megabytes of text. */
export const MAX_TEXT_BYTES = 8 * 1024 * 1024;

/** `relativePath` under `root` as a native path. */
export function inTree(root: string, relativePath: string): string {
  return path.join(root, ...relativePath.split('/'));
}

/** The entry at `relativePath`, or undefined when nothing is there. */
export async function readTreeEntry(root: string, relativePath: string): Promise<TreeEntry | undefined> {
  const file = inTree(root, relativePath);
  const stats = await lstatIfPresent(file);
  if (!stats) return undefined;
  if (stats.isSymbolicLink()) return { type: 'symlink', target: await readlink(file), stats };
  if (stats.isDirectory()) return { type: 'dir', stats };
  if (!stats.isFile()) return { type: 'special', stats };
  return { type: 'file', content: await readFileNoFollow(file), mode: stats.mode & 0o7777, stats };
}

/** A file's content; opening never follows a link nor waits on a fifo put there since the lstat. */
export async function readFileNoFollow(file: string): Promise<Buffer> {
  const handle = await open(file, READ_FLAGS);
  try {
    if (!(await handle.stat()).isFile()) throw Object.assign(new Error(`${file} is no longer a file`), { code: 'ENOENT' });
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * The first folder on the way to `relativePath` (itself excluded) that is not a real folder of
 * `root` (a symlink, a file), or undefined when every existing one is a real folder. Writing
 * through a linked folder could land anywhere on this machine.
 */
export async function parentThatIsNotAFolder(root: string, relativePath: string): Promise<string | undefined> {
  const parts = relativePath.split('/');
  for (let depth = 1; depth < parts.length; depth++) {
    const parent = parts.slice(0, depth).join('/');
    const stats = await lstatIfPresent(inTree(root, parent));
    if (!stats) return undefined; // missing: nothing below it exists either
    if (!stats.isDirectory()) return parent;
  }
  return undefined;
}

export async function lstatIfPresent(file: string): Promise<Stats | undefined> {
  try {
    return await lstat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** Binary as git sees it (a NUL near the start), or not UTF-8, or too large to diff. */
export function isBinary(content: Buffer): boolean {
  if (content.length > MAX_TEXT_BYTES) return true;
  if (content.subarray(0, BINARY_SNIFF_BYTES).includes(0)) return true;
  return !isUtf8(content);
}

/** Lines added and removed from `before` to `after` (either may be empty for an added or deleted file). */
export function countLineChanges(before: string, after: string): { addedLines: number; removedLines: number } {
  if (before === after) return { addedLines: 0, removedLines: 0 };
  if (before === '') return { addedLines: lineCount(after), removedLines: 0 };
  if (after === '') return { addedLines: 0, removedLines: lineCount(before) };
  let addedLines = 0;
  let removedLines = 0;
  for (const part of diffLines(before, after)) {
    if (part.added) addedLines += part.count;
    else if (part.removed) removedLines += part.count;
  }
  return { addedLines, removedLines };
}

/** Lines of a text, the last one counted whether or not it ends with a newline. */
export function lineCount(text: string): number {
  if (text === '') return 0;
  const newlines = text.split('\n').length - 1;
  return text.endsWith('\n') ? newlines : newlines + 1;
}

/** A text cut into lines that keep their line ending, so joining them gives the text back exactly. */
export function splitLines(text: string): string[] {
  return text === '' ? [] : text.split(/(?<=\n)/);
}
