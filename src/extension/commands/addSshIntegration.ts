import type { Cockpit } from '../cockpit';
import { addSshIntegration, type SshIntegrationChange } from '../sshIntegration';

/** Add SSH Integration: Includes our SSH config from the user's, so `ssh sandbox-NAME` works from any terminal. */
export function addSshIntegrationCommand(cockpit: Cockpit) {
  return async (): Promise<SshIntegrationChange | undefined> => {
    try {
      const result = await addSshIntegration(cockpit);
      void cockpit.notify(
        'info',
        result.changed
          ? `${result.userConfig} now includes the sandboxes' SSH config: \`ssh sandbox-NAME\` logs in to a running sandbox.`
          : `${result.userConfig} already includes the sandboxes' SSH config; nothing changed.`,
      );
      return result;
    } catch (error) {
      await cockpit.showError(error);
      return undefined;
    }
  };
}
