import * as vscode from 'vscode';
import type { PortForward } from '../../core/ssh/forward';
import { isRunning, type Cockpit } from '../cockpit';
import { COMMAND_IDS } from '../commandIds';
import { parsePort } from '../sshModel';
import { resolveTarget } from '../targets';
import type { ForwardNode } from '../views/sandboxTree';

const LAST_PORT_KEY = 'sandboxes.forwardPort.last';

/**
 * Forward Port: a port of the sandbox (on its 127.0.0.1) opened on 127.0.0.1 here, over its SSH
 * connection; it shows under the sandbox in the view until stopped, or until the sandbox stops.
 */
export function forwardPortCommand(cockpit: Cockpit) {
  return async (arg?: unknown, port?: unknown): Promise<PortForward | undefined> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox whose port to forward', isRunning);
    if (!record) return undefined;
    const programmatic = typeof port === 'number';
    let remotePort: number;
    if (programmatic) {
      remotePort = port as number;
    } else {
      const text = await vscode.window.showInputBox({
        title: `Forward a Port of ${record.name}`,
        prompt: 'Port inside the sandbox (a server listening there, e.g. on 3000); it opens on 127.0.0.1 here',
        value: String(cockpit.context.workspaceState.get<number>(LAST_PORT_KEY) ?? 3000),
        ignoreFocusOut: true,
        validateInput: (value) => {
          const parsed = parsePort(value);
          return 'problem' in parsed ? parsed.problem : undefined;
        },
      });
      if (text === undefined) return undefined;
      const parsed = parsePort(text);
      if ('problem' in parsed) return undefined;
      remotePort = parsed.port;
      await cockpit.context.workspaceState.update(LAST_PORT_KEY, remotePort);
    }
    try {
      const forward = await cockpit.withProgress(`Forwarding port ${remotePort} of ${record.name}`, () => cockpit.controller.forward(record.id, remotePort));
      cockpit.watchForward(forward);
      cockpit.log.info(`Port ${remotePort} of ${record.name} is open at ${forward.url}`);
      if (!programmatic) {
        void cockpit.notify('info', `Port ${remotePort} of ${record.name} is open at ${forward.url}.`, 'Open in Browser').then((choice) => {
          if (choice) void vscode.commands.executeCommand(COMMAND_IDS.openForwardedPort, { kind: 'forward', forward } satisfies ForwardNode);
        });
      }
      return forward;
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error, record);
      return undefined;
    }
  };
}
