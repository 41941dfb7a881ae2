import * as vscode from 'vscode';
import type { SyncSummary } from '../../core/controller';
import { formatSize } from '../../core/profile';
import { isRunning, type Cockpit } from '../cockpit';
import { pickWorkspaceFolder, resolveTarget } from '../targets';

/** Sync Workspace to Sandbox: sends what changed since the last push, with progress and cancel. */
export function syncWorkspaceCommand(cockpit: Cockpit) {
  return async (arg?: unknown, localRoot?: unknown): Promise<SyncSummary | undefined> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox to sync the workspace to', isRunning);
    if (!record) return undefined;
    const folder = typeof localRoot === 'string' ? localRoot : (await pickWorkspaceFolder('Folder to sync'))?.uri.fsPath;
    if (!folder) return undefined;
    try {
      const summary = await cockpit.withProgress(`Syncing to ${record.name}`, (signal, report) =>
        cockpit.controller.push(record.id, {
          localRoot: folder,
          excludes: cockpit.settings().syncExcludes,
          signal,
          onProgress: (p) => report(`${p.phase} ${p.done}/${p.total}`, p.total ? p.done / p.total : undefined),
        }),
      );
      const message =
        `Synced to ${record.name}: ${summary.files} file(s), ${formatSize(summary.bytes)} sent, ${summary.unchanged ?? 0} unchanged, in ${(summary.durationMs / 1000).toFixed(1)} s.` +
        notices(summary);
      cockpit.log.info(message);
      if (typeof arg !== 'string') void vscode.window.showInformationMessage(message);
      return summary;
    } catch (error) {
      if (typeof arg === 'string') throw error;
      await cockpit.showError(error, record);
      return undefined;
    }
  };
}

/** What the user should know beyond the counts: work of the agent overwritten, files left out (the log names them). */
function notices(summary: SyncSummary): string {
  const overwritten = summary.overwrittenInSandbox ?? [];
  const skipped = summary.skipped ?? [];
  const list = (paths: string[]) => paths.slice(0, 3).join(', ') + (paths.length > 3 ? ` and ${paths.length - 3} more` : '');
  return (
    (overwritten.length > 0 ? ` Overwrote ${overwritten.length} file(s) changed in the sandbox: ${list(overwritten)}.` : '') +
    (skipped.length > 0 ? ` Left out ${skipped.length} it could not send: ${list(skipped.map((entry) => entry.path))}.` : '')
  );
}
