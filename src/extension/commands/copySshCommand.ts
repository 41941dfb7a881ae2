import * as vscode from 'vscode';
import { isRunning, type Cockpit } from '../cockpit';
import { sshCommandLine } from '../sshModel';
import { resolveTarget } from '../targets';

/**
 * Copy SSH Command: `ssh -F <our config> sandbox-NAME`, which logs in from any terminal of this
 * machine without touching the user's own SSH config.
 */
export function copySshCommandCommand(cockpit: Cockpit) {
  return async (arg?: unknown): Promise<string | undefined> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox whose SSH command to copy', isRunning);
    if (!record) return undefined;
    try {
      const target = await cockpit.withProgress(`Connecting to ${record.name}`, () => cockpit.controller.sshTarget(record.id));
      const text = sshCommandLine(target.configFile, target.alias);
      await vscode.env.clipboard.writeText(text);
      vscode.window.setStatusBarMessage(`Copied: ${text}`, 4000);
      cockpit.log.info(`Copied the SSH command of ${record.name}: ${text}`);
      return text;
    } catch (error) {
      if (typeof arg === 'string') throw error;
      await cockpit.showError(error, record);
      return undefined;
    }
  };
}
