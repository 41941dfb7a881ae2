import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { SandboxController } from '../core/controller';
import { describeError } from '../core/errors';
import type { SandboxRecord } from '../core/model';
import { watchSandboxEvents } from '../core/providers/dockerEvents';
import type { PortForward } from '../core/ssh/forward';
import { COMMAND_IDS, CONTEXT_KEYS } from './commandIds';
import { loadCore, sandboxErrorCode } from './lazyCore';
import { SETTINGS_SECTION, readSettings, type SandboxSettings } from './settingsModel';

/** Refreshes asked for within this window run once. */
const REFRESH_DEBOUNCE_MS = 150;

export type SandboxFilter = (record: SandboxRecord) => boolean;
export const isRunning: SandboxFilter = (record) => record.state === 'running';
export const isStopped: SandboxFilter = (record) => record.state === 'stopped';
export const isRunningDesktop: SandboxFilter = (record) => record.state === 'running' && Boolean(record.profile.desktop);

/** What the engine answered on the last refresh. */
export type EngineState = { kind: 'unknown' } | { kind: 'up' } | { kind: 'down'; message: string };

/** A notification as shown, kept so that the extension-host tests can see what a user was told. */
export interface ShownNotification {
  severity: 'info' | 'warning' | 'error';
  message: string;
  actions: string[];
}

/**
 * The extension's shared state: the controller (made on first use), the settings, the last
 * known list of sandboxes, and the live updates from the engine. Commands and views go
 * through it; it holds no logic that belongs to the core.
 */
export class Cockpit implements vscode.Disposable {
  readonly log = vscode.window.createOutputChannel('Sandboxes', { log: true });
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires after every refresh, with the new list in `records`. */
  readonly onDidChange = this.changed.event;
  records: SandboxRecord[] = [];
  engine: EngineState = { kind: 'unknown' };
  /** The last notification shown through notify(). */
  lastNotification?: ShownNotification;
  private controllerInstance?: SandboxController;
  private settingsValue?: SandboxSettings;
  private stopWatching?: () => void;
  private recordsWatcher?: FSWatcher;
  private refreshTimer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private refreshAgain = false;
  private readonly disposables: vscode.Disposable[] = [this.log, this.changed];
  private exclusive: Promise<unknown> = Promise.resolve();
  /** What a listing waits for first (a cloud token handed to the core), so it never runs without it. */
  private readonly listingPrerequisites: (() => Promise<unknown>)[] = [];

