import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import ignore, { type Ignore } from 'ignore';

/**
 * Caches and environments that are rebuilt per machine and only slow a sync down.
 * `.git` is deliberately absent: agents need the history.
 */
export const DEFAULT_EXCLUDES: readonly string[] = [
  'node_modules',
  '__pycache__',
  '*.py[co]',
  '.venv',
  '.tox',
  '.nox',
  '.mypy_cache',
  '.pytest_cache',
  '.ruff_cache',
  '.DS_Store',
  'Thumbs.db',
  // A pull in progress next to a pushed folder: never ship its half-written staging area.
  '.*.sandbox-pull-*',
  // Likewise a task's change being applied to the workspace (kept there only if putting it back failed).
  '.sandboxes/.apply-*',
];

/** Decides which paths a sync skips. Paths are relative POSIX paths without a leading slash. */
export interface PathFilter {
  isExcluded(relativePath: string, isDirectory: boolean): boolean;
}

/** A filter that also honours the `.gitignore` files met while walking a tree. */
export interface TreeFilter extends PathFilter {
  /** Adds `<relativeDir>/.gitignore`; the walker calls it before testing that directory's children. */
  loadGitignore(relativeDir: string): Promise<void>;
}

/** Default excludes plus `excludes` (gitignore syntax), matched against the whole relative path. */
export function createPathFilter(excludes: readonly string[] = []): PathFilter {
  const patterns = ignore().add([...DEFAULT_EXCLUDES, ...excludes]);
  return { isExcluded: (relativePath, isDirectory) => patterns.ignores(asCandidate(relativePath, isDirectory)) };
}

/** Like `createPathFilter`, and also applies every `.gitignore` under `root`, each relative to its own folder. */
export function createTreeFilter(root: string, excludes: readonly string[] = []): TreeFilter {
  const patterns = createPathFilter(excludes);
  const gitignores = new Map<string, Ignore>();

  return {
    async loadGitignore(relativeDir) {
      if (isInsideGitMetadata(relativeDir)) return;
      const file = path.join(root, ...splitPath(relativeDir), '.gitignore');
      const rules = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        // Gone since the listing, or a directory that happens to be named .gitignore.
        if (error.code === 'ENOENT' || error.code === 'EISDIR') return undefined;
        throw error;
      });
      if (rules !== undefined) gitignores.set(relativeDir, ignore().add(rules));
    },

    isExcluded(relativePath, isDirectory) {
      if (patterns.isExcluded(relativePath, isDirectory)) return true;
      // git never applies ignore rules to its own metadata; a `*.pack` rule must not break a repository.
      if (isInsideGitMetadata(relativePath)) return false;
      const candidate = asCandidate(relativePath, isDirectory);
      // The nearest .gitignore that has an opinion wins, as in git: deeper files override their ancestors.
      for (let dir = parentOf(relativePath); dir !== undefined; dir = parentOf(dir)) {
        const rules = gitignores.get(dir);
        if (!rules) continue;
        const verdict = rules.test(dir === '' ? candidate : candidate.slice(dir.length + 1));
        if (verdict.ignored) return true;
        if (verdict.unignored) return false;
      }
      return false;
    },
  };
}

/** The `ignore` package tells a directory from a file by a trailing slash. */
function asCandidate(relativePath: string, isDirectory: boolean): string {
  return isDirectory ? `${relativePath}/` : relativePath;
}

/** '' for a top-level path, undefined for the root itself. */
function parentOf(relativePath: string): string | undefined {
  if (relativePath === '') return undefined;
  const slash = relativePath.lastIndexOf('/');
  return slash === -1 ? '' : relativePath.slice(0, slash);
}

function splitPath(relativePath: string): string[] {
  return relativePath === '' ? [] : relativePath.split('/');
}

function isInsideGitMetadata(relativePath: string): boolean {
  return splitPath(relativePath).includes('.git');
}
