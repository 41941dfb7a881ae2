import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { installLauncher, refreshLauncher, removeLauncher, type LauncherTarget } from '../../app/cliLauncher';
import type { Cockpit } from '../cockpit';

/** The CLI this extension ships, and the runtime that can run it when the machine has no Node.js of its own. */
export function launcherTarget(context: vscode.ExtensionContext): LauncherTarget {
  // Desktop VS Code runs extensions in Electron; code-server in a plain Node.js.
  return { cli: context.asAbsolutePath(path.join('dist', 'cli.js')), runtime: editorRuntime(), electron: Boolean(process.versions.electron) };
}

/**
 * The editor's executable. On macOS the extension host is a helper app inside the bundle; VS
 * Code's own `code` command runs Contents/MacOS/Electron instead, and so does the launcher.
 */
function editorRuntime(): string {
  if (process.platform === 'darwin' && process.versions.electron) {
    const main = path.join(vscode.env.appRoot, '..', '..', 'MacOS', 'Electron');
    if (existsSync(main)) return main;
  }
  return process.execPath;
}

/** Install 'sandbox' Command in PATH: ~/.local/bin/sandbox runs the bundled CLI. */
export function installCliCommand(cockpit: Cockpit) {
  return async (): Promise<string | undefined> => {
    if (process.platform === 'win32') {
      void cockpit.notify(
        'error',
        "The 'sandbox' command is a shell script for Linux and macOS; on Windows, run it inside WSL with the extension installed there.",
      );
      return undefined;
    }
    try {
      const result = await installLauncher(launcherTarget(cockpit.context));
      cockpit.log.info(`${result.changed ? 'Wrote' : 'Kept'} ${result.file}, which runs ${cockpit.context.asAbsolutePath('dist/cli.js')}`);
      if (result.onPath) {
        void cockpit.notify('info', `The 'sandbox' command is installed as ${result.file}: try \`sandbox list\` in a new terminal.`);
      } else {
        const line = 'export PATH="$HOME/.local/bin:$PATH"';
        void cockpit
          .notify(
            'warning',
            `The 'sandbox' command is installed as ${result.file}, but ${path.dirname(result.file)} is not on PATH: add \`${line}\` to your shell's profile, then open a new terminal.`,
            'Copy Line',
          )
          .then((choice) => (choice === 'Copy Line' ? vscode.env.clipboard.writeText(line) : undefined));
      }
      return result.file;
    } catch (error) {
      await cockpit.showError(error);
      return undefined;
    }
  };
}

/** Remove 'sandbox' Command from PATH: only a launcher this extension wrote. */
export function removeCliCommand(cockpit: Cockpit) {
  return async (): Promise<boolean> => {
    try {
      const result = await removeLauncher();
      cockpit.log.info(result.removed ? `Removed ${result.file}` : `No ${result.file} to remove`);
      void cockpit.notify(
        'info',
        result.removed ? `Removed the 'sandbox' command (${result.file}).` : `There is no 'sandbox' command in ${path.dirname(result.file)} to remove.`,
      );
      return result.removed;
    } catch (error) {
      await cockpit.showError(error);
      return false;
    }
  };
}

/** After an update, an installed launcher still names the old extension folder: point it at this one. */
export function refreshInstalledCli(cockpit: Cockpit): void {
  if (cockpit.context.extensionMode !== vscode.ExtensionMode.Production || process.platform === 'win32') return;
  refreshLauncher(launcherTarget(cockpit.context)).then(
    (changed) => {
      if (changed) cockpit.log.info("The 'sandbox' command now runs this version's CLI");
    },
    (error: unknown) => cockpit.log.warn(`Could not update the 'sandbox' command: ${String(error)}`),
  );
}
