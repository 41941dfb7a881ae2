import { structuredPatch } from 'diff';
import { readTreeEntry, type TreeEntry } from './treeEntries';
import type { FileChange, Patch } from '../types';

export interface UnifiedDiffOptions {
  /** Unchanged lines shown around each change; 3 as git does. */
  context?: number;
}

/**
 * The whole change as one unified diff in git's format (new, deleted and renamed files, mode
 * changes, links as their target), for review in a terminal. Binary files show as
 * "Binary files differ"; a moved file shows once, as a rename.
 */
export async function unifiedDiff(patch: Patch, options: UnifiedDiffOptions = {}): Promise<string> {
  const context = options.context ?? 3;
  const movedAway = new Set(patch.changes.flatMap((change) => (change.renamedFrom === undefined ? [] : [change.renamedFrom])));
  const sections: string[] = [];
  for (const change of patch.changes) {
    if (change.kind === 'deleted' && movedAway.has(change.path)) continue;
    const oldPath = change.renamedFrom ?? change.path;
    const before = change.kind === 'added' && change.renamedFrom === undefined ? undefined : await readTreeEntry(patch.baseDir, oldPath);
    const after = change.kind === 'deleted' ? undefined : await readTreeEntry(patch.afterDir, change.path);
    sections.push(fileSection(change, oldPath, before, after, context));
  }
  return sections.join('');
}

function fileSection(change: FileChange, oldPath: string, before: TreeEntry | undefined, after: TreeEntry | undefined, context: number): string {
  const lines = [`diff --git a/${oldPath} b/${change.path}`];
  const oldMode = gitMode(before);
  const newMode = gitMode(after);
  if (!before && newMode) lines.push(`new file mode ${newMode}`);
  else if (!after && oldMode) lines.push(`deleted file mode ${oldMode}`);
  else if (oldMode !== newMode) lines.push(`old mode ${oldMode}`, `new mode ${newMode}`);
  if (change.renamedFrom !== undefined) lines.push('similarity index 100%', `rename from ${oldPath}`, `rename to ${change.path}`);
  const oldText = textOf(before);
  const newText = textOf(after);
  if (change.renamedFrom !== undefined || sameContent(before, after)) return `${lines.join('\n')}\n`;
  if (change.binary) return `${lines.join('\n')}\nBinary files differ\n`;
  lines.push(before ? `--- a/${oldPath}` : '--- /dev/null', after ? `+++ b/${change.path}` : '+++ /dev/null');
  for (const hunk of structuredPatch(oldPath, change.path, oldText ?? '', newText ?? '', '', '', { context }).hunks) {
    // As in git, an empty side starts at line 0.
    const oldStart = hunk.oldLines === 0 ? hunk.oldStart - 1 : hunk.oldStart;
    const newStart = hunk.newLines === 0 ? hunk.newStart - 1 : hunk.newStart;
    lines.push(`@@ -${oldStart},${hunk.oldLines} +${newStart},${hunk.newLines} @@`, ...hunk.lines);
  }
  return `${lines.join('\n')}\n`;
}

function sameContent(before: TreeEntry | undefined, after: TreeEntry | undefined): boolean {
  if (before?.type === 'file' && after?.type === 'file') return before.content.equals(after.content);
  if (before?.type === 'symlink' && after?.type === 'symlink') return before.target === after.target;
  return before === undefined && after === undefined;
}

/** What a diff shows of an entry: a file's text, a link's target (as git shows links). */
function textOf(entry: TreeEntry | undefined): string | undefined {
  if (entry?.type === 'file') return entry.content.toString('utf8');
  if (entry?.type === 'symlink') return entry.target;
  return undefined;
}

function gitMode(entry: TreeEntry | undefined): string | undefined {
  if (entry?.type === 'symlink') return '120000';
  if (entry?.type === 'file') return `100${(entry.mode & 0o777).toString(8).padStart(3, '0')}`;
  return undefined;
}
