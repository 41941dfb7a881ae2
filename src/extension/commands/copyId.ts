import * as vscode from 'vscode';
import type { Cockpit } from '../cockpit';
import { resolveTarget } from '../targets';

/** Copy Sandbox ID: the id the CLI (and agents) accept anywhere a sandbox is named. */
export function copyIdCommand(cockpit: Cockpit) {
  return async (arg?: unknown): Promise<string | undefined> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox whose id to copy');
    if (!record) return undefined;
    await vscode.env.clipboard.writeText(record.id);
    vscode.window.setStatusBarMessage(`Copied the id of ${record.name}: ${record.id}`, 3000);
    return record.id;
  };
}