  constructor(readonly context: vscode.ExtensionContext) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (!event.affectsConfiguration(SETTINGS_SECTION)) return;
        const before = this.settingsValue?.stateDir;
        this.settingsValue = undefined;
        const after = this.settings().stateDir;
        if (before !== after && this.controllerInstance) {
          this.log.info(`State dir changed to ${this.stateDir()}; reloading sandboxes`);
          this.resetController();
          this.scheduleRefresh();
        }
      }),
    );
  }

  /** Settings, checked; every problem is shown once, naming the setting. */
  settings(): SandboxSettings {
    if (this.settingsValue) return this.settingsValue;
    const config = vscode.workspace.getConfiguration(SETTINGS_SECTION);
    const { settings, problems } = readSettings((key) => config.get(key));
    for (const problem of problems) {
      this.log.warn(problem);
      void vscode.window.showWarningMessage(problem, 'Open Settings').then((choice) => {
        if (choice) void vscode.commands.executeCommand('workbench.action.openSettings', SETTINGS_SECTION);
      });
    }
    this.settingsValue = settings;
    return settings;
  }

  stateDir(): string {
    const configured = this.settings().stateDir;
    if (!configured) return loadCore().defaultStateDir();
    return configured.startsWith('~') ? path.join(os.homedir(), configured.slice(1)) : configured;
  }

  get controller(): SandboxController {
    if (!this.controllerInstance) {
      const { SandboxController, StateStore } = loadCore();
      this.controllerInstance = new SandboxController({ store: new StateStore(this.stateDir()) });
      this.watch(this.controllerInstance);
    }
    return this.controllerInstance;
  }

  /** Live updates: the engine's event stream, plus the records folder the CLI writes too. */
  private watch(controller: SandboxController): void {
    const abort = new AbortController();
    this.stopWatching = () => abort.abort();
    void controller.store.ownerId().then(
      (ownerId) =>
        watchSandboxEvents(
          controller.docker.docker,
          ownerId,
          {
            onEvent: (event) => {
              this.log.trace(`engine: ${event.action} ${event.containerId.slice(0, 12)}`);
              this.scheduleRefresh();
            },
            onConnected: () => {
              this.log.debug('Following the Docker engine events');
              if (this.engine.kind !== 'up') this.scheduleRefresh();
            },
            onDisconnected: (reason, retryInMs) => {
              this.log.debug(`Docker engine events stopped (${reason}); retrying in ${retryInMs} ms`);
              if (this.engine.kind !== 'down') this.scheduleRefresh();
            },
          },
          abort.signal,
        ),
      (error) => this.log.error(`Could not read the owner id: ${describeError(error)}`),
    );
    void this.followEventLog(controller, abort.signal);
    // A CLI start writes its last step (running) after its last engine event: watch the records too.
    const recordsDir = path.join(controller.store.root, 'sandboxes');
    try {
      mkdirSync(recordsDir, { recursive: true });
      this.recordsWatcher = watch(recordsDir, () => this.scheduleRefresh());
      this.recordsWatcher.on('error', (error) => this.log.debug(`Stopped watching ${recordsDir}: ${describeError(error)}`));
    } catch (error) {
      this.log.warn(`Cannot watch ${recordsDir} (${describeError(error)}); use Refresh after changes made by the CLI.`);
    }
  }

  /** What other processes (the CLI, SSH-host sandboxes the engine never sees) do, from the state dir's event log. */
  private async followEventLog(controller: SandboxController, signal: AbortSignal): Promise<void> {
    try {
      const { offset, fileId } = await controller.eventLog.end();
      for await (const event of controller.eventLog.follow(offset, signal, fileId)) {
        if (event.type.startsWith('sandbox.')) this.scheduleRefresh();
      }
    } catch (error) {
      if (!signal.aborted) this.log.debug(`Stopped following the event log: ${describeError(error)}`);
    }
  }

  private resetController(): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
    this.recordsWatcher?.close();
    this.recordsWatcher = undefined;
    // Closes the SSH connections and forwarded ports too.
    this.controllerInstance?.dispose();
    this.controllerInstance?.docker.dispose();
    this.controllerInstance = undefined;
  }

  scheduleRefresh(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refresh();
    }, REFRESH_DEBOUNCE_MS);
  }

  /** Lists the sandboxes (reconciled with the engine) and tells the views. Overlapping calls run once more at the end. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        await this.refreshOnce();
      } while (this.refreshAgain);
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /**
   * Runs `task` while no listing of this window runs, and the other way round. A listing that
   * read a record just before a delete removed it would write it back as lost.
   */
  exclusively<T>(task: () => Promise<T>): Promise<T> {
    const result = this.exclusive.then(task, task);
    this.exclusive = result.catch(() => undefined);
    return result;
  }

  /** Makes every listing wait for `prerequisite` (which should settle fast once it has run). */
  waitBeforeListing(prerequisite: () => Promise<unknown>): void {
    this.listingPrerequisites.push(prerequisite);
  }

  private async refreshOnce(): Promise<void> {
    await Promise.all(this.listingPrerequisites.map((prerequisite) => prerequisite().catch(() => undefined)));
    const controller = this.controller;
    try {
      this.records = await this.exclusively(() => controller.list());
      this.engine = { kind: 'up' };
    } catch (error) {
      if (sandboxErrorCode(error) === 'engine-unavailable') {
        if (this.engine.kind !== 'down') this.log.warn(describeError(error));
        this.records = [];
        this.engine = { kind: 'down', message: describeError(error) };
      } else {
        // Something else went wrong (a damaged record, say): keep showing what we had.
        this.log.error(`Listing sandboxes failed: ${describeError(error)}`);
      }
    }
    this.closeForwardsOfStoppedSandboxes();
    await vscode.commands.executeCommand('setContext', CONTEXT_KEYS.engineDown, this.engine.kind === 'down');
    await vscode.commands.executeCommand('setContext', CONTEXT_KEYS.loaded, true);
    this.changed.fire();
  }

  /**
   * The core closes forwarded ports when a stop or delete goes through this window's controller;
   * a sandbox stopped elsewhere (the CLI, `docker stop`) is learnt here, from the listing.
   */
  private closeForwardsOfStoppedSandboxes(): void {
    if (this.engine.kind !== 'up' || !this.controllerInstance) return;
    const running = new Set(this.records.filter(isRunning).map((record) => record.id));
    for (const forward of this.controllerInstance.forwards()) {
      if (running.has(forward.sandboxId)) continue;
      this.log.info(`${forward.sandboxName} is no longer running; stopped forwarding its port ${forward.remotePort}`);
      forward.close();
    }
  }

  /** Forwarded ports of a sandbox (of this window), for the view. */
  forwardsOf(sandboxId: string): PortForward[] {
    return this.controllerInstance?.forwards(sandboxId).filter((forward) => forward.active) ?? [];
  }

  /** Tells the views about a new forwarded port now, and again when it closes, whoever closes it. */
  watchForward(forward: PortForward): void {
    forward.once('close', () => {
      this.log.info(`Stopped forwarding port ${forward.remotePort} of ${forward.sandboxName} (was ${forward.url})`);
      this.changed.fire();
    });
    this.changed.fire();
  }

  /** Shows a notification and keeps what it said (see lastNotification); resolves to the button pressed. */
  notify(severity: ShownNotification['severity'], message: string, ...actions: string[]): Thenable<string | undefined> {
    this.lastNotification = { severity, message, actions };
    if (severity === 'error') return vscode.window.showErrorMessage(message, ...actions);
    if (severity === 'warning') return vscode.window.showWarningMessage(message, ...actions);
    return vscode.window.showInformationMessage(message, ...actions);
  }

  /** Shows an error once, in one sentence, with a button where one helps. */
  async showError(error: unknown, sandbox?: SandboxRecord): Promise<void> {
    const message = describeError(error);
    if (sandboxErrorCode(error) === 'cancelled') {
      this.log.info(message);
      return;
    }
    this.log.error(message);
    const actions: string[] = [];
    if (sandboxErrorCode(error) === 'image-missing') actions.push('Build Image');
    if (sandbox) actions.push('Show Logs');
    const choice = await vscode.window.showErrorMessage(message, ...actions);
    if (choice === 'Build Image') await vscode.commands.executeCommand(COMMAND_IDS.buildImage);
    if (choice === 'Show Logs' && sandbox) await vscode.commands.executeCommand(COMMAND_IDS.showLogs, sandbox.id);
  }

  /** Runs slow work with a cancellable notification; the token's cancel aborts the core's signal. */
  withProgress<T>(title: string, task: (signal: AbortSignal, report: (message: string, fraction?: number) => void) => Promise<T>): Thenable<T> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) => {
      const abort = new AbortController();
      const cancelled = token.onCancellationRequested(() => abort.abort());
      let lastFraction = 0;
      const report = (message: string, fraction?: number) => {
        const increment = fraction === undefined ? undefined : Math.max(0, fraction * 100 - lastFraction);
        if (fraction !== undefined) lastFraction = Math.max(lastFraction, fraction * 100);
        progress.report({ message, increment });
      };
      return task(abort.signal, report).finally(() => cancelled.dispose());
    });
  }

  dispose(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.resetController();
    for (const disposable of this.disposables) disposable.dispose();
  }
}
