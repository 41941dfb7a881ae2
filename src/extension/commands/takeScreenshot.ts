import * as os from 'node:os';
import * as vscode from 'vscode';
import { isRunningDesktop, type Cockpit } from '../cockpit';
import type { DesktopPanels } from '../desktopPanel';
import { loadCore } from '../lazyCore';
import { screenshotFileName } from '../presentation';
import { resolveTarget } from '../targets';
import { isSandboxNode } from '../views/sandboxTree';

/**
 * Take Screenshot: what the sandbox's desktop shows now, read over its SSH connection and saved
 * as a PNG where the user says (or at `targetPath`, given by a caller such as a test, without
 * asking). Resolves to the saved file's path.
 */
export function takeScreenshotCommand(cockpit: Cockpit, desktops: DesktopPanels) {
  return async (arg?: unknown, targetPath?: unknown): Promise<string | undefined> => {
    const programmatic = typeof targetPath === 'string' && targetPath !== '';
    // From the palette or the panel's title bar, the desktop in front is the one meant.
    const shown = typeof arg === 'string' || isSandboxNode(arg) ? undefined : desktops.active()?.sandboxId;
    const record = await resolveTarget(cockpit, shown ?? arg, 'Sandbox whose desktop to capture', isRunningDesktop);
    if (!record) return undefined;
    if (!record.profile.desktop) {
      await cockpit.showError(new Error(`${record.name} has no desktop; start a sandbox with the Desktop profile to get one.`));
      return undefined;
    }
    const target = programmatic
      ? vscode.Uri.file(targetPath)
      : await vscode.window.showSaveDialog({
          title: `Save a Screenshot of ${record.name}`,
          defaultUri: vscode.Uri.joinPath(defaultFolder(), screenshotFileName(record.name)),
          filters: { 'PNG images': ['png'] },
          saveLabel: 'Save Screenshot',
        });
    if (!target) return undefined;
    try {
      const { png, width, height } = await cockpit.withProgress(`Capturing the desktop of ${record.name}`, (signal) =>
        loadCore().screenshot(cockpit.controller, record.id, signal),
      );
      await vscode.workspace.fs.writeFile(target, png);
      cockpit.log.info(`Saved a ${width}x${height} screenshot of ${record.name} to ${target.fsPath}`);
      if (!programmatic) {
        void cockpit.notify('info', `Saved a screenshot of ${record.name} to ${target.fsPath}.`, 'Open').then((choice) => {
          if (choice) void vscode.commands.executeCommand('vscode.open', target);
        });
      }
      return target.fsPath;
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error, record);
      return undefined;
    }
  };
}

function defaultFolder(): vscode.Uri {
  return vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir());
}
