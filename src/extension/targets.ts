import * as vscode from 'vscode';
import type { SandboxRecord } from '../core/model';
import type { PortForward } from '../core/ssh/forward';
import type { Cockpit, SandboxFilter } from './cockpit';
import { descriptionOf, iconOf } from './presentation';
import { forwardLabel } from './sshModel';
import { isForwardNode, isSandboxNode } from './views/sandboxTree';

/** A sandbox picked from a quick pick of the ones that pass `filter`; undefined when none or cancelled. */
export async function pickSandbox(cockpit: Cockpit, placeHolder: string, filter: SandboxFilter = () => true): Promise<SandboxRecord | undefined> {
  await cockpit.refresh();
  const candidates = cockpit.records.filter(filter);
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(
      cockpit.records.length === 0 ? 'There is no sandbox yet; run "Sandboxes: Start Sandbox" to make one.' : 'No sandbox is in a state where this applies.',
    );
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    candidates.map((record) => ({
      label: `$(${iconOf(record.state).id.replace('~spin', '')}) ${record.name}`,
      description: descriptionOf(record),
      detail: record.id,
      record,
    })),
    { placeHolder, matchOnDescription: true, matchOnDetail: true },
  );
  return picked?.record;
}

/**
 * The sandboxes a command acts on: the selection when invoked from the tree (several with
 * multi-select), a name or id when invoked programmatically, or a quick pick from the palette.
 */
export async function resolveTargets(cockpit: Cockpit, arg: unknown, selected: unknown, placeHolder: string, filter?: SandboxFilter): Promise<SandboxRecord[]> {
  if (Array.isArray(selected) && selected.length > 0 && selected.every(isSandboxNode)) {
    const nodes = selected.filter(isSandboxNode);
    if (!isSandboxNode(arg) || nodes.some((node) => node.record.id === arg.record.id)) return nodes.map((node) => node.record);
  }
  if (isSandboxNode(arg)) return [arg.record];
  if (typeof arg === 'string' && arg !== '') return [await cockpit.controller.resolve(arg)];
  const picked = await pickSandbox(cockpit, placeHolder, filter);
  return picked ? [picked] : [];
}

/** The one sandbox a command acts on (the first of a multi-selection). */
export async function resolveTarget(cockpit: Cockpit, arg: unknown, placeHolder: string, filter?: SandboxFilter): Promise<SandboxRecord | undefined> {
  return (await resolveTargets(cockpit, arg, undefined, placeHolder, filter))[0];
}

/** The workspace folder to sync with: the only one, or a pick among several. */
export async function pickWorkspaceFolder(placeHolder: string): Promise<vscode.WorkspaceFolder | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) {
    void vscode.window.showInformationMessage('Open a folder first: this command syncs the workspace folder.');
    return undefined;
  }
  if (folders.length === 1) return folders[0];
  return vscode.window.showWorkspaceFolderPick({ placeHolder });
}

/** The forwarded port a command acts on: the tree item's, or a pick among the open ones. */
export async function resolveForward(cockpit: Cockpit, arg: unknown, placeHolder: string): Promise<PortForward | undefined> {
  if (isForwardNode(arg)) return arg.forward;
  const open = cockpit.records.flatMap((record) => cockpit.forwardsOf(record.id));
  if (open.length === 0) {
    void vscode.window.showInformationMessage('No port is forwarded; use "Sandboxes: Forward Port..." on a running sandbox first.');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    open.map((forward) => ({ label: `$(plug) ${forwardLabel(forward)}`, description: forward.sandboxName, forward })),
    { placeHolder },
  );
  return picked?.forward;
}
