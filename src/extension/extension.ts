import * as vscode from 'vscode';
import type { SandboxRecord } from '../core/model';
import { BudgetNotices } from './budgetNotices';
import { Cockpit } from './cockpit';
import { COMMAND_IDS, TASKS_VIEW_ID, TREE_VIEW_ID, type CommandId } from './commandIds';
import { addSshIntegrationCommand } from './commands/addSshIntegration';
import { addTaskCommand } from './commands/addTask';
import { cancelTaskCommand } from './commands/cancelTask';
import { attachVsCodeCommand, editorAttachSeams, type AttachSeams } from './commands/attachVsCode';
import { buildImageCommand } from './commands/buildImage';
import { copySshCommandCommand } from './commands/copySshCommand';
import { copyIdCommand } from './commands/copyId';
import { deleteCommand } from './commands/delete';
import { DashboardPanel } from './dashboardPanel';
import { DesktopPanels } from './desktopPanel';
import { DigitalOceanAccount, followBudgetSetting, followSshSourceSetting } from './digitalOceanAccount';
import { forwardPortCommand } from './commands/forwardPort';
import { installCliCommand, refreshInstalledCli, removeCliCommand } from './commands/installCli';
import { openDesktopCommand } from './commands/openDesktop';
import { openJupyterCommand } from './commands/openJupyter';
import { openForwardedPortCommand } from './commands/openForwardedPort';
import { openSshTerminalCommand } from './commands/openSshTerminal';
import { openTerminalCommand } from './commands/openTerminal';
import { pickSandboxCommand } from './commands/pickSandbox';
import { pullChangesCommand } from './commands/pullChanges';
import { refreshCommand } from './commands/refresh';
import { removeSshIntegrationCommand } from './commands/removeSshIntegration';
import { restartCommand } from './commands/restart';
import { retryTaskCommand } from './commands/retryTask';
import { decideChangeCommand, reviewChangeCommand } from './commands/reviewChange';
import { revealTaskSandboxCommand } from './commands/revealTaskSandbox';
import { runCommandCommand } from './commands/runCommand';
import { runDoctorCommand } from './commands/runDoctor';
import { showCostCommand } from './commands/showCost';
import { openDashboardCommand } from './commands/openDashboard';
import { showLogsCommand } from './commands/showLogs';
import { showTaskOutputCommand } from './commands/showTaskOutput';
import { startCommand } from './commands/start';
import { startSandboxCommand } from './commands/startSandbox';
import { startSchedulerCommand } from './commands/startScheduler';
import { stopCommand } from './commands/stop';
import { stopForwardingCommand } from './commands/stopForwarding';
import { syncWorkspaceCommand } from './commands/syncWorkspace';
import { takeScreenshotCommand } from './commands/takeScreenshot';
import { toggleViewOnlyCommand } from './commands/toggleViewOnly';
import { showEvaluationCommand } from './gates/evaluationPanel';
import { GateViews } from './gates/gateViews';
import { registerLanguageModelTools, registerMcpServerDefinition, type SandboxLanguageModelTool } from './lmTools/register';
import { createStatusBarItem } from './statusBar';
import { TaskBoard } from './taskBoard';
import { createTaskStatusBarItem } from './taskStatusBar';
import { SandboxTreeProvider, type SandboxTreeNode } from './views/sandboxTree';
import { TaskTreeProvider, showSchedulerState, type TaskTreeNode } from './views/taskTree';

/** What `activate` hands to other extensions and to the extension-host tests. */
export interface SandboxesApi {
  cockpit: Cockpit;
  tree: SandboxTreeProvider;
  /** The tasks of the state dir, as the Tasks view shows them. */
  tasks: TaskBoard;
  taskTree: TaskTreeProvider;
  /** Where Attach VS Code meets the editor; the extension-host tests swap these to watch it. */
  attachSeams: AttachSeams;
  /** The open desktop panels (one per sandbox). */
  desktops: DesktopPanels;
  /** The gates' diagnostics and test runs. */
  gates: GateViews;
  /** The DigitalOcean sign-in (token in SecretStorage, handed to this process's core). */
  digitalOcean: DigitalOceanAccount;
  /** The budget alerts shown as warnings. */
  budgetNotices: BudgetNotices;
  /** The chat agents' sandbox tools by name, as registered with vscode.lm (tests ask them what they would confirm). */
  languageModelTools: ReadonlyMap<string, SandboxLanguageModelTool>;
  /** Whether `sandbox mcp` was offered to VS Code's MCP clients (VS Code 1.101+ and a CLI with its MCP server). */
  mcpServerRegistered: boolean;
  /** Milliseconds spent inside activate(). */
  activationMs: number;
}

