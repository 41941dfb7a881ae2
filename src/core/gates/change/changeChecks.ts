import * as path from 'node:path';
import { SandboxError } from '../../errors';
import { symlinkTargetProblem } from '../../sync/archivePaths';
import { LinkResolver } from '../../sync/linkTargets';
import { isPlainRelativePath } from '../../sync/manifest';

/** Bits a changed file may carry: setuid, setgid and sticky bits are refused, never dropped silently. */
export const PERMISSION_BITS = 0o777;

/** The error of a refused change; `problem` says what is wrong with `relativePath`, `fix` what to do. */
export function refuseChange(
  relativePath: string,
  problem: string,
  fix = 'the change is rolled back; retry the task without it (`sandbox task retry ID`)',
): SandboxError {
  return new SandboxError('unsafe-archive', `Refused the task's change: ${JSON.stringify(shortened(relativePath))} ${problem}; ${fix}. Nothing was applied.`);
}

/** A name fit for a message: a hostile one may be megabytes long. */
export function shortened(name: string): string {
  return name.length > 200 ? `${name.slice(0, 100)}...${name.slice(-100)}` : name;
}

/** On Windows a backslash or a colon in a name would act as a separator or a drive. */
const FOREIGN_SEPARATORS = process.platform === 'win32' ? /[\\:]/ : undefined;

/** Why `relativePath` is not a plain relative POSIX path ('a/b', no '.', '..', empty or absolute part), or undefined. */
export function pathProblem(relativePath: string): string | undefined {
  if (typeof relativePath !== 'string' || relativePath === '') return 'is not a path';
  if (relativePath.includes('\0')) return 'has a NUL character';
  // A name that moves a terminal's cursor could hide lines of the diff a person reviews.
  if (/[\u0001-\u001f\u007f]/.test(relativePath)) return 'has a control character';
  if (relativePath.startsWith('/')) return 'is an absolute path';
  if (FOREIGN_SEPARATORS?.test(relativePath)) return 'has a character that is a path separator here';
  if (!isPlainRelativePath(relativePath)) return "is not a plain relative path (it has a '..', '.' or empty part)";
  return undefined;
}

/** Why a mode may not be given to a file of the workspace, or undefined. */
export function modeProblem(mode: number): string | undefined {
  if (!Number.isInteger(mode) || mode < 0) return 'has an invalid mode';
  if ((mode & 0o6000) !== 0) return 'has the setuid or setgid bit';
  if ((mode & 0o1000) !== 0) return 'has the sticky bit';
  if ((mode & ~PERMISSION_BITS) !== 0) return 'has a mode that is not permission bits';
  return undefined;
}

/**
 * Why the link at `linkPath` with `target` must not be written, or undefined. Absolute targets are
 * refused outright (they name a place of the sandbox, or of this machine); relative ones must end
 * inside the workspace once the other links of the tree (`linkTargetOf`) are followed as the
 * kernel would.
 */
export function linkProblem(
  linkPath: string,
  target: string,
  linkTargetOf: (relativePath: string) => string | undefined = () => undefined,
): string | undefined {
  if (typeof target !== 'string') return 'is a symlink without a target';
  const malformed = symlinkTargetProblem(target);
  if (malformed) return malformed;
  if (path.posix.isAbsolute(target) || path.win32.isAbsolute(target)) return `is a symlink to the absolute path ${JSON.stringify(shortened(target))}`;
  // The resolver takes a made-up absolute root: only whether the walk stays under it matters.
  const decision = new LinkResolver('/workspace', linkTargetOf).decide(linkPath, target);
  if ('skip' in decision) return `is a symlink to ${JSON.stringify(shortened(target))}, which leads outside the workspace`;
  return undefined;
}

/**
 * Whether a path is (or is inside) git's own metadata: a change never rewrites a repository's
 * history. Any case: on a case-insensitive disk `.GIT/config` is `.git/config`.
 */
export function isGitMetadata(relativePath: string): boolean {
  return relativePath.split('/').some((part) => part.toLowerCase() === '.git');
}
