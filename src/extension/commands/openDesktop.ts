import { isRunningDesktop, type Cockpit } from '../cockpit';
import type { DesktopPanel, DesktopPanels } from '../desktopPanel';
import { resolveTarget } from '../targets';

/**
 * Open Desktop: the sandbox's desktop in a panel (noVNC over its SSH connection), or the panel
 * already showing it. `options.viewOnly` sets whether keys and pointer reach the desktop; left
 * out, the panel watches while an agent has a command running there.
 */
export function openDesktopCommand(cockpit: Cockpit, desktops: DesktopPanels) {
  return async (arg?: unknown, options?: { viewOnly?: boolean }): Promise<DesktopPanel | undefined> => {
    const record = await resolveTarget(cockpit, arg, 'Sandbox whose desktop to open', isRunningDesktop);
    if (!record) return undefined;
    if (!record.profile.desktop) {
      await cockpit.showError(new Error(`${record.name} has no desktop; start a sandbox with the Desktop profile to get one.`));
      return undefined;
    }
    if (record.state !== 'running') {
      await cockpit.showError(new Error(`${record.name} is ${record.state}; start it to see its desktop.`), record);
      return undefined;
    }
    cockpit.log.info(`Opening the desktop of ${record.name}`);
    return desktops.open(record, { viewOnly: typeof options?.viewOnly === 'boolean' ? options.viewOnly : undefined });
  };
}
