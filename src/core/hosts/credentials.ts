import { promises as fs } from 'node:fs';
import { utils } from 'ssh2';
import { SandboxError } from '../errors';

/** What ssh2 logs in with: a private key's text, or an ssh-agent socket. */
export type Credentials = { privateKey: string; agent?: undefined } | { agent: string; privateKey?: undefined };

/**
 * Reads a user's private key file for a login, checking what OpenSSH would refuse too: a file
 * others can read, a key encrypted with a passphrase (use the agent for those). The key's text
 * stays in memory; nothing of it is written or logged.
 */
export async function readIdentityFile(file: string): Promise<string> {
  let info;
  let text: string;
  try {
    info = await fs.stat(file);
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SandboxError('invalid-input', `The key file ${file} does not exist; give the private key that logs in to the host.`);
    if (code === 'EACCES') throw new SandboxError('invalid-input', `The key file ${file} cannot be read by this user; fix its owner or give another key.`);
    throw error;
  }
  if ((info.mode & 0o077) !== 0) {
    throw new SandboxError(
      'invalid-input',
      `The key file ${file} can be read by others (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}), which OpenSSH refuses; run \`chmod 600 ${file}\`.`,
    );
  }
  const parsed = utils.parseKey(text);
  if (parsed instanceof Error) {
    if (/encrypted|passphrase/i.test(parsed.message)) {
      throw new SandboxError(
        'invalid-input',
        `The key file ${file} is protected by a passphrase; load it into ssh-agent (\`ssh-add ${file}\`) and use --agent instead.`,
      );
    }
    throw new SandboxError('invalid-input', `The file ${file} is not a private SSH key (${parsed.message}); give the private half, not the .pub file.`);
  }
  const keys = Array.isArray(parsed) ? parsed : [parsed];
  if (!keys.some((key) => key.isPrivateKey())) {
    throw new SandboxError('invalid-input', `The file ${file} holds a public key; give the private key file (without .pub).`);
  }
  return text;
}

/** The agent socket of this process's environment, or a sentence saying how to get one. */
export function agentSocket(env: NodeJS.ProcessEnv = process.env): string {
  const socket = env.SSH_AUTH_SOCK;
  if (!socket) {
    throw new SandboxError(
      'invalid-input',
      'SSH_AUTH_SOCK is not set, so there is no ssh-agent to log in with; start one and `ssh-add` your key, or use a key file (--identity).',
    );
  }
  return socket;
}

export async function loadCredentials(source: { identityFile?: string; agent?: boolean }): Promise<Credentials> {
  if (source.identityFile) return { privateKey: await readIdentityFile(source.identityFile) };
  return { agent: agentSocket() };
}
