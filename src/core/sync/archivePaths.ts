import { SandboxError } from '../errors';
import { MAX_LINK_TARGET_BYTES } from './linkTargets';

/** The longest file name local file systems take. */
const MAX_NAME_BYTES = 255;

/** The error of a refused pull; `reason` completes "the entry NAME ...". */
export function refuseEntry(name: string, reason: string): SandboxError {
  return refuseArchive(`the entry ${JSON.stringify(shortened(name))} ${reason}`);
}

/** The error of a refused pull; `problem` is a sentence fragment about the whole archive. */
export function refuseArchive(problem: string): SandboxError {
  return new SandboxError('unsafe-archive', `Refused the pull: ${problem}. Nothing was changed locally.`);
}

/** A name fit for a message: a hostile one may be megabytes long. */
function shortened(name: string): string {
  return name.length > 200 ? `${name.slice(0, 100)}...${name.slice(-100)}` : name;
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
  if (parts.some((part) => Buffer.byteLength(part) > MAX_NAME_BYTES)) throw refuseEntry(name, `has a name longer than ${MAX_NAME_BYTES} bytes`);
  return parts.join('/');
}

/**
 * Why a symlink target is one no real link can have (refused with the whole archive), or
 * undefined. Where a target leads is not judged here: see LinkResolver, which skips the links
 * that lead outside and lets the pull go on.
 */
export function symlinkTargetProblem(target: string): string | undefined {
  if (target === '') return 'is a symlink with an empty target';
  if (target.includes('\0')) return 'is a symlink whose target has a NUL character';
  if (FOREIGN_SEPARATORS?.test(target)) return `is a symlink to ${JSON.stringify(target)}, which has a path separator of this system`;
  if (Buffer.byteLength(target) > MAX_LINK_TARGET_BYTES) return `is a symlink whose target is longer than ${MAX_LINK_TARGET_BYTES} bytes`;
  return undefined;
}
