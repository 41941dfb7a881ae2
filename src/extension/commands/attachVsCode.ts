import * as vscode from 'vscode';
import { lacksSsh, noNetworkError } from '../../core/network/policy';
import { isCloudMachine } from '../../core/providers/kinds';
import type { SandboxRecord } from '../../core/model';
import { isRunning, type Cockpit } from '../cockpit';
import { COMMAND_IDS } from '../commandIds';
import { ensureSshIntegration } from '../sshIntegration';
import { REMOTE_SSH_EXTENSIONS, remoteFolderUriParts, remoteSshFor } from '../sshModel';
import { resolveTarget } from '../targets';
import type { SandboxNode } from '../views/sandboxTree';

/**
 * The two places where Attach VS Code meets the editor: which Remote-SSH extension is installed,
 * and opening the new window. The extension-host tests replace them to see the URI handed over
 * (code-server has no Remote-SSH, and a new window would leave the test's page).
 */
export interface AttachSeams {
  /** The id of an installed Remote-SSH extension, or undefined when there is none. */
  installedRemoteSsh(): string | undefined;
  openFolder(uri: vscode.Uri): Thenable<unknown>;
}

export const editorAttachSeams: AttachSeams = {
  installedRemoteSsh: () => REMOTE_SSH_EXTENSIONS.find((extension) => vscode.extensions.getExtension(extension.id))?.id,
  openFolder: (uri) => vscode.commands.executeCommand('vscode.openFolder', uri, { forceNewWindow: true }),
};

/**
 * Attach VS Code: a new window on the sandbox's workspace through Remote-SSH, which logs in with
 * our SSH config (Included from the user's, with consent) and installs its server in the sandbox.
 */
export function attachVsCodeCommand(cockpit: Cockpit, seams: AttachSeams) {
  return async (arg?: unknown): Promise<vscode.Uri | undefined> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox to open in a VS Code window', isRunning);
    if (!record) return undefined;
    const programmatic = typeof arg === 'string';
    try {
      if (record.state !== 'running') throw new Error(`${record.name} is ${record.state}; start it before attaching VS Code.`);
      if (lacksSsh(record, isCloudMachine)) throw noNetworkError(record.name); // before offering or editing anything
      if (!seams.installedRemoteSsh()) {
        offerRemoteSsh(cockpit, record);
        return undefined;
      }
      if (!(await ensureSshIntegration(cockpit))) return undefined;
      // Waits for the sandbox's sshd and rewrites our config, so Remote-SSH finds the host as it is now.
      const target = await cockpit.withProgress(`Connecting to ${record.name}`, () => cockpit.controller.sshTarget(record.id));
      const uri = vscode.Uri.from(remoteFolderUriParts(target.alias, target.record.workdir));
      cockpit.log.info(`Opening ${uri.toString(true)} in a new window`);
      await seams.openFolder(uri);
      return uri;
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error, record);
      return undefined;
    }
  };
}

/** Says what is missing and offers to install it; the command does not wait for the answer. */
function offerRemoteSsh(cockpit: Cockpit, record: SandboxRecord): void {
  const extension = remoteSshFor(vscode.env.appName, vscode.env.uriScheme);
  const message = `Opening a sandbox in a VS Code window needs the ${extension.displayName} extension (${extension.id}), which is not installed; install it, then attach again.`;
  cockpit.log.warn(message);
  void cockpit.notify('warning', message, 'Install', 'Show in Extensions').then(async (choice) => {
    if (choice === 'Show in Extensions') {
      await vscode.commands.executeCommand('workbench.extensions.search', extension.id);
      return;
    }
    if (choice !== 'Install') return;
    try {
      await vscode.commands.executeCommand('workbench.extensions.installExtension', extension.id);
      const next = await cockpit.notify('info', `${extension.displayName} is installed.`, 'Attach VS Code');
      if (next) await vscode.commands.executeCommand(COMMAND_IDS.attachVsCode, { kind: 'sandbox', record } satisfies SandboxNode);
    } catch (error) {
      cockpit.log.error(`Installing ${extension.id} failed: ${error instanceof Error ? error.message : String(error)}`);
      const next = await cockpit.notify(
        'error',
        `${extension.displayName} could not be installed here; install ${extension.id} from the Extensions view.`,
        'Show in Extensions',
      );
      if (next) await vscode.commands.executeCommand('workbench.extensions.search', extension.id);
    }
  });
}
