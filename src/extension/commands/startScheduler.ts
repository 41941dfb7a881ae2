import type { DaemonStatus } from '../../core/tasks/daemonLock';
import type { Cockpit } from '../cockpit';
import { loadCore } from '../lazyCore';
import type { TaskBoard } from '../taskBoard';

/**
 * Start Scheduler: the daemon of the state dir, in the background, from the CLI this extension
 * ships (dist/cli.js). It runs on the editor's own runtime: in VS Code that is Electron, which
 * runs a script as plain Node.js when ELECTRON_RUN_AS_NODE is set (as VS Code does for its own
 * helper processes). The daemon outlives the window; `sandbox daemon stop` ends it.
 */
export function startSchedulerCommand(cockpit: Cockpit, board: TaskBoard) {
  return async (): Promise<DaemonStatus | undefined> => {
    const stateRoot = cockpit.stateDir();
    try {
      const status = await cockpit.withProgress('Starting the task scheduler', () =>
        loadCore().startDaemonProcess({
          stateRoot,
          script: cockpit.context.asAbsolutePath('dist/cli.js'),
          node: process.execPath,
          env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
        }),
      );
      cockpit.log.info(`The task scheduler runs (pid ${status.holder?.pid}); its log is ${status.logFile}`);
      board.reload();
      return status;
    } catch (error) {
      await cockpit.showError(error);
      return undefined;
    }
  };
}
