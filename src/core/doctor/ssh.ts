/**
 * Checks of what Remote-SSH needs: our SSH config Included from the user's, and a Remote-SSH
 * extension. Both are advisory (warnings): only users of `ssh sandbox-NAME` and Attach VS Code
 * need them, and a fresh machine that never asked for them is not broken.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { describeError } from '../errors';
import { readSshInclude } from '../ssh/userConfig';
import { shellWord } from './shellWord';
import { pass, warn, type CheckGroup, type CheckResult, type DoctorContext } from './types';

/** Remote-SSH for VS Code, and the open one for VSCodium, code-server and other builds. */
export const REMOTE_SSH_EXTENSIONS = ['ms-vscode-remote.remote-ssh', 'jeanp413.open-remote-ssh'];

/** Where VS Code, its server, VSCodium, code-server and Cursor keep their extensions, under the home folder. */
export const EXTENSION_FOLDERS = [
  '.vscode/extensions',
  '.vscode-insiders/extensions',
  '.vscode-server/extensions',
  '.vscode-oss/extensions',
  '.local/share/code-server/extensions',
  '.cursor/extensions',
];

async function includeCheck(context: DoctorContext): Promise<CheckResult> {
  const id = 'ssh.include';
  const title = 'SSH Include';
  const fix = `Run \`${context.cli} ssh-config --install\` (or "Sandboxes: Add SSH Integration" in VS Code) to add one Include line at the top of ${context.userSshConfig}.`;
  let included: string | undefined;
  try {
    included = await readSshInclude(context.userSshConfig);
  } catch (error) {
    return warn(id, title, describeError(error), fix);
  }
  if (included === undefined) {
    return warn(
      id,
      title,
      `${context.userSshConfig} does not Include the sandboxes' SSH config, so \`ssh sandbox-NAME\` and Remote-SSH do not know them.`,
      fix,
    );
  }
  if (path.resolve(included) !== path.resolve(context.sshConfigFile)) {
    return warn(id, title, `${context.userSshConfig} Includes ${included}, the SSH config of another state dir, not ${context.sshConfigFile}.`, fix);
  }
  return pass(id, title, `${context.userSshConfig} Includes ${context.sshConfigFile}: \`ssh sandbox-NAME\` works.`);
}

/** The first Remote-SSH extension installed in any of the editors' extension folders. */
export async function findRemoteSshExtension(homeDir: string): Promise<string | undefined> {
  for (const folder of EXTENSION_FOLDERS) {
    const dir = path.join(homeDir, folder);
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    // Folders are named publisher.name-version (lowercase); an uninstalled one may linger in .obsolete, but its folder goes.
    const found = names.find((name) => REMOTE_SSH_EXTENSIONS.some((id) => name.toLowerCase().startsWith(`${id}-`)));
    if (found) return path.join(dir, found);
  }
  return undefined;
}

async function remoteSshCheck(context: DoctorContext): Promise<CheckResult> {
  const id = 'vscode.remote-ssh';
  const title = 'Remote-SSH extension';
  const found = context.remoteSshExtension ? context.remoteSshExtension() : await findRemoteSshExtension(context.homeDir);
  if (found) return pass(id, title, `${found} is installed: Attach VS Code opens a window in a sandbox.`);
  const where = context.remoteSshExtension ? 'this VS Code' : EXTENSION_FOLDERS.map((folder) => `~/${folder}`).join(', ');
  return warn(
    id,
    title,
    `No Remote-SSH extension in ${where}; only Attach VS Code needs one.`,
    `Install ${REMOTE_SSH_EXTENSIONS[0]} (VS Code) or ${REMOTE_SSH_EXTENSIONS[1]} (VSCodium, code-server): \`code --install-extension ${shellWord(REMOTE_SSH_EXTENSIONS[0]!)}\`.`,
  );
}

export const sshChecks: CheckGroup = async (context) => [await includeCheck(context), await remoteSshCheck(context)];
