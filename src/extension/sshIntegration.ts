import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { addSshInclude, defaultUserSshConfig, readSshInclude, removeSshInclude } from '../core/ssh/userConfig';
import type { Cockpit } from './cockpit';

/**
 * Our one edit to a user file: the Include of our managed SSH config in the SSH config file that
 * Remote-SSH reads, so that it (and a plain `ssh sandbox-NAME`) finds the sandboxes. It is made
 * only with the user's consent, remembered per file in globalState.
 */
const CONSENT_KEY = 'sandboxes.sshInclude.consentedFiles';

/** The SSH config file Remote-SSH reads: the setting remote.SSH.configFile, else ~/.ssh/config. */
export function userSshConfigPath(): string {
  const configured = vscode.workspace.getConfiguration('remote.SSH').get<string>('configFile')?.trim();
  if (!configured) return defaultUserSshConfig();
  if (configured === '~' || configured.startsWith('~/') || configured.startsWith('~\\')) return path.join(os.homedir(), configured.slice(1));
  return path.resolve(configured);
}

function consentedFiles(cockpit: Cockpit): string[] {
  return cockpit.context.globalState.get<string[]>(CONSENT_KEY) ?? [];
}

async function rememberConsent(cockpit: Cockpit, userConfig: string, given: boolean): Promise<void> {
  const others = consentedFiles(cockpit).filter((file) => file !== userConfig);
  await cockpit.context.globalState.update(CONSENT_KEY, given ? [...others, userConfig] : others);
}

/** The path of our managed config, written fresh for the sandboxes running now. */
function ourConfigFile(cockpit: Cockpit): Promise<string> {
  return cockpit.controller.refreshSshConfig();
}

/**
 * Makes sure the user's SSH config Includes ours, asking once before the first edit of that file.
 * False when the user said no (nothing was changed then).
 */
export async function ensureSshIntegration(cockpit: Cockpit): Promise<boolean> {
  const userConfig = userSshConfigPath();
  const configFile = await ourConfigFile(cockpit);
  if ((await readSshInclude(userConfig)) === configFile) return true;
  if (!consentedFiles(cockpit).includes(userConfig)) {
    const answer = await vscode.window.showInformationMessage(
      `Remote-SSH finds hosts through ${userConfig}. Add one Include line at its top for the sandboxes' own SSH config?`,
      {
        modal: true,
        detail: `The line includes ${configFile}, which Agent Sandboxes keeps up to date; nothing else in ${userConfig} changes. "Sandboxes: Remove SSH Integration" takes the line out again.`,
      },
      'Add Include',
    );
    if (answer !== 'Add Include') {
      cockpit.log.info(`Left ${userConfig} alone: the Include was declined`);
      return false;
    }
    await rememberConsent(cockpit, userConfig, true);
  }
  await addSshInclude(userConfig, configFile);
  cockpit.log.info(`${userConfig} now includes ${configFile}`);
  return true;
}

export interface SshIntegrationChange {
  userConfig: string;
  configFile: string;
  changed: boolean;
}

/** Add SSH Integration: the user asked, so no question; `ssh sandbox-NAME` works from any terminal afterwards. */
export async function addSshIntegration(cockpit: Cockpit): Promise<SshIntegrationChange> {
  const userConfig = userSshConfigPath();
  const configFile = await ourConfigFile(cockpit);
  const { changed } = await addSshInclude(userConfig, configFile);
  await rememberConsent(cockpit, userConfig, true);
  cockpit.log.info(changed ? `${userConfig} now includes ${configFile}` : `${userConfig} already includes ${configFile}`);
  return { userConfig, configFile, changed };
}

/** Remove SSH Integration: takes our block out, and forgets the consent so that Attach asks again. */
export async function removeSshIntegration(cockpit: Cockpit): Promise<SshIntegrationChange> {
  const userConfig = userSshConfigPath();
  const included = await readSshInclude(userConfig);
  const { changed } = await removeSshInclude(userConfig);
  await rememberConsent(cockpit, userConfig, false);
  cockpit.log.info(changed ? `Removed the Include of ${included ?? 'our SSH config'} from ${userConfig}` : `${userConfig} has no Include of ours`);
  return { userConfig, configFile: included ?? cockpit.controller.store.sshConfigPath, changed };
}
