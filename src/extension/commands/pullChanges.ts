import * as vscode from 'vscode';
import type { SyncSummary } from '../../core/controller';
import { formatSize } from '../../core/profile';
import { pullNoteLines, pullNoteSentence } from '../../core/sync/pullNotes';
import { isRunning, type Cockpit } from '../cockpit';
import { pickWorkspaceFolder, resolveTarget } from '../targets';

/** Pull Changes from Sandbox: copies the sandbox's workspace back over the local folder, checked as untrusted input. */
export function pullChangesCommand(cockpit: Cockpit) {
  return async (arg?: unknown, localRoot?: unknown): Promise<SyncSummary | undefined> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox to pull changes from', isRunning);
    if (!record) return undefined;
    const programmatic = typeof localRoot === 'string';
    const folder = programmatic ? (localRoot as string) : (await pickWorkspaceFolder('Folder to pull into'))?.uri.fsPath;
    if (!folder) return undefined;
    if (!programmatic) {
      const answer = await vscode.window.showWarningMessage(
        `Pull ${record.workdir} from ${record.name} into ${folder}? Local files that also exist in the sandbox are replaced by the sandbox's version.`,
        { modal: true },
        'Pull',
      );
      if (answer !== 'Pull') return undefined;
    }
    try {
      const summary = await cockpit.withProgress(`Pulling from ${record.name}`, (signal) =>
        cockpit.controller.pull(record.id, { localRoot: folder, excludes: cockpit.settings().syncExcludes, signal }),
      );
      const notes = pullNoteSentence(summary);
      const message = `Pulled from ${record.name}: ${summary.files} file(s), ${formatSize(summary.bytes)}, in ${(summary.durationMs / 1000).toFixed(1)} s.${notes ? ` ${notes}` : ''}`;
      cockpit.log.info([message, ...pullNoteLines(summary)].join('\n'));
      // Something left out or replaced is a warning: it should not fade away unread.
      if (!programmatic) void (notes ? vscode.window.showWarningMessage(message) : vscode.window.showInformationMessage(message));
      return summary;
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error, record);
      return undefined;
    }
  };
}
