/** Checks of this machine's programs: the Node.js the CLI runs on, and the OpenSSH client. */
import { execFile } from 'node:child_process';
import { describeError } from '../errors';
import { fail, pass, type CheckGroup, type CheckResult, type DoctorContext } from './types';

/** The oldest Node.js the CLI supports (package.json `engines.node`). */
export const MIN_NODE_VERSION = '20.19';

/** Whether a version (`20.20.2`, `v22.1.0`) is at least `minimum` (`20.19`). */
export function meetsVersion(actual: string, minimum: string): boolean {
  const parts = (text: string) =>
    text
      .replace(/^v/, '')
      .split(/[.+-]/)
      .map((part) => Number.parseInt(part, 10));
  const have = parts(actual);
  const need = parts(minimum);
  for (let i = 0; i < need.length; i++) {
    const a = Number.isFinite(have[i]) ? have[i]! : 0;
    if (a !== need[i]) return a > need[i]!;
  }
  return true;
}

export function nodeCheck(context: Pick<DoctorContext, 'runtime'>, version: string = process.versions.node): CheckResult {
  const title = 'Node.js';
  if (context.runtime === 'extension') return pass('node', title, `The extension runs on VS Code's own runtime (Node.js ${version}).`);
  if (meetsVersion(version, MIN_NODE_VERSION)) return pass('node', title, `Node.js ${version} (${MIN_NODE_VERSION} or newer is needed).`);
  return fail(
    'node',
    title,
    `Node.js ${version} is older than ${MIN_NODE_VERSION}, which the CLI needs.`,
    `Install Node.js ${MIN_NODE_VERSION} or newer (from nodejs.org, or with nvm: \`nvm install 22\`).`,
  );
}

/** How to get the OpenSSH client on this system. */
function sshInstallHint(platform: NodeJS.Platform = process.platform): string {
  if (platform === 'darwin') return 'macOS ships it as /usr/bin/ssh: make sure /usr/bin is on PATH.';
  if (platform === 'win32') return 'Add the "OpenSSH Client" optional feature (Settings > System > Optional features).';
  return 'Install the OpenSSH client (Debian and Ubuntu: `sudo apt-get install openssh-client`; Fedora: `sudo dnf install openssh-clients`).';
}

export async function sshClientCheck(): Promise<CheckResult> {
  const title = 'OpenSSH client';
  const found = await new Promise<{ version?: string; error?: unknown }>((resolve) => {
    execFile('ssh', ['-V'], { timeout: 5000 }, (error, stdout, stderr) => {
      // ssh -V prints its version on stderr and exits 0; older ones exit 255.
      const version = /OpenSSH[^\s,]*/.exec(`${stderr}${stdout}`)?.[0];
      resolve(version ? { version } : { error: error ?? new Error(`unexpected answer "${`${stderr}${stdout}`.trim().slice(0, 80)}"`) });
    });
  });
  if (found.version) return pass('ssh-client', title, `${found.version} (\`sandbox ssh\` and Remote-SSH log in with it).`);
  const missing = (found.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return fail(
    'ssh-client',
    title,
    missing ? 'No `ssh` program is on PATH; `sandbox ssh` and Remote-SSH need it.' : `\`ssh -V\` failed (${describeError(found.error)}).`,
    sshInstallHint(),
  );
}

export const machineChecks: CheckGroup = async (context) => [nodeCheck(context), await sshClientCheck()];
