import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { DashboardFeed } from '../app/dashboardFeed';
import { dashboardPage } from '../app/dashboardPage';
import { describeError } from '../core/errors';
import type { DashboardRequest, DashboardUpdate } from '../dashboard/protocol';
import type { Cockpit } from './cockpit';
import { COMMAND_IDS, DASHBOARD_VIEW_TYPE } from './commandIds';
import { loadCore } from './lazyCore';

/**
 * The dashboard in a webview: the page of `sandbox dashboard` (dist/dashboard.js), fed by
 * postMessage from the same source, a DashboardFeed reading the collector's store read-only in
 * the core bundle. One panel; the feed runs while it is open.
 */
export class DashboardPanel implements vscode.Disposable {
  private panel?: vscode.WebviewPanel;
  private feed?: DashboardFeed;
  private unsubscribe?: () => void;
  private readonly disposables: vscode.Disposable[] = [];
  /** The last update posted, for the extension-host tests. */
  lastUpdate?: DashboardUpdate;
  /** What the page's Content Security Policy refused (`directive: blocked`): should stay empty. */
  readonly refused: string[] = [];

  constructor(private readonly cockpit: Cockpit) {}

  /** Reveals the panel, making it when there is none. */
  open(): vscode.WebviewPanel {
    if (this.panel) {
      this.panel.reveal();
      return this.panel;
    }
    const root = this.cockpit.context.extensionUri;
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, 'Sandboxes Dashboard', vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(root, 'dist')],
    });
    this.panel = panel;
    const { webview } = panel;
    webview.html = dashboardPage({
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'dist', 'dashboard.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'dist', 'dashboard.css')).toString(),
      cspSource: webview.cspSource,
      nonce: randomBytes(16).toString('base64'),
      config: { transport: 'vscode' },
    });
    this.disposables.push(
      webview.onDidReceiveMessage((message: DashboardRequest) => void this.onMessage(message)),
      panel.onDidDispose(() => this.close()),
    );
    return panel;
  }

  private startFeed(): DashboardFeed {
    if (this.feed) return this.feed;
    const { DashboardFeed } = loadCore();
    this.feed = new DashboardFeed({
      stateRoot: this.cockpit.stateDir(),
      records: () => this.cockpit.records,
      desktops: this.cockpit.controller,
      log: (line) => this.cockpit.log.debug(line),
    });
    this.feed.start().catch((error: unknown) => this.cockpit.log.warn(`Dashboard: ${describeError(error)}`));
    return this.feed;
  }

  private async onMessage(message: DashboardRequest): Promise<void> {
    switch (message.type) {
      case 'ready': {
        // The page loaded (again: a hidden panel's page is reloaded when shown): a snapshot, then deltas.
        this.unsubscribe?.();
        const feed = this.startFeed();
        await feed.start();
        this.unsubscribe = feed.subscribe((update) => {
          this.lastUpdate = update;
          void this.panel?.webview.postMessage(update);
        });
        break;
      }
      case 'refused':
        this.refused.push(`${message.directive}: ${message.blocked}`);
        this.cockpit.log.warn(`The dashboard was refused ${message.blocked || 'an inline source'} by its Content Security Policy (${message.directive})`);
        break;
      case 'openDesktop': {
        // Only a sandbox the page was shown: the message names it by id.
        const record = this.cockpit.records.find((r) => r.id === message.sandboxId);
        if (record) await vscode.commands.executeCommand(COMMAND_IDS.openDesktop, record.id);
        break;
      }
    }
  }

  private close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.feed?.stop();
    this.feed = undefined;
    this.panel = undefined;
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }

  dispose(): void {
    this.panel?.dispose();
    this.close();
  }
}
