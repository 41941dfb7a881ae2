/** The entry of dist/core.js: the heavy half of the core, loaded by the extension on first use (see lazyCore.ts). */
export { SandboxController } from '../core/controller';
export { desktopImageTag, sandboxImageTag } from '../core/images';
// The store pulls in the SSH key generator (ssh2): too heavy for dist/extension.js.
export { StateStore, defaultStateDir } from '../core/store/stateStore';
export { openDesktopStream, runningTasks, screenshot } from '../core/desktop';
export { openNotebook } from '../core/interpreter/notebookServer';
export { landingCommand } from '../core/hosts/directory';
export { TaskClient } from '../core/tasks/client';
export { DAEMON_LOCK_FILE, daemonStatus, startDaemonProcess } from '../core/tasks/daemonLock';
export { QUEUE_FILE } from '../core/tasks/queue';
export { SCHEDULER_STATUS_FILE } from '../core/tasks/scheduler';
export { changeUnderReview, readGateResult } from '../core/gates/results';
export { evaluate, readGateHistory } from '../core/evaluator/evaluate';
export { REMOTE_SSH_EXTENSIONS } from '../core/doctor/ssh';
export { doctorContext, runDoctor } from '../core/doctor';
// DigitalOcean: the token handed to this process lives in this bundle's copy of credentials.ts,
// the one the provider reads, so the extension reaches them only through here.
export {
  TOKEN_ENV,
  apiUrlOf,
  checkTokenShape,
  readCredentials,
  removeToken,
  saveToken,
  tokenFile,
  useTokenInThisProcess,
} from '../core/providers/digitalocean/credentials';
export { DigitalOceanClient } from '../core/providers/digitalocean/api/client';
export { PREFERRED_REGION, readCatalog, sizesIn } from '../core/providers/digitalocean/catalog';
export { CostLedger } from '../core/cost/ledger';
export { writeMonthlyBudget } from '../core/cost/settings';
export { formatCostReport, readCostReport } from '../app/costReport';
// The dashboard's data: the collector's store (WebAssembly SQLite) read-only, and the cost.
export { DashboardFeed } from '../app/dashboardFeed';
export { describeSshSources, setSshSources } from '../core/providers/digitalocean/sshSources';
// The logic of the MCP tools (zod- and SDK-free), run by the language-model tools.
export { callToolAction } from '../mcp/actions/call';
