import * as vscode from 'vscode';
import { watchAlertNotices, type AlertNotice } from '../core/cost/alertNotices';
import { describeError } from '../core/errors';
import { EventLog } from '../core/events/eventLog';
import type { Cockpit } from './cockpit';
import { COMMAND_IDS } from './commandIds';
import { SETTINGS_SECTION, MONTHLY_BUDGET_KEY } from './settingsModel';

const SHOW_COST = 'Show Cost';
const SET_BUDGET = 'Set Budget';

/**
 * The budget alerts of the state dir as warnings, whichever process fired them (the CLI, the
 * daemon): each once across windows and restarts (core/cost/alertNotices.ts). Follows the state
 * dir the window uses, again after it changes.
 */
export class BudgetNotices implements vscode.Disposable {
  private abort?: AbortController;
  /** The notices this window showed, for the extension-host tests. */
  readonly shown: AlertNotice[] = [];
  private readonly subscription: vscode.Disposable;

  constructor(private readonly cockpit: Cockpit) {
    this.subscription = vscode.workspace.onDidChangeConfiguration((event) => {
      // After the cockpit has read the new setting (its listener may come after this one).
      if (this.abort && event.affectsConfiguration(`${SETTINGS_SECTION}.stateDir`)) setTimeout(() => this.start(), 0);
    });
  }

  /** Starts following (or follows anew) the state dir's event log. */
  start(): void {
    this.abort?.abort();
    const abort = (this.abort = new AbortController());
    const stateRoot = this.cockpit.stateDir();
    watchAlertNotices({ stateRoot, log: new EventLog(stateRoot), signal: abort.signal, show: (notice) => this.show(notice) }).catch((error: unknown) => {
      if (!abort.signal.aborted)
        this.cockpit.log.warn(`Budget alerts are not shown in this window: ${describeError(error)}; \`sandbox cost\` shows the figures.`);
    });
  }

  private show(notice: AlertNotice): void {
    this.shown.push(notice);
    this.cockpit.log.warn(notice.message);
    void this.cockpit.notify('warning', notice.message, SHOW_COST, SET_BUDGET).then((choice) => {
      if (choice === SHOW_COST) return vscode.commands.executeCommand(COMMAND_IDS.showCost);
      if (choice === SET_BUDGET) return vscode.commands.executeCommand('workbench.action.openSettings', `${SETTINGS_SECTION}.${MONTHLY_BUDGET_KEY}`);
      return undefined;
    });
  }

  dispose(): void {
    this.abort?.abort();
    this.subscription.dispose();
  }
}
