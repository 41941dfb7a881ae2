import * as vscode from 'vscode';
import type { ExecResult } from '../../core/model';
import { isRunning, type Cockpit } from '../cockpit';
import { resolveTarget } from '../targets';

let channel: vscode.OutputChannel | undefined;
const LAST_COMMAND_KEY = 'sandboxes.runCommand.last';

/** Run Command in Sandbox: output streams into the "Sandbox Commands" channel as it comes; the exit code ends it. */
export function runCommandCommand(cockpit: Cockpit) {
  return async (arg?: unknown, command?: unknown): Promise<ExecResult | undefined> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox to run the command in', isRunning);
    if (!record) return undefined;
    const programmatic = typeof command === 'string';
    const text = programmatic
      ? (command as string)
      : await vscode.window.showInputBox({
          title: `Run Command in ${record.name}`,
          prompt: `A shell command, run by sh -c in ${record.workdir} as ${record.user}`,
          value: cockpit.context.workspaceState.get<string>(LAST_COMMAND_KEY),
          ignoreFocusOut: true,
        });
    if (!text) return undefined;
    if (!programmatic) await cockpit.context.workspaceState.update(LAST_COMMAND_KEY, text);

    if (!channel) {
      channel = vscode.window.createOutputChannel('Sandbox Commands');
      cockpit.context.subscriptions.push(channel);
    }
    const out = channel;
    out.show(true);
    out.appendLine(`$ ${text}    [${record.name}]`);
    const decoders = { out: new TextDecoder(), err: new TextDecoder() };
    try {
      const result = await cockpit.withProgress(`Running in ${record.name}: ${text}`, (signal) =>
        cockpit.controller.exec(record.id, {
          command: text,
          signal,
          onStdout: (chunk) => out.append(decoders.out.decode(chunk, { stream: true })),
          onStderr: (chunk) => out.append(decoders.err.decode(chunk, { stream: true })),
        }),
      );
      const ending = result.cancelled
        ? 'cancelled'
        : result.timedOut
          ? 'timed out'
          : result.signal
            ? `ended by ${result.signal}`
            : `exit code ${result.exitCode}`;
      out.appendLine(`[${ending}, ${(result.durationMs / 1000).toFixed(1)} s]`);
      if (result.outOfMemory) out.appendLine(result.outOfMemory);
      out.appendLine('');
      cockpit.log.info(`${record.name}: \`${text}\` → ${ending}`);
      if (!programmatic && result.outOfMemory) {
        void vscode.window.showWarningMessage(`${record.name}: ${result.outOfMemory}`);
      } else if (!programmatic && result.exitCode !== 0 && !result.cancelled) {
        void vscode.window.showWarningMessage(`The command in ${record.name} ended with ${ending}; its output is in "Sandbox Commands".`);
      }
      return result;
    } catch (error) {
      out.appendLine(`[failed: ${error instanceof Error ? error.message : String(error)}]`);
      if (programmatic) throw error;
      await cockpit.showError(error, record);
      return undefined;
    }
  };
}
