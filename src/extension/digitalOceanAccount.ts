import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import type { SandboxRecord } from '../core/model';
import { signInFailure } from './cloudPresentation';
import type { Cockpit } from './cockpit';
import { COMMAND_IDS } from './commandIds';
import { loadCore, sandboxErrorCode } from './lazyCore';
import { SETTINGS_SECTION, checkMonthlyBudgetSetting, checkSshSourceSetting, MONTHLY_BUDGET_KEY, SSH_SOURCE_KEY } from './settingsModel';

/** Where VS Code keeps the token: its SecretStorage (the OS keychain), never settings or the environment. */
export const TOKEN_SECRET_KEY = 'sandboxes.digitalocean.token';

const ALLOW_DAEMON: vscode.MessageItem = { title: 'Let the Daemon Use It' };
/** Takes the place of the dialog's Cancel, which would read as undoing the sign-in. */
const ONLY_VS_CODE: vscode.MessageItem = { title: 'Only in VS Code', isCloseAffordance: true };
const REMOVE_FILE: vscode.MessageItem = { title: 'Remove the File' };
const KEEP_FILE: vscode.MessageItem = { title: 'Keep It', isCloseAffordance: true };

/**
 * The DigitalOcean sign-in of this window. The token lives in SecretStorage and is handed to the
 * core of this process only (useTokenInThisProcess), never put in process.env, where terminals and
 * tasks would inherit it. The state dir's token file, which the daemon and the CLI read, is written
 * only when the user agrees at sign-in.
 */
