import * as vscode from 'vscode';
import { isRunning, type Cockpit } from '../cockpit';
import { loadCore } from '../lazyCore';
import { resolveTarget } from '../targets';

/**
 * Open Jupyter: the sandbox's Jupyter Notebook server (started as its user on its own 127.0.0.1
 * with a token, or the one already running) forwarded here and opened in the browser. The
 * forward shows under the sandbox like any other; the token stays out of the log.
 */
export function openJupyterCommand(cockpit: Cockpit) {
  return async (arg?: unknown): Promise<boolean> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox whose Jupyter to open', isRunning);
    if (!record) return false;
    try {
      const opened = await cockpit.withProgress(`Starting Jupyter in ${record.name}`, (signal) =>
        loadCore().openNotebook(cockpit.controller, record.id, { signal }),
      );
      cockpit.watchForward(opened.forward);
      cockpit.log.info(`Jupyter of ${record.name} is forwarded to ${opened.forward.url} (its token is kept out of this log)`);
      return await vscode.env.openExternal(vscode.Uri.parse(opened.url));
    } catch (error) {
      await cockpit.showError(error, record);
      return false;
    }
  };
}
