/**
 * Every command the extension registers. No vscode import: a unit test checks this list against
 * `contributes.commands` and the menus of package.json, so the three never drift apart.
 */
export const COMMAND_IDS = {
  startSandbox: 'sandboxes.startSandbox',
  start: 'sandboxes.start',
  stop: 'sandboxes.stop',
  restart: 'sandboxes.restart',
  delete: 'sandboxes.delete',
  runCommand: 'sandboxes.runCommand',
  openTerminal: 'sandboxes.openTerminal',
  syncWorkspace: 'sandboxes.syncWorkspace',
  pullChanges: 'sandboxes.pullChanges',
  showLogs: 'sandboxes.showLogs',
  copyId: 'sandboxes.copyId',
  refresh: 'sandboxes.refresh',
  pickSandbox: 'sandboxes.pickSandbox',
  buildImage: 'sandboxes.buildImage',
  showExtensionLog: 'sandboxes.showExtensionLog',
  attachVsCode: 'sandboxes.attachVsCode',
  copySshCommand: 'sandboxes.copySshCommand',
  openSshTerminal: 'sandboxes.openSshTerminal',
  forwardPort: 'sandboxes.forwardPort',
  openForwardedPort: 'sandboxes.openForwardedPort',
  stopForwarding: 'sandboxes.stopForwarding',
  addSshIntegration: 'sandboxes.addSshIntegration',
  removeSshIntegration: 'sandboxes.removeSshIntegration',
  openDesktop: 'sandboxes.openDesktop',
  openJupyter: 'sandboxes.openJupyter',
  takeScreenshot: 'sandboxes.takeScreenshot',
  toggleViewOnly: 'sandboxes.toggleViewOnly',
  addTask: 'sandboxes.addTask',
  cancelTask: 'sandboxes.cancelTask',
  retryTask: 'sandboxes.retryTask',
  showTaskOutput: 'sandboxes.showTaskOutput',
  revealTaskSandbox: 'sandboxes.revealTaskSandbox',
  startScheduler: 'sandboxes.startScheduler',
  refreshTasks: 'sandboxes.refreshTasks',
  reviewChange: 'sandboxes.reviewChange',
  approveChange: 'sandboxes.approveChange',
  rejectChange: 'sandboxes.rejectChange',
  showEvaluation: 'sandboxes.showEvaluation',
  installCli: 'sandboxes.installCli',
  removeCli: 'sandboxes.removeCli',
  runDoctor: 'sandboxes.runDoctor',
  signInDigitalOcean: 'sandboxes.signInDigitalOcean',
  signOutDigitalOcean: 'sandboxes.signOutDigitalOcean',
  showCost: 'sandboxes.showCost',
  openDashboard: 'sandboxes.openDashboard',
} as const;

export type CommandId = (typeof COMMAND_IDS)[keyof typeof COMMAND_IDS];

export const VIEW_CONTAINER_ID = 'sandboxes';
export const TREE_VIEW_ID = 'sandboxes.list';
/** The Tasks view, below the Sandboxes view in the same container. */
export const TASKS_VIEW_ID = 'sandboxes.tasks';
/** The desktop panels' webview type; package.json activates on it so they come back after a reload. */
export const DESKTOP_VIEW_TYPE = 'agentSandboxes.desktop';
/** The dashboard panel's webview type. */
export const DASHBOARD_VIEW_TYPE = 'agentSandboxes.dashboard';

/** Context keys the welcome views and menus read. */
export const CONTEXT_KEYS = {
  engineDown: 'sandboxes.engineDown',
  loaded: 'sandboxes.loaded',
  /** A daemon runs for the state dir (it places queued tasks). */
  schedulerRunning: 'sandboxes.schedulerRunning',
  /** The task queue was read once: the Tasks view's welcome waits for it. */
  tasksLoaded: 'sandboxes.tasksLoaded',
} as const;