export class DigitalOceanAccount implements vscode.Disposable {
  private handedOver?: Promise<void>;
  /** Whether this process's core holds a token from SecretStorage. */
  private holdsToken = false;
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly cockpit: Cockpit) {
    const secrets = cockpit.context.secrets;
    this.subscriptions = [
      // Another window signed in or out: follow it.
      secrets.onDidChange((event) => {
        if (event.key === TOKEN_SECRET_KEY) this.handedOver = this.handOver().then(() => cockpit.scheduleRefresh());
      }),
    ];
  }

  /** Resolves once the stored token (if any) is in the core; the first call reads it. Listings wait for it (Cockpit.waitBeforeListing). */
  ready(): Promise<void> {
    return (this.handedOver ??= this.handOver());
  }

  private async handOver(): Promise<void> {
    const token = await this.cockpit.context.secrets.get(TOKEN_SECRET_KEY);
    // Nothing stored and nothing handed over before: no reason to load the core.
    if (token === undefined && !this.holdsToken) return;
    try {
      loadCore().useTokenInThisProcess(token);
      this.holdsToken = token !== undefined;
      this.cockpit.log.info(token === undefined ? 'DigitalOcean token forgotten' : 'Using the DigitalOcean token kept by VS Code');
    } catch (error) {
      this.cockpit.log.warn(`The DigitalOcean token kept by VS Code is not usable (${describeError(error)}); run "Sign in to DigitalOcean" again.`);
    }
  }

  /** Whether a create on DigitalOcean has a token: VS Code's, DIGITALOCEAN_TOKEN, or the state dir's file (a CLI sign-in). */
  async isSignedIn(): Promise<boolean> {
    await this.ready();
    return (await loadCore().readCredentials(this.cockpit.stateDir())) !== undefined;
  }

  /** Asks for a token, checks it against the account, keeps it; true when signed in. */
  async signIn(): Promise<boolean> {
    const core = loadCore();
    const typed = await vscode.window.showInputBox({
      title: 'Sign in to DigitalOcean',
      prompt: 'A personal access token with read and write access (control panel: API > Tokens). VS Code keeps it in its secret storage.',
      placeHolder: 'dop_v1_…',
      password: true,
      ignoreFocusOut: true,
      validateInput: (value) => (value.trim() === '' ? undefined : shapeProblem(() => core.checkTokenShape(value))),
    });
    if (typed === undefined) return false;
    let token: string;
    try {
      token = core.checkTokenShape(typed);
    } catch (error) {
      void this.cockpit.notify('error', describeError(error));
      return false;
    }

    let email: string | undefined;
    try {
      const client = new core.DigitalOceanClient({ token, baseUrl: core.apiUrlOf() });
      const account = await this.cockpit.withProgress('Checking the token with DigitalOcean', (signal) => client.account(signal));
      email = account.email;
    } catch (error) {
      if (sandboxErrorCode(error) === 'cancelled') return false;
      this.cockpit.log.warn(`Sign-in to DigitalOcean failed: ${describeError(error)}`);
      void this.cockpit.notify('error', signInFailure(error));
      return false;
    }

    await this.cockpit.context.secrets.store(TOKEN_SECRET_KEY, token);
    core.useTokenInThisProcess(token);
    this.holdsToken = true;
    this.handedOver = Promise.resolve();
    this.cockpit.log.info(`Signed in to DigitalOcean${email ? ` as ${email}` : ''}`);

    const stateDir = this.cockpit.stateDir();
    const file = core.tokenFile(stateDir);
    const choice = await vscode.window.showInformationMessage(
      `Signed in to DigitalOcean${email ? ` as ${email}` : ''}. May the background daemon use this token too?`,
      {
        modal: true,
        detail:
          `The daemon enforces the monthly budget and each cloud sandbox's time-to-live while VS Code is closed, ` +
          `and the sandbox CLI signs in with the same token. They read it from ${file}, a file only you can read (0600). ` +
          `Without it, nothing ends a cloud sandbox at its time-to-live or fires the budget alerts: only each create is checked against the budget.`,
      },
      ALLOW_DAEMON,
      ONLY_VS_CODE,
    );
    if (choice === ALLOW_DAEMON) {
      try {
        await core.saveToken(stateDir, token);
        this.cockpit.log.info(`Saved the DigitalOcean token for the daemon and the CLI in ${file}`);
      } catch (error) {
        await this.cockpit.showError(error);
      }
    }
    this.cockpit.scheduleRefresh();
    return true;
  }

  /** Forgets VS Code's token, and (asked) the state dir's file. */
  async signOut(): Promise<void> {
    const core = loadCore();
    const stored = (await this.cockpit.context.secrets.get(TOKEN_SECRET_KEY)) !== undefined;
    await this.cockpit.context.secrets.delete(TOKEN_SECRET_KEY);
    core.useTokenInThisProcess(undefined);
    this.holdsToken = false;
    this.handedOver = Promise.resolve();

    const stateDir = this.cockpit.stateDir();
    const file = core.tokenFile(stateDir);
    let removedFile = false;
    if (existsSync(file)) {
      const choice = await vscode.window.showWarningMessage(
        'Also remove the token file the daemon and the sandbox CLI use?',
        {
          modal: true,
          detail: `${file}. Without it the daemon cannot enforce the budget and time-to-live of cloud sandboxes while VS Code is closed, and the CLI is signed out too.`,
        },
        REMOVE_FILE,
        KEEP_FILE,
      );
      if (choice === REMOVE_FILE) {
        try {
          removedFile = await core.removeToken(stateDir);
        } catch (error) {
          await this.cockpit.showError(error);
        }
      }
    }
    this.cockpit.log.info(`Signed out of DigitalOcean${removedFile ? `; removed ${file}` : ''}`);
    const stillFromEnv = Boolean(process.env[core.TOKEN_ENV]?.trim());
    const message = stillFromEnv
      ? `Signed out of DigitalOcean in VS Code; ${core.TOKEN_ENV} is still set in VS Code's environment, so cloud sandboxes still use that token.`
      : stored || removedFile
        ? 'Signed out of DigitalOcean.'
        : 'VS Code held no DigitalOcean token; nothing to sign out of.';
    void this.cockpit.notify('info', message);
    this.cockpit.scheduleRefresh();
  }

  /**
   * After a cloud create: the daemon, which ends cloud sandboxes at their time-to-live and keeps
   * the budget, runs (started here, as `sandbox start` does, when none does), and is told when it
   * has no token to act with once VS Code is closed.
   */
  async afterCloudCreate(record: SandboxRecord): Promise<void> {
    const core = loadCore();
    const stateRoot = this.cockpit.stateDir();
    try {
      if (!core.daemonStatus(stateRoot).running) {
        // The editor's own runtime, as Start Scheduler does; the environment holds no token (see useTokenInThisProcess).
        const status = await core.startDaemonProcess({
          stateRoot,
          script: this.cockpit.context.asAbsolutePath('dist/cli.js'),
          node: process.execPath,
          env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
        });
        this.cockpit.log.info(`Started the daemon (pid ${status.holder?.pid}) to enforce the time-to-live and budget of cloud sandboxes`);
      }
    } catch (error) {
      void this.cockpit.notify(
        'warning',
        `The daemon could not be started (${describeError(error)}), so ${record.name}'s time-to-live is not enforced; run Start Scheduler.`,
      );
      return;
    }
    if (existsSync(core.tokenFile(stateRoot)) || process.env[core.TOKEN_ENV]?.trim()) return;
    const signIn = 'Sign in to DigitalOcean';
    const choice = await this.cockpit.notify(
      'warning',
      `The daemon has no DigitalOcean token, so nothing ends ${record.name} at its time-to-live; sign in again and let the daemon use the token.`,
      signIn,
    );
    if (choice === signIn) await vscode.commands.executeCommand(COMMAND_IDS.signInDigitalOcean);
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
  }
}

