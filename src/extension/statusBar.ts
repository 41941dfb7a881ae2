import * as vscode from 'vscode';
import type { Cockpit } from './cockpit';
import { COMMAND_IDS } from './commandIds';
import { statusBarText } from './presentation';

/** How many sandboxes run; a click opens a quick pick of them. */
export function createStatusBarItem(cockpit: Cockpit): vscode.Disposable {
  const item = vscode.window.createStatusBarItem('sandboxes.status', vscode.StatusBarAlignment.Left, 50);
  item.name = 'Sandboxes';
  item.command = COMMAND_IDS.pickSandbox;
  const update = () => {
    if (cockpit.engine.kind === 'down') {
      item.text = '$(vm) $(warning)';
      item.tooltip = 'The Docker engine does not answer; see the Sandboxes view';
    } else {
      const { text, tooltip } = statusBarText(cockpit.records);
      item.text = text;
      item.tooltip = tooltip;
    }
    item.show();
  };
  const subscription = cockpit.onDidChange(update);
  return vscode.Disposable.from(item, subscription);
}
