import { formatLogEntry } from '../../app/format';
import * as vscode from 'vscode';
import type { SandboxRecord } from '../../core/model';
import type { Cockpit } from '../cockpit';
import { resolveTarget } from '../targets';

const followers = new Map<string, { channel: vscode.OutputChannel; stop: AbortController }>();

/** Show Logs: the sandbox's own output and its exec/sync history, then new lines as they come. */
export function showLogsCommand(cockpit: Cockpit) {
  cockpit.context.subscriptions.push({ dispose: () => followers.forEach((follower) => follower.stop.abort()) });
  return async (arg?: unknown): Promise<void> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox whose logs to show');
    if (!record) return;
    followers.get(record.id)?.stop.abort();
    const channel = followers.get(record.id)?.channel ?? vscode.window.createOutputChannel(`Sandbox Logs: ${record.name}`);
    const stop = new AbortController();
    followers.set(record.id, { channel, stop });
    channel.clear();
    channel.show(true);
    void follow(cockpit, record, channel, stop.signal);
  };
}

async function follow(cockpit: Cockpit, record: SandboxRecord, channel: vscode.OutputChannel, signal: AbortSignal): Promise<void> {
  try {
    for await (const entry of cockpit.controller.logs(record.id, { follow: record.state === 'running', tail: 500, signal })) {
      if (signal.aborted) break;
      channel.appendLine(formatLogEntry(entry));
    }
  } catch (error) {
    if (!signal.aborted) {
      channel.appendLine(`[the log ended: ${error instanceof Error ? error.message : String(error)}]`);
      cockpit.log.warn(`Logs of ${record.name}: ${String(error)}`);
    }
  }
}
