import * as vscode from 'vscode';
import type { Cockpit } from '../cockpit';
import { loadCore } from '../lazyCore';

/**
 * Show Cost: what `sandbox cost` prints for this window's state dir (the month's cost by sandbox,
 * agent and task, the budget left, the account's own figure when signed in), in its own output
 * channel. Returns the text shown.
 */
export function showCostCommand(cockpit: Cockpit) {
  let channel: vscode.OutputChannel | undefined;
  return async (): Promise<string | undefined> => {
    try {
      const core = loadCore();
      const report = await cockpit.withProgress('Reading the cost of cloud sandboxes', (signal) =>
        core.readCostReport({ stateRoot: cockpit.stateDir(), signal }),
      );
      const text = core.formatCostReport(report);
      if (!channel) {
        channel = vscode.window.createOutputChannel('Sandboxes Cost');
        cockpit.context.subscriptions.push(channel);
      }
      channel.clear();
      channel.appendLine(text);
      channel.show(true);
      return text;
    } catch (error) {
      await cockpit.showError(error);
      return undefined;
    }
  };
}
