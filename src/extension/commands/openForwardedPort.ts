import * as vscode from 'vscode';
import type { Cockpit } from '../cockpit';
import { resolveForward } from '../targets';

/** Open in Browser: the forwarded port's local URL, in the user's browser. */
export function openForwardedPortCommand(cockpit: Cockpit) {
  return async (arg?: unknown): Promise<boolean> => {
    const forward = await resolveForward(cockpit, arg, 'Forwarded port to open in the browser');
    if (!forward) return false;
    return vscode.env.openExternal(vscode.Uri.parse(forward.url));
  };
}
