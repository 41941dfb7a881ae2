/**
 * The plain pieces of the SSH features (no vscode import, tested in plain Node): which Remote-SSH
 * extension fits this editor, the folder URI it opens, the `ssh` command line to copy, and the
 * port the user types for Forward Port.
 */

export interface RemoteSshExtension {
  id: string;
  displayName: string;
}

/** Microsoft's Remote-SSH: licensed for, and working in, Microsoft's own builds of VS Code only. */
export const MICROSOFT_REMOTE_SSH: RemoteSshExtension = { id: 'ms-vscode-remote.remote-ssh', displayName: 'Remote - SSH' };
/** The open-source one, on Open VSX: for code-server, VSCodium and other builds of Code - OSS. */
export const OPEN_REMOTE_SSH: RemoteSshExtension = { id: 'jeanp413.open-remote-ssh', displayName: 'Open Remote - SSH' };

/** Every extension that resolves `ssh-remote+HOST` folders and reads remote.SSH.configFile; any one of them will do. */
export const REMOTE_SSH_EXTENSIONS: readonly RemoteSshExtension[] = [MICROSOFT_REMOTE_SSH, OPEN_REMOTE_SSH];

/**
 * The Remote-SSH extension to offer in this editor: Microsoft's in VS Code and VS Code Insiders
 * (uriScheme `vscode`, `vscode-insiders`), the open-source one anywhere else (code-server, VSCodium,
 * Code - OSS), where Microsoft's is neither available from the gallery nor allowed to run.
 */
export function remoteSshFor(appName: string, uriScheme: string): RemoteSshExtension {
  const microsoftBuild = /^vscode(-insiders|-exploration)?$/.test(uriScheme) && !/code-server/i.test(appName);
  return microsoftBuild ? MICROSOFT_REMOTE_SSH : OPEN_REMOTE_SSH;
}

export const REMOTE_SSH_AUTHORITY_PREFIX = 'ssh-remote+';

/** The parts of `vscode-remote://ssh-remote+<alias><folder>`, the URI Remote-SSH opens a folder of a host by. */
export function remoteFolderUriParts(alias: string, folder: string): { scheme: string; authority: string; path: string } {
  if (!/^[A-Za-z0-9._-]+$/.test(alias))
    throw new Error(`"${alias}" cannot be an SSH host alias in a folder URI; use letters, digits, dots, dashes and underscores.`);
  if (!folder.startsWith('/')) throw new Error(`"${folder}" is not an absolute folder path inside the sandbox.`);
  return { scheme: 'vscode-remote', authority: `${REMOTE_SSH_AUTHORITY_PREFIX}${alias}`, path: folder };
}

/** The same URI as text, as `code --folder-uri` takes it. */
export function remoteFolderUri(alias: string, folder: string): string {
  const { scheme, authority, path } = remoteFolderUriParts(alias, folder);
  return `${scheme}://${authority}${path}`;
}

/**
 * `ssh -F <config> <alias>` as one line to paste into a shell: the config path is quoted when it
 * holds anything a shell would split or expand (single quotes for POSIX shells, double quotes for
 * Windows, where user folders often have spaces and never a double quote).
 */
export function sshCommandLine(configFile: string, alias: string, platform: NodeJS.Platform = process.platform): string {
  return ['ssh', '-F', shellQuote(configFile, platform), shellQuote(alias, platform)].join(' ');
}

export function shellQuote(value: string, platform: NodeJS.Platform = process.platform): string {
  // Backslashes separate folders on Windows; a POSIX shell would eat them.
  const plain = platform === 'win32' ? /^[A-Za-z0-9_@+=:,./\\-]+$/ : /^[A-Za-z0-9_@+=:,./-]+$/;
  if (plain.test(value)) return value;
  if (platform === 'win32') return `"${value}"`;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The port typed into Forward Port, or the one sentence that says what is wrong with it. */
export function parsePort(text: string): { port: number } | { problem: string } {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return { problem: 'Type a port number from 1 to 65535, such as 3000.' };
  const port = Number(trimmed);
  if (port < 1 || port > 65535) return { problem: `${trimmed} is not a port; type a number from 1 to 65535.` };
  return { port };
}

/** What a forwarded port needs to be shown: the core's PortForward has these (and more). */
export interface ForwardView {
  sandboxId: string;
  sandboxName: string;
  remotePort: number;
  localPort: number;
  url: string;
}

/** `3000 → 127.0.0.1:54321`: the port inside, and where it is open here. */
export function forwardLabel(forward: ForwardView): string {
  return `${forward.remotePort} → 127.0.0.1:${forward.localPort}`;
}

/** The contextValue of a forwarded port's item, matched in package.json with `viewItem =~ /^forward\+/`. */
export const FORWARD_CONTEXT_VALUE = 'forward+active';
