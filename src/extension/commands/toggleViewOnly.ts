import type { Cockpit } from '../cockpit';
import type { DesktopPanels } from '../desktopPanel';
import { isSandboxNode } from '../views/sandboxTree';

/**
 * Toggle View Only: whether keys and pointer of the desktop panel in front (or of the given
 * sandbox's panel) reach the desktop. Resolves to the new setting, undefined when no desktop
 * panel is open.
 */
export function toggleViewOnlyCommand(cockpit: Cockpit, desktops: DesktopPanels) {
  return async (arg?: unknown): Promise<boolean | undefined> => {
    const ref = isSandboxNode(arg) ? arg.record.id : typeof arg === 'string' && arg !== '' ? arg : undefined;
    const panel = ref ? desktops.get((await cockpit.controller.resolve(ref)).id) : desktops.active();
    if (!panel) {
      void cockpit.notify('info', 'No desktop is open here; open one with "Sandboxes: Open Desktop" first.');
      return undefined;
    }
    const viewOnly = !panel.viewOnly;
    panel.setViewOnly(viewOnly);
    cockpit.log.info(`The desktop of ${panel.sandboxName} is ${viewOnly ? 'view only' : 'driven from here'} now`);
    return viewOnly;
  };
}
