import * as vscode from 'vscode';
import { isRunning, type Cockpit } from '../cockpit';
import { SandboxPseudoterminal } from '../sandboxTerminal';
import { resolveTarget } from '../targets';

/** Open Terminal: an interactive shell inside the sandbox, in a VS Code terminal. */
export function openTerminalCommand(cockpit: Cockpit) {
  return async (arg?: unknown): Promise<vscode.Terminal | undefined> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox to open a terminal in', isRunning);
    if (!record) return undefined;
    if (record.state !== 'running') {
      await cockpit.showError(new Error(`${record.name} is ${record.state}; start it before opening a terminal.`));
      return undefined;
    }
    const terminal = vscode.window.createTerminal({
      name: `Sandbox: ${record.name}`,
      pty: new SandboxPseudoterminal(cockpit, record),
      iconPath: new vscode.ThemeIcon('vm'),
    });
    terminal.show();
    return terminal;
  };
}
