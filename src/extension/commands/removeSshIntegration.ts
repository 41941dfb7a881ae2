import type { Cockpit } from '../cockpit';
import { removeSshIntegration, type SshIntegrationChange } from '../sshIntegration';

/** Remove SSH Integration: takes our Include out of the user's SSH config; the rest of the file stays byte for byte. */
export function removeSshIntegrationCommand(cockpit: Cockpit) {
  return async (): Promise<SshIntegrationChange | undefined> => {
    try {
      const result = await removeSshIntegration(cockpit);
      void cockpit.notify(
        'info',
        result.changed
          ? `Removed the sandboxes' Include from ${result.userConfig}; the rest of the file is as it was. Attach VS Code will ask before adding it again.`
          : `${result.userConfig} has no Include of the sandboxes' SSH config; nothing changed.`,
      );
      return result;
    } catch (error) {
      await cockpit.showError(error);
      return undefined;
    }
  };
}
