import * as vscode from 'vscode';
import type { Cockpit } from '../cockpit';
import { COMMAND_IDS } from '../commandIds';
import { pickSandbox } from '../targets';

/** The status bar's click: pick a sandbox, then what to do with it. */
export function pickSandboxCommand(cockpit: Cockpit) {
  return async (): Promise<void> => {
    if (cockpit.records.length === 0 && cockpit.engine.kind === 'up') {
      await vscode.commands.executeCommand(COMMAND_IDS.startSandbox);
      return;
    }
    const record = await pickSandbox(cockpit, 'Pick a sandbox');
    if (!record) return;
    const running = record.state === 'running';
    const actions = [
      ...(running
        ? [
            { label: '$(terminal) Open Terminal', command: COMMAND_IDS.openTerminal },
            { label: '$(remote-explorer) Attach VS Code', command: COMMAND_IDS.attachVsCode },
            { label: '$(play) Run Command…', command: COMMAND_IDS.runCommand },
            { label: '$(plug) Forward Port…', command: COMMAND_IDS.forwardPort },
            { label: '$(copy) Copy SSH Command', command: COMMAND_IDS.copySshCommand },
          ]
        : []),
      ...(running ? [{ label: '$(debug-stop) Stop', command: COMMAND_IDS.stop }] : []),
      ...(record.state === 'stopped' ? [{ label: '$(debug-start) Start', command: COMMAND_IDS.start }] : []),
      { label: '$(output) Show Logs', command: COMMAND_IDS.showLogs },
      { label: '$(copy) Copy Sandbox ID', command: COMMAND_IDS.copyId },
      { label: '$(trash) Delete…', command: COMMAND_IDS.delete },
    ];
    const action = await vscode.window.showQuickPick(actions, { placeHolder: `${record.name}: what to do` });
    if (action) await vscode.commands.executeCommand(action.command, { kind: 'sandbox', record });
  };
}
