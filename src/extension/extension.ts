import * as vscode from 'vscode';
import { SandboxController } from '../core/controller';
import { describeError } from '../core/errors';

/** Entry point of the extension: a thin layer that hands commands to the core. */
export function activate(context: vscode.ExtensionContext): void {
  const controller = new SandboxController();
  context.subscriptions.push(
    vscode.commands.registerCommand('sandboxes.startSandbox', async () => {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      try {
        const record = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: 'Starting sandbox', cancellable: true },
          (progress, token) => {
            const abort = new AbortController();
            token.onCancellationRequested(() => abort.abort());
            return controller.create({
              push: folder ? { localRoot: folder } : undefined,
              buildImageIfMissing: true,
              signal: abort.signal,
              onProgress: (p) => progress.report({ message: p.message }),
            });
          },
        );
        void vscode.window.showInformationMessage(`Sandbox ${record.name} is running.`);
      } catch (error) {
        void vscode.window.showErrorMessage(describeError(error));
      }
    }),
  );
}

export function deactivate(): void {}
