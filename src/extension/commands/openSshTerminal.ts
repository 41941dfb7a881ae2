import * as vscode from 'vscode';
import { isRunning, type Cockpit } from '../cockpit';
import { loadCore } from '../lazyCore';
import { shellQuote } from '../sshModel';
import { resolveTarget } from '../targets';

/**
 * Open SSH Terminal: a terminal running the real OpenSSH client with our config, as a user would
 * type it; unlike Open Terminal (the Docker engine's exec), it works wherever SSH reaches and
 * carries ssh's own features (agent forwarding, escapes).
 */
export function openSshTerminalCommand(cockpit: Cockpit) {
  return async (arg?: unknown): Promise<vscode.Terminal | undefined> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox to open an SSH terminal in', isRunning);
    if (!record) return undefined;
    try {
      const target = await cockpit.withProgress(`Connecting to ${record.name}`, () => cockpit.controller.sshTarget(record.id));
      // A login shell in the workspace, as Open Terminal gives; the remote command is run by the
      // login shell. A folder sandbox on an SSH host lands through its own launcher, so the
      // shell carries its marker and limits (and `stop` ends it).
      const run = target.record.ssh?.run;
      const landing = run ? loadCore().landingCommand(run) : `cd ${shellQuote(target.record.workdir, 'linux')} && exec "$SHELL" -l`;
      const terminal = vscode.window.createTerminal({
        name: `SSH: ${record.name}`,
        shellPath: 'ssh',
        shellArgs: ['-F', target.configFile, '-t', target.alias, landing],
        iconPath: new vscode.ThemeIcon('remote'),
      });
      terminal.show();
      cockpit.log.info(`SSH terminal opened to ${record.name}: ssh -F ${target.configFile} ${target.alias}`);
      return terminal;
    } catch (error) {
      if (typeof arg === 'string') throw error;
      await cockpit.showError(error, record);
      return undefined;
    }
  };
}
