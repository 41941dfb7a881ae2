import { chmod, mkdir, open, readdir, readFile, rename, rm, rmdir, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { SandboxError, describeError } from '../../errors';
import { inTree, lstatIfPresent } from './treeEntries';

/**
 * What takes one step of an apply back, written (and flushed) before the step is taken, so an
 * apply cut short by a crash can be taken back by the next one. Paths are relative to the
 * workspace, with `/`.
 */
export type UndoStep = { undo: 'rename'; from: string; to: string } | { undo: 'rmdir'; path: string } | { undo: 'mkdir'; path: string; mode: number };

type JournalLine = UndoStep | { done: true };

export const JOURNAL_FILE = 'journal.jsonl';

/** The undo steps of one apply, in its staging folder. */
export class ApplyJournal {
  private constructor(
    private readonly handle: FileHandle,
    readonly steps: UndoStep[] = [],
  ) {}

  static async create(stagingDir: string): Promise<ApplyJournal> {
    return new ApplyJournal(await open(path.join(stagingDir, JOURNAL_FILE), 'wx', 0o600));
  }

  /** Records a step's undo; only then may the step be taken. */
  async record(step: UndoStep): Promise<void> {
    await this.write(step);
    this.steps.push(step);
  }

  /** Every step was taken: an interrupted clean-up must not take them back. */
  async finish(): Promise<void> {
    await this.write({ done: true });
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  private async write(line: JournalLine): Promise<void> {
    await this.handle.appendFile(JSON.stringify(line) + '\n');
    await this.handle.datasync();
  }
}

/** Takes one step back; a step that never happened (the crash came before it) is left as it is. */
export async function undoStep(workspace: string, step: UndoStep): Promise<void> {
  if (step.undo === 'rename') {
    const from = inside(workspace, step.from);
    if (!(await lstatIfPresent(from))) return;
    await rename(from, inside(workspace, step.to));
  } else if (step.undo === 'rmdir') {
    const folder = inside(workspace, step.path);
    if (await lstatIfPresent(folder)) await rmdir(folder);
  } else {
    const folder = inside(workspace, step.path);
    if (await lstatIfPresent(folder)) return;
    await mkdir(folder);
    await chmod(folder, step.mode & 0o7777);
  }
}

/** Takes steps back, last first; returns the messages of those that failed. */
export async function undoSteps(workspace: string, steps: readonly UndoStep[]): Promise<string[]> {
  const failed: string[] = [];
  for (const step of [...steps].reverse()) await undoStep(workspace, step).catch((error: unknown) => failed.push(describeError(error)));
  return failed;
}

/**
 * Takes back every apply into `workspace` that a crash cut short (its staging folder is still
 * in `stagingParent`, its journal not marked done), so the workspace is as before it; applies
 * that finished only lose their leftover staging folder. Throws when one cannot be taken back.
 */
export async function recoverInterruptedApplies(workspace: string, stagingParent: string): Promise<void> {
  const names = await readdir(stagingParent).catch(() => [] as string[]);
  for (const name of names.filter((entry) => entry.startsWith('.apply-')).sort()) {
    const staging = path.join(stagingParent, name);
    const lines = await readJournal(path.join(staging, JOURNAL_FILE));
    if (lines === undefined) {
      // No journal: cut short before its first step; only staged copies are inside.
      if ((await readdir(path.join(staging, 'old')).catch(() => [])).length === 0) await rm(staging, { recursive: true, force: true });
      continue;
    }
    if (!lines.some((line) => 'done' in line)) {
      const failed = await undoSteps(
        workspace,
        lines.filter((line): line is UndoStep => !('done' in line)),
      );
      if (failed.length > 0) {
        throw new SandboxError(
          'wrong-state',
          `An earlier apply into ${workspace} was cut short and could not be taken back (${failed[0]}); the files it set aside are in ${staging}: put them back, remove that folder, and retry the task.`,
        );
      }
    }
    await rm(staging, { recursive: true, force: true });
  }
}

/** The journal's lines, a torn last one skipped; undefined when there is none. */
async function readJournal(file: string): Promise<JournalLine[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const lines: JournalLine[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      lines.push(JSON.parse(line) as JournalLine);
    } catch {
      break; // a line cut by the crash: its step was never taken
    }
  }
  return lines;
}

/** A journal's path, refused unless it stays inside the workspace. */
function inside(workspace: string, relativePath: unknown): string {
  if (
    typeof relativePath !== 'string' ||
    relativePath === '' ||
    path.isAbsolute(relativePath) ||
    relativePath.split('/').some((part) => part === '..' || part === '')
  ) {
    throw new SandboxError('invalid-input', `The apply journal names ${JSON.stringify(relativePath)}, which is not a path inside the workspace.`);
  }
  return inTree(workspace, relativePath);
}
