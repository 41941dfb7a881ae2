import * as vscode from 'vscode';
import type { SandboxRecord } from '../../core/model';
import type { Cockpit } from '../cockpit';
import { deleteWarning } from '../presentation';
import { resolveTargets } from '../targets';

export interface DeleteOptions {
  /** For callers that asked already (tests, scripts): no confirmation. */
  confirmed?: boolean;
}

/** Delete: one or many (multi-select), after a modal confirmation that says what is lost. */
export function deleteCommand(cockpit: Cockpit) {
  return async (arg?: unknown, selected?: unknown, options?: DeleteOptions): Promise<SandboxRecord[]> => {
    const targets = await resolveTargets(cockpit, arg, selected, 'Sandbox to delete');
    if (targets.length === 0) return [];
    if (!options?.confirmed) {
      const answer = await vscode.window.showWarningMessage(deleteWarning(targets), { modal: true }, 'Delete');
      if (answer !== 'Delete') return [];
    }
    const programmatic = typeof arg === 'string';
    const deleted: SandboxRecord[] = [];
    try {
      await cockpit.withProgress(`Deleting ${targets.map((record) => record.name).join(', ')}`, async (signal) => {
        for (const record of targets) {
          await cockpit.exclusively(() => cockpit.controller.delete(record.id, signal));
          deleted.push(record);
          cockpit.log.info(`Deleted ${record.name} (${record.id})`);
        }
      });
    } catch (error) {
      if (programmatic) throw error;
      await cockpit.showError(error);
    } finally {
      await cockpit.refresh();
    }
    return deleted;
  };
}
