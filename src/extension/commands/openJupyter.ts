import * as vscode from 'vscode';
import { writeRedirectPage } from '../../core/util/redirectPage';
import { isRunning, type Cockpit } from '../cockpit';
import { loadCore } from '../lazyCore';
import { resolveTarget } from '../targets';

/**
 * Open Jupyter: the sandbox's Jupyter Notebook server (started as its user on its own 127.0.0.1
 * with a token, or the one already running) forwarded here and opened in the browser. The
 * forward shows under the sandbox like any other; the token stays out of the log, and out of the
 * opener's command line (a redirect page of the state dir is opened instead, where the browser
 * runs on this machine; a remote window's browser runs elsewhere and gets the URL).
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
      const local = vscode.env.remoteName === undefined && vscode.env.uiKind === vscode.UIKind.Desktop;
      const target = local ? vscode.Uri.file(await writeRedirectPage(cockpit.controller.store.root, opened.url)) : vscode.Uri.parse(opened.url);
      return await vscode.env.openExternal(target);
    } catch (error) {
      await cockpit.showError(error, record);
      return false;
    }
  };
}
