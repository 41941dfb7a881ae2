import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import type { SandboxRecord } from '../core/model';
import { viewerPage } from '../core/desktop/viewerPage';
import type { HostMessage, ViewerMessage, ViewerStatus } from '../viewer/protocol';
import type { Cockpit } from './cockpit';
import { COMMAND_IDS, DESKTOP_VIEW_TYPE } from './commandIds';
import { loadCore, sandboxErrorCode } from './lazyCore';

/** Longer clipboard text from a desktop is dropped. */
const MAX_CLIPBOARD_CHARS = 1024 * 1024;

/** What a restored panel remembers across a window reload (the viewer keeps it with setState). */
interface PanelState {
  sandboxId: string;
}

/**
 * The live desktops: one webview panel per sandbox, each running noVNC, whose bytes the
 * extension host carries to the sandbox's VNC server inside its SSH connection (nothing is
 * published). Panels come back after a window reload.
 */
export class DesktopPanels implements vscode.Disposable {
  private readonly panels = new Map<string, DesktopPanel>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly cockpit: Cockpit) {
    this.disposables.push(
      vscode.window.registerWebviewPanelSerializer(DESKTOP_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state: unknown) => {
          const sandboxId = (state as PanelState | undefined)?.sandboxId;
          if (!sandboxId) {
            panel.dispose();
            return;
          }
          this.adopt(panel, sandboxId);
        },
      }),
      cockpit.onDidChange(() => {
        const desktops = this.runningDesktops();
        for (const panel of this.panels.values()) {
          panel.sandboxChanged(this.cockpit.records.find((r) => r.id === panel.sandboxId));
          panel.showSwitcher(desktops);
        }
      }),
    );
  }

  /** Reveals the sandbox's panel, making it when there is none. */
  async open(record: SandboxRecord, options: { viewOnly?: boolean } = {}): Promise<DesktopPanel> {
    const existing = this.panels.get(record.id);
    if (existing) {
      existing.panel.reveal();
      if (options.viewOnly !== undefined) existing.setViewOnly(options.viewOnly);
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(DESKTOP_VIEW_TYPE, `${record.name}: desktop`, vscode.ViewColumn.Active, this.webviewOptions());
    return this.adopt(panel, record.id, options.viewOnly);
  }

  get(sandboxId: string): DesktopPanel | undefined {
    return this.panels.get(sandboxId);
  }

  all(): DesktopPanel[] {
    return [...this.panels.values()];
  }

  /** The desktop panel in front, if the active editor is one. */
  active(): DesktopPanel | undefined {
    return this.all().find((desktop) => desktop.panel.active);
  }

  private webviewOptions(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    const root = this.cockpit.context.extensionUri;
    return {
      enableScripts: true,
      // A desktop keeps its connection while its tab is in the background: watching several.
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(root, 'dist'), vscode.Uri.joinPath(root, 'media')],
    };
  }

  private adopt(panel: vscode.WebviewPanel, sandboxId: string, viewOnly?: boolean): DesktopPanel {
    panel.webview.options = this.webviewOptions();
    const desktop = new DesktopPanel(this.cockpit, panel, sandboxId, this, viewOnly);
    this.panels.set(sandboxId, desktop);
    panel.onDidDispose(() => {
      if (this.panels.get(sandboxId) === desktop) this.panels.delete(sandboxId);
      desktop.dispose();
    });
    return desktop;
  }

  /** Running desktop sandboxes, for the switcher. */
  runningDesktops(): Array<{ id: string; name: string }> {
    return this.cockpit.records.filter((r) => r.profile.desktop && r.state === 'running').map((r) => ({ id: r.id, name: r.name }));
  }

  /**
   * Closes every desktop connection. The panels stay open: deactivation comes with a window
   * reload or close, and the window brings them back (the serializer) when it opens again.
   */
  dispose(): void {
    for (const desktop of this.panels.values()) desktop.dispose();
    this.panels.clear();
    for (const disposable of this.disposables) disposable.dispose();
  }
}

export class DesktopPanel {
  /** What the viewer last reported: the extension-host tests read it. */
  status?: ViewerStatus;
  /** What the page's Content Security Policy refused (`directive: blocked`): should stay empty. */
  readonly refused: string[] = [];
  private stream?: Duplex;
  /** Counts connects and closes: a connect still opening when another one or a close comes is dropped. */
  private attempt = 0;
  private readonly disposables: vscode.Disposable[] = [];
  private captures = new Map<number, (capture: { dataUrl: string; width: number; height: number }) => void>();
  private nextCapture = 1;
  private lastClipboard = '';
  private running = true;
  /** Undefined until the viewer first asks: then on while an agent has a command running there. */
  private viewOnlyValue: boolean | undefined;
  private lastSwitcher = '';
  private readonly statusListeners = new Set<(status: ViewerStatus) => void>();