type Handler = (...args: never[]) => unknown;

/**
 * Activation is lazy (the view opened or a command run) and cheap: it wires views and commands
 * and asks the engine nothing; the first listing runs when the view asks for its children.
 */
export function activate(context: vscode.ExtensionContext): SandboxesApi {
  const started = performance.now();
  const cockpit = new Cockpit(context);
  const tasks = new TaskBoard(cockpit);
  const tree = new SandboxTreeProvider(cockpit, tasks);
  const taskTree = new TaskTreeProvider(tasks);
  const gates = new GateViews(cockpit, tasks);
  const attachSeams: AttachSeams = { ...editorAttachSeams };
  const digitalOcean = new DigitalOceanAccount(cockpit);
  // Cloud sandboxes are listed with the token VS Code keeps.
  cockpit.waitBeforeListing(() => digitalOcean.ready());
  // Made now, not on first use: it restores the desktop panels of the last session.
  const desktops = new DesktopPanels(cockpit);
  const dashboard = new DashboardPanel(cockpit);
  const budgetNotices = new BudgetNotices(cockpit);
  const view = vscode.window.createTreeView<SandboxTreeNode>(TREE_VIEW_ID, { treeDataProvider: tree, canSelectMany: true, showCollapseAll: false });
  const taskView = vscode.window.createTreeView<TaskTreeNode>(TASKS_VIEW_ID, { treeDataProvider: taskTree, showCollapseAll: false });
  const revealSandbox = (record: SandboxRecord) => view.reveal({ kind: 'sandbox', record }, { select: true, focus: true, expand: false });

  // Keyed by every id in COMMAND_IDS: adding an id without a handler does not compile.
  const handlers: Record<CommandId, Handler> = {
    [COMMAND_IDS.startSandbox]: startSandboxCommand(cockpit, digitalOcean),
    [COMMAND_IDS.start]: startCommand(cockpit),
    [COMMAND_IDS.stop]: stopCommand(cockpit),
    [COMMAND_IDS.restart]: restartCommand(cockpit),
    [COMMAND_IDS.delete]: deleteCommand(cockpit),
    [COMMAND_IDS.runCommand]: runCommandCommand(cockpit),
    [COMMAND_IDS.openTerminal]: openTerminalCommand(cockpit),
    [COMMAND_IDS.syncWorkspace]: syncWorkspaceCommand(cockpit),
    [COMMAND_IDS.pullChanges]: pullChangesCommand(cockpit),
    [COMMAND_IDS.showLogs]: showLogsCommand(cockpit),
    [COMMAND_IDS.copyId]: copyIdCommand(cockpit),
    [COMMAND_IDS.refresh]: refreshCommand(cockpit),
    [COMMAND_IDS.pickSandbox]: pickSandboxCommand(cockpit),
    [COMMAND_IDS.buildImage]: buildImageCommand(cockpit),
    [COMMAND_IDS.showExtensionLog]: () => cockpit.log.show(true),
    [COMMAND_IDS.attachVsCode]: attachVsCodeCommand(cockpit, attachSeams),
    [COMMAND_IDS.copySshCommand]: copySshCommandCommand(cockpit),
    [COMMAND_IDS.openSshTerminal]: openSshTerminalCommand(cockpit),
    [COMMAND_IDS.forwardPort]: forwardPortCommand(cockpit),
    [COMMAND_IDS.openForwardedPort]: openForwardedPortCommand(cockpit),
    [COMMAND_IDS.stopForwarding]: stopForwardingCommand(cockpit),
    [COMMAND_IDS.addSshIntegration]: addSshIntegrationCommand(cockpit),
    [COMMAND_IDS.removeSshIntegration]: removeSshIntegrationCommand(cockpit),
    [COMMAND_IDS.openDesktop]: openDesktopCommand(cockpit, desktops),
    [COMMAND_IDS.openJupyter]: openJupyterCommand(cockpit),
    [COMMAND_IDS.takeScreenshot]: takeScreenshotCommand(cockpit, desktops),
    [COMMAND_IDS.toggleViewOnly]: toggleViewOnlyCommand(cockpit, desktops),
    [COMMAND_IDS.addTask]: addTaskCommand(cockpit, tasks),
    [COMMAND_IDS.cancelTask]: cancelTaskCommand(cockpit, tasks),
    [COMMAND_IDS.retryTask]: retryTaskCommand(cockpit, tasks),
    [COMMAND_IDS.showTaskOutput]: showTaskOutputCommand(cockpit, tasks),
    [COMMAND_IDS.revealTaskSandbox]: revealTaskSandboxCommand(cockpit, tasks, revealSandbox),
    [COMMAND_IDS.startScheduler]: startSchedulerCommand(cockpit, tasks),
    [COMMAND_IDS.refreshTasks]: () => tasks.reload(),
    [COMMAND_IDS.reviewChange]: reviewChangeCommand(cockpit, tasks),
    [COMMAND_IDS.approveChange]: decideChangeCommand(cockpit, tasks, 'approve'),
    [COMMAND_IDS.rejectChange]: decideChangeCommand(cockpit, tasks, 'reject'),
    [COMMAND_IDS.showEvaluation]: showEvaluationCommand(cockpit, tasks),
    [COMMAND_IDS.installCli]: installCliCommand(cockpit),
    [COMMAND_IDS.removeCli]: removeCliCommand(cockpit),
    [COMMAND_IDS.runDoctor]: runDoctorCommand(cockpit),
    [COMMAND_IDS.signInDigitalOcean]: () => digitalOcean.signIn(),
    [COMMAND_IDS.signOutDigitalOcean]: () => digitalOcean.signOut(),
    [COMMAND_IDS.showCost]: showCostCommand(cockpit),
    [COMMAND_IDS.openDashboard]: openDashboardCommand(dashboard),
  };
  for (const [id, handler] of Object.entries(handlers)) {
    context.subscriptions.push(vscode.commands.registerCommand(id, handler as (...args: unknown[]) => unknown));
  }
  // Disposed in this order on deactivation: the panels' connections before the cockpit's controller.
  context.subscriptions.push(dashboard, desktops, cockpit, tree, view, createStatusBarItem(cockpit));
  context.subscriptions.push(digitalOcean, followBudgetSetting(cockpit), budgetNotices, followSshSourceSetting(cockpit));
  context.subscriptions.push(taskTree, taskView, showSchedulerState(taskView, tasks), createTaskStatusBarItem(tasks), gates, tasks);
  // Chat agents' tools, and `sandbox mcp` for VS Code's MCP clients where the editor offers that.
  const languageModelTools = registerLanguageModelTools(cockpit, () => digitalOcean.ready());
  context.subscriptions.push(...languageModelTools.registrations);
  const mcpServer = registerMcpServerDefinition(cockpit);
  if (mcpServer) context.subscriptions.push(mcpServer);
  // The status bar needs a count even while the view is closed.
  cockpit.scheduleRefresh();
  // The same for tasks, once activation is over: reading the queue loads the core.
  setTimeout(() => tasks.start(), 0);
  setTimeout(() => refreshInstalledCli(cockpit), 0);
  // The DigitalOcean token kept by VS Code, handed to the core once activation is over.
  setTimeout(() => void digitalOcean.ready(), 0);
  // Budget alerts fired by any process (the CLI, the daemon), also while no window was open.
  setTimeout(() => budgetNotices.start(), 0);

  const activationMs = performance.now() - started;
  cockpit.log.info(`Activated in ${activationMs.toFixed(1)} ms`);
  return {
    cockpit,
    tree,
    tasks,
    taskTree,
    gates,
    attachSeams,
    desktops,
    digitalOcean,
    budgetNotices,
    languageModelTools: languageModelTools.tools,
    mcpServerRegistered: mcpServer !== undefined,
    activationMs,
  };
}

/** Nothing to do here: context.subscriptions close the desktop panels, forwarded ports and SSH connections. */
export function deactivate(): void {}
