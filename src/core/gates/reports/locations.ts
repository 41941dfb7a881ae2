/**
 * Paths in reports and lint output are written by code under test, so they are hostile: a
 * location is only given for a path that stays inside the workspace once normalised.
 */
import * as path from 'node:path';
import type { WorkspaceLocation } from '../types';

/** Where a report or a check's output was written, to map the paths it names. */
export interface ReportContext {
  /** The workspace folder inside the sandbox, e.g. /home/agent/workspace: absolute paths are mapped through it. */
  workdir: string;
  /**
   * The folder the command ran in, relative to the workspace (a check's `cwd`): relative paths
   * are relative to it. Absent or '' for the workspace itself.
   */
  cwd?: string;
}

/** Folders of installed libraries: a frame there is not where the user's code failed. */
const LIBRARY_FOLDERS = new Set(['node_modules', 'site-packages', 'dist-packages']);

/** The longest path and the largest line number taken from a report; beyond them it is noise. */
const MAX_PATH_CHARS = 4096;
const MAX_LINE_NUMBER = 10_000_000;

/**
 * The workspace-relative posix path `raw` names, or undefined when it leads outside the
 * workspace. Absolute paths must lie under `context.workdir` (the workspace inside the
 * sandbox); relative ones are taken from `context.cwd` (the workspace root when absent).
 */
export function workspacePath(raw: string, context: ReportContext): string | undefined {
  let candidate = raw.trim();
  if (candidate.startsWith('file://')) {
    candidate = fileUrlPath(candidate) ?? '';
  }
  if (candidate === '' || candidate.length > MAX_PATH_CHARS) return undefined;
  // A control character has no place in a path shown to the user; a backslash or a colon is a
  // separator or a drive on a Windows host (and `node:` marks Node's own modules).
  if (/[\u0000-\u001f\u007f\\:]/.test(candidate)) return undefined;
  let relative: string;
  if (candidate.startsWith('/')) {
    const root = path.posix.normalize(context.workdir).replace(/\/+$/, '');
    const normalised = path.posix.normalize(candidate);
    if (root === '' || !normalised.startsWith(`${root}/`)) return undefined;
    relative = normalised.slice(root.length + 1);
  } else {
    relative = path.posix.normalize(path.posix.join(context.cwd ?? '', candidate));
  }
  const parts = relative.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.length === 0 || parts.includes('..')) return undefined;
  return parts.join('/');
}

/** The path of a `file://` URL, or undefined when it names another host or is malformed. */
function fileUrlPath(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    if (parsed.hostname !== '' && parsed.hostname !== 'localhost') return undefined;
    return decodeURIComponent(parsed.pathname);
  } catch {
    return undefined;
  }
}

/** A location built from a raw path and line/column text or numbers, or undefined if any part is unusable. */
export function workspaceLocation(
  rawPath: string,
  line: string | number | undefined,
  column: string | number | undefined,
  context: ReportContext,
): WorkspaceLocation | undefined {
  const mapped = workspacePath(rawPath, context);
  const lineNumber = positiveInteger(line);
  if (mapped === undefined || lineNumber === undefined) return undefined;
  const columnNumber = positiveInteger(column);
  return columnNumber === undefined ? { path: mapped, line: lineNumber } : { path: mapped, line: lineNumber, column: columnNumber };
}

export function positiveInteger(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(number) && number >= 1 && number <= MAX_LINE_NUMBER ? number : undefined;
}

/** Whether a workspace path lies in an installed library (node_modules, a Python site-packages). */
function inLibrary(relativePath: string): boolean {
  return relativePath.split('/').some((part) => LIBRARY_FOLDERS.has(part));
}

interface FrameStyle {
  pattern: RegExp;
  /** Python prints the innermost call last; Node and Go print it first. */
  innermost: 'first' | 'last';
  /** Go's test log names a file of the test's package: not relative to where the command ran, so kept as printed. */
  packageRelative?: true;
}

/**
 * Stack frame shapes, most specific first. Each match has the path, the line and maybe the
 * column as groups 1 to 3.
 */
const FRAME_STYLES: FrameStyle[] = [
  // Python: `  File "/home/agent/workspace/tests/test_a.py", line 12, in test_a`
  { pattern: /File "([^"\n]+)", line (\d+)/g, innermost: 'last' },
  // pytest's long traceback: `tests/test_a.py:12: AssertionError`
  { pattern: /^([^\s:"'()][^:\n]*\.py):(\d+):/gm, innermost: 'last' },
  // Node: `at fn (/path/a.js:10:5)`, `fn (file:///path/a.js:10:5)` (Node's TAP has no `at`), `at /path/a.js:10:5`
  { pattern: /\(([^()\s][^()\n]*?):(\d+):(\d+)\)|\bat ((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)$/gm, innermost: 'first' },
  // Go panics: `\t/home/agent/workspace/pkg/a_test.go:41 +0x2e`
  { pattern: /^[ \t]+(\/\S+\.go):(\d+)(?: \+0x[0-9a-f]+)?$/gm, innermost: 'first' },
  // Go test messages: `    a_test.go:14: want 2` (relative to the package's folder, which the caller resolves)
  { pattern: /^[ \t]+([\w.-]+\.go):(\d+): /gm, innermost: 'first', packageRelative: true },
];

/** The frames of `text` in the workspace, outside installed libraries, innermost first, by the first style that has any. */
export function framesInWorkspace(text: string, context: ReportContext): WorkspaceLocation[] {
  for (const style of FRAME_STYLES) {
    const found: WorkspaceLocation[] = [];
    const paths = style.packageRelative ? { workdir: context.workdir } : context;
    for (const match of text.matchAll(style.pattern)) {
      // The Node style has two alternatives: the groups of whichever matched.
      const [rawPath, line, column] = match[1] !== undefined ? [match[1], match[2], match[3]] : [match[4] ?? '', match[5], match[6]];
      const location = workspaceLocation(rawPath, line, column, paths);
      if (location && !inLibrary(location.path)) found.push(location);
    }
    if (found.length > 0) return style.innermost === 'first' ? found : found.reverse();
  }
  return [];
}

/** How much of a failure's text is searched for frames: a real trace fits many times over. */
export const MAX_TRACE_CHARS = 1024 * 1024;

/** The innermost frame of a failure's text that is in the workspace (where the user's code failed), if any. */
export function locateInTrace(text: string | undefined, context: ReportContext): WorkspaceLocation | undefined {
  return text === undefined || text === '' ? undefined : framesInWorkspace(text.slice(0, MAX_TRACE_CHARS), context)[0];
}