/** What is wrong with a token's shape, for the input box; undefined when it looks like one. */
function shapeProblem(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    return describeError(error);
  }
}

/**
 * Writes `sandboxes.cloud.monthlyBudgetUsd` to the state dir's budget file whenever it changes,
 * so the CLI and the daemon enforce the same limit. Only on change: at start-up the file (maybe
 * set by `sandbox cost --set-budget`) is left as it is.
 */
export function followBudgetSetting(cockpit: Cockpit): vscode.Disposable {
  const key = `${SETTINGS_SECTION}.${MONTHLY_BUDGET_KEY}`;
  return vscode.workspace.onDidChangeConfiguration((event) => {
    if (!event.affectsConfiguration(key)) return;
    const { usd, problem } = checkMonthlyBudgetSetting(vscode.workspace.getConfiguration(SETTINGS_SECTION).get(MONTHLY_BUDGET_KEY));
    if (problem !== undefined || usd === undefined) {
      void cockpit.notify('warning', problem ?? `The setting ${key} is not a budget.`);
      return;
    }
    const stateDir = cockpit.stateDir();
    loadCore()
      .writeMonthlyBudget(stateDir, usd)
      .then(
        () => cockpit.log.info(`Monthly budget for cloud sandboxes set to $${usd} (shared with the CLI and the daemon)`),
        (error: unknown) => void cockpit.showError(error),
      );
  });
}

/**
 * Passes `sandboxes.cloud.sshSourceCidr` on whenever it changes: into the state dir, where the
 * provider of every process (this one, the CLI's, the daemon's) reads its SSH sources, and to
 * every firewall of ours whose inbound rule differs. At start-up the state dir's choice (maybe
 * made with `sandbox cloud ssh-source`) is left as it is.
 */
export function followSshSourceSetting(cockpit: Cockpit): vscode.Disposable {
  const key = `${SETTINGS_SECTION}.${SSH_SOURCE_KEY}`;
  return vscode.workspace.onDidChangeConfiguration((event) => {
    if (!event.affectsConfiguration(key)) return;
    const { sources, problem } = checkSshSourceSetting(vscode.workspace.getConfiguration(SETTINGS_SECTION).get(SSH_SOURCE_KEY));
    if (problem !== undefined || sources === undefined) {
      void cockpit.notify('warning', problem ?? `The setting ${key} is not a list of address blocks.`);
      return;
    }
    const core = loadCore();
    core.setSshSources(cockpit.stateDir(), sources).then(
      (result) => void cockpit.notify('info', core.describeSshSources(result)),
      (error: unknown) => void cockpit.showError(error),
    );
  });
}
