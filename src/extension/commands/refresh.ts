import type { SandboxRecord } from '../../core/model';
import type { Cockpit } from '../cockpit';

/** Refresh: lists again (reconciling with the engine); live updates make it rarely needed. */
export function refreshCommand(cockpit: Cockpit) {
  return async (): Promise<SandboxRecord[]> => {
    await cockpit.refresh();
    return cockpit.records;
  };
}
