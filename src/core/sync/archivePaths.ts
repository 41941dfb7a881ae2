import * as path from 'node:path';
import { SandboxError } from '../errors';

/** The error of a refused pull; `reason` completes "the entry NAME ...". */
export function refuseEntry(name: string, reason: string): SandboxError {
  return refuseArchive(`the entry ${JSON.stringify(name)} ${reason}`);
}

/** The error of a refused pull; `problem` is a sentence fragment about the whole archive. */
export function refuseArchive(problem: string): SandboxError {
  return new SandboxError('unsafe-archive', `Refused the pull: ${problem}. Nothing was changed locally.`);
}

/** On Windows a backslash or a colon in a name would act as a separator or a drive. */
const FOREIGN_SEPARATORS = process.platform === 'win32' ? /[\\:]/ : undefined;

/**
 * The relative POSIX path an archive entry names ('' for the root itself), without '.' or
 * empty components. Absolute names and any '..' are refused: nothing may land outside the root.
 */
export function entryPath(name: string): string {
  if (name === '') throw refuseEntry(name, 'has an empty name');
  if (name.includes('\0')) throw refuseEntry(name, 'has a NUL character in its name');
  if (name.startsWith('/')) throw refuseEntry(name, 'is an absolute path');
  if (FOREIGN_SEPARATORS?.test(name)) throw refuseEntry(name, 'has a character that is a path separator here');
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw refuseEntry(name, "has a '..' component");
  return parts.join('/');
}

/**
 * Why a symlink at `linkPath` (relative to the root) pointing at `target` could lead outside
 * `root`, or undefined when it cannot. The rule does not depend on other links of the tree:
 * a relative target may only climb first ('../../a/b'), never more levels than the link is deep,
 * and never after descending ('a/../..' could climb out through a link named 'a'). Every link
 * obeying it stays inside, so a chain of them does too. An absolute target must name a place
 * inside `root` (the local folder, with its final path).
 */
export function linkTargetProblem(linkPath: string, target: string, root: string): string | undefined {
  const quoted = JSON.stringify(target);
  if (target === '') return 'is a symlink with an empty target';
  if (target.includes('\0')) return 'is a symlink whose target has a NUL character';
  if (FOREIGN_SEPARATORS?.test(target)) return `is a symlink to ${quoted}, which has a path separator of this system`;
  const parts = target.split('/').filter((part) => part !== '' && part !== '.');
  const climbs = parts.findIndex((part) => part !== '..');
  const leadingUps = climbs === -1 ? parts.length : climbs;
  if (parts.slice(leadingUps).includes('..')) return `is a symlink to ${quoted}, which climbs with '..' after descending`;

  if (target.startsWith('/')) {
    const resolved = path.resolve('/', ...parts);
    const inside = resolved === root || resolved.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
    return inside ? undefined : `is a symlink to ${quoted}, outside the folder`;
  }
  const depth = linkPath.split('/').length - 1;
  return leadingUps > depth ? `is a symlink to ${quoted}, outside the folder` : undefined;
}