  constructor(
    private readonly cockpit: Cockpit,
    readonly panel: vscode.WebviewPanel,
    readonly sandboxId: string,
    private readonly panels: DesktopPanels,
    viewOnly?: boolean,
  ) {
    this.viewOnlyValue = viewOnly;
    const record = cockpit.records.find((r) => r.id === sandboxId);
    panel.title = `${record?.name ?? sandboxId}: desktop`;
    panel.webview.html = this.html(record?.name ?? sandboxId);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((message: ViewerMessage) => void this.onMessage(message)),
      panel.onDidChangeViewState(({ webviewPanel }) => {
        if (webviewPanel.active) void this.sendClipboard();
      }),
    );
  }

  private html(name: string): string {
    const { webview } = this.panel;
    const root = this.cockpit.context.extensionUri;
    return viewerPage({
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'dist', 'viewer.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(root, 'media', 'viewer.css')).toString(),
      cspSource: webview.cspSource,
      nonce: randomBytes(16).toString('base64'),
      config: { transport: 'vscode', sandbox: name, viewOnly: this.viewOnly },
    });
  }

  private post(message: HostMessage): void {
    void this.panel.webview.postMessage(message);
  }

  /** Whether keys and pointer stay here instead of reaching the desktop. */
  get viewOnly(): boolean {
    return this.viewOnlyValue ?? true;
  }

  get sandboxName(): string {
    return this.record()?.name ?? this.sandboxId;
  }

  private record(): SandboxRecord | undefined {
    return this.cockpit.records.find((r) => r.id === this.sandboxId);
  }

  private async onMessage(message: ViewerMessage): Promise<void> {
    switch (message.type) {
      case 'ready':
        await this.init();
        break;
      case 'connect':
        await this.connect();
        break;
      case 'data':
        this.stream?.write(Buffer.from(message.data));
        break;
      case 'close':
        this.disconnect();
        break;
      case 'clipboard':
        // Text the desktop copied reaches VS Code's clipboard only while the person is driving
        // that desktop (its panel in front, view-only off): a sandbox cannot swap what they paste.
        if (!this.panel.active || this.viewOnly !== false || message.text.length > MAX_CLIPBOARD_CHARS) break;
        this.lastClipboard = message.text;
        await vscode.env.clipboard.writeText(message.text);
        break;
      case 'viewOnly':
        this.viewOnlyValue = message.value;
        break;
      case 'captured':
        this.captures.get(message.id)?.({ dataUrl: message.dataUrl, width: message.width, height: message.height });
        this.captures.delete(message.id);
        break;
      case 'status':
        this.status = message.status;
        for (const listener of this.statusListeners) listener(message.status);
        break;
      case 'switch': {
        const target = this.cockpit.records.find((r) => r.id === message.id);
        if (target) await this.panels.open(target);
        break;
      }
      case 'refused':
        this.refused.push(`${message.directive}: ${message.blocked}`);
        this.cockpit.log.warn(
          `The desktop viewer of ${this.sandboxName} was refused ${message.blocked || 'an inline source'} by its Content Security Policy (${message.directive})`,
        );
        break;
      case 'screenshot':
        await vscode.commands.executeCommand(COMMAND_IDS.takeScreenshot, this.sandboxId);
        break;
    }
  }

  /**
   * The first message of a viewer (and again after a restart of the sandbox): its name, and
   * view-only on by default while the agent has a command running there.
   */
  private async init(): Promise<void> {
    // A panel restored after a reload may come before the first listing.
    const record = this.record() ?? (await this.cockpit.controller.status(this.sandboxId).catch(() => undefined));
    if (record) this.panel.title = `${record.name}: desktop`;
    if (this.viewOnlyValue === undefined) {
      let busy = true;
      try {
        busy = (await loadCore().runningTasks(this.cockpit.controller, this.sandboxId)) > 0;
      } catch (error) {
        this.cockpit.log.debug(`Could not tell whether ${record?.name ?? this.sandboxId} is busy: ${describeError(error)}`);
      }
      // The user may have chosen while we looked.
      this.viewOnlyValue ??= busy;
    }
    this.post({ type: 'init', sandbox: record?.name ?? this.sandboxId, sandboxId: this.sandboxId, viewOnly: this.viewOnly });
    this.lastSwitcher = '';
    this.showSwitcher(this.panels.runningDesktops());
  }

  /** The switcher's list of running desktops, sent when it changed. */
  showSwitcher(sandboxes: Array<{ id: string; name: string }>): void {
    const text = JSON.stringify(sandboxes);
    if (text === this.lastSwitcher) return;
    this.lastSwitcher = text;
    this.post({ type: 'sandboxes', current: this.sandboxId, sandboxes });
  }

  private stoppedReason(record: SandboxRecord): string {
    return `${record.name} is ${record.state}; start it to see its desktop again.`;
  }

  private async connect(): Promise<void> {
    this.disconnect();
    const attempt = this.attempt;
    const record = this.record();
    if (record && record.state !== 'running') {
      this.post({ type: 'closed', reason: this.stoppedReason(record), retry: false });
      return;
    }
    let stream: Duplex;
    try {
      ({ stream } = await loadCore().openDesktopStream(this.cockpit.controller, this.sandboxId));
    } catch (error) {
      if (attempt !== this.attempt) return;
      this.cockpit.log.warn(`Desktop of ${record?.name ?? this.sandboxId}: ${describeError(error)}`);
      // Stopped before the listing noticed: say so in our words (the core's name the CLI).
      const current = sandboxErrorCode(error) === 'wrong-state' ? await this.cockpit.controller.status(this.sandboxId).catch(() => undefined) : undefined;
      if (current && current.state !== 'running') this.post({ type: 'closed', reason: this.stoppedReason(current), retry: false });
      else this.post({ type: 'closed', reason: describeError(error), retry: this.running });
      return;
    }
    if (attempt !== this.attempt) {
      stream.destroy();
      return;
    }
    this.stream = stream;
    stream.on('data', (data: Buffer) => {
      if (this.stream === stream) this.post({ type: 'data', data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    });
    const ended = () => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      const current = this.record();
      const stopped = current !== undefined && current.state !== 'running';
      this.post({
        type: 'closed',
        reason: stopped ? this.stoppedReason(current) : 'The connection to the desktop dropped; reconnecting…',
        retry: !stopped,
      });
    };
    stream.on('close', ended);
    stream.on('error', ended);
    this.post({ type: 'open' });
  }

  private disconnect(): void {
    this.attempt++;
    const stream = this.stream;
    this.stream = undefined;
    stream?.destroy();
  }

  /** The sandbox changed state (from the engine's events): show it, and reconnect when it runs again. */
  sandboxChanged(record: SandboxRecord | undefined): void {
    const running = record?.state === 'running';
    if (running === this.running) return;
    this.running = running;
    if (!running) {
      this.disconnect();
      const reason = record
        ? this.stoppedReason(record)
        : this.cockpit.engine.kind === 'down'
          ? 'The Docker engine does not answer; the desktop comes back once it does.'
          : 'The sandbox was deleted; close this panel.';
      this.post({ type: 'closed', reason, retry: false });
    } else {
      void this.init();
    }
  }

  /**
   * Puts VS Code's clipboard on the desktop's when it changed since we last saw it. Not in a
   * browser (code-server, vscode.dev): reading the clipboard there needs a permission, and
   * asking for it on every look at the panel shows an error or a prompt each time.
   */
  private async sendClipboard(): Promise<void> {
    if (this.viewOnly || vscode.env.uiKind === vscode.UIKind.Web) return;
    const text = await vscode.env.clipboard.readText();
    if (!text || text === this.lastClipboard) return;
    this.lastClipboard = text;
    this.post({ type: 'clipboard', text });
  }

  setViewOnly(value: boolean): void {
    this.viewOnlyValue = value;
    this.post({ type: 'viewOnly', value });
  }

  /** What the viewer draws now, as a PNG data URL (for tests and comparisons). */
  capture(timeoutMs = 10_000): Promise<{ dataUrl: string; width: number; height: number }> {
    const id = this.nextCapture++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.captures.delete(id);
        reject(new Error('The desktop viewer did not answer a capture request.'));
      }, timeoutMs);
      this.captures.set(id, (capture) => {
        clearTimeout(timer);
        resolve(capture);
      });
      this.post({ type: 'capture', id });
    });
  }

  /** Resolves with the first status the predicate accepts (now, if the last one does). */
  waitForStatus(accept: (status: ViewerStatus) => boolean, timeoutMs = 30_000): Promise<ViewerStatus> {
    if (this.status && accept(this.status)) return Promise.resolve(this.status);
    return new Promise((resolve, reject) => {
      const listener = (status: ViewerStatus) => {
        if (!accept(status)) return;
        clearTimeout(timer);
        this.statusListeners.delete(listener);
        resolve(status);
      };
      const timer = setTimeout(() => {
        this.statusListeners.delete(listener);
        reject(new Error(`The desktop viewer did not reach the expected state (last: ${JSON.stringify(this.status)}).`));
      }, timeoutMs);
      this.statusListeners.add(listener);
    });
  }

  dispose(): void {
    this.disconnect();
    for (const disposable of this.disposables) disposable.dispose();
  }
}
