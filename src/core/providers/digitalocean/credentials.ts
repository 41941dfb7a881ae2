/**
 * Where the DigitalOcean token the CLI and the daemon use lives: `DIGITALOCEAN_TOKEN`, else the
 * file `cloud/digitalocean-token` of the state dir (0600 in a 0700 folder). VS Code keeps its own
 * copy in SecretStorage and writes this file only when the user agrees. The token is never put
 * in a log, record, label, user data, process argument or error message.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SandboxError } from '../../errors';
import { writeFileAtomic } from '../../store/files';
import { DIGITALOCEAN_API_URL } from './api/client';

export const TOKEN_ENV = 'DIGITALOCEAN_TOKEN';
/** Another API address (a stand-in on loopback in tests); the real API otherwise. */
export const API_URL_ENV = 'AGENT_SANDBOXES_DIGITALOCEAN_URL';
export const CLOUD_DIR = 'cloud';
const TOKEN_FILE = 'digitalocean-token';
/** DigitalOcean tokens are about 70 characters; anything this long is not one. */
const MAX_TOKEN_LENGTH = 512;

export interface DigitalOceanCredentials {
  token: string;
  apiUrl: string;
  /** Where the token came from, for `sandbox cloud status` (never the token itself). */
  source: 'environment' | 'file' | 'editor';
}

/**
 * A token this process was handed by its front end (VS Code's SecretStorage), used before the
 * environment and the file; never put in the environment, where terminals and tools would inherit it.
 */
let editorToken: string | undefined;

export function useTokenInThisProcess(token: string | undefined): void {
  editorToken = token === undefined ? undefined : checkTokenShape(token);
}

export function tokenFile(stateRoot: string): string {
  return path.join(stateRoot, CLOUD_DIR, TOKEN_FILE);
}

export function apiUrlOf(env: NodeJS.ProcessEnv = process.env): string {
  const url = env[API_URL_ENV]?.trim();
  if (!url) return DIGITALOCEAN_API_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SandboxError('invalid-input', `${API_URL_ENV}=${url} is not a URL; set it to an http(s) address or unset it.`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new SandboxError('invalid-input', `${API_URL_ENV} must be an http(s) address; unset it to use ${DIGITALOCEAN_API_URL}.`);
  }
  return url.replace(/\/+$/, '');
}

/** Checks a token's shape before it is stored or sent: one line of visible characters. */
export function checkTokenShape(token: string): string {
  const trimmed = token.trim();
  if (trimmed === '')
    throw new SandboxError('invalid-input', 'The DigitalOcean token is empty; paste a personal access token from the control panel (API > Tokens).');
  if (trimmed.length > MAX_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(trimmed)) {
    throw new SandboxError(
      'invalid-input',
      'That is not a DigitalOcean token (one line of letters and digits); copy it again from the control panel (API > Tokens).',
    );
  }
  return trimmed;
}

/** The token in use, or undefined when neither the environment nor the state dir has one. */
export async function readCredentials(stateRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<DigitalOceanCredentials | undefined> {
  const apiUrl = apiUrlOf(env);
  if (editorToken) return { token: editorToken, apiUrl, source: 'editor' };
  const fromEnv = env[TOKEN_ENV]?.trim();
  if (fromEnv) return { token: checkTokenShape(fromEnv), apiUrl, source: 'environment' };
  let text: string;
  try {
    const file = tokenFile(stateRoot);
    const info = await fs.stat(file);
    // Readable by others: someone loosened it; the token may have leaked, so say so rather than use it.
    if ((info.mode & 0o077) !== 0) {
      throw new SandboxError(
        'invalid-input',
        `The token file ${file} is readable by other users; revoke that token, then sign in again with \`sandbox cloud login\`.`,
      );
    }
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return { token: checkTokenShape(text), apiUrl, source: 'file' };
}

export async function requireCredentials(stateRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<DigitalOceanCredentials> {
  const credentials = await readCredentials(stateRoot, env);
  if (!credentials) {
    throw new SandboxError('invalid-input', `Not signed in to DigitalOcean; run \`sandbox cloud login\` (or set ${TOKEN_ENV}).`);
  }
  return credentials;
}

export async function saveToken(stateRoot: string, token: string): Promise<void> {
  await writeFileAtomic(tokenFile(stateRoot), checkTokenShape(token) + '\n', 0o600);
}

/** Forgets the stored token; true when there was one. */
export async function removeToken(stateRoot: string): Promise<boolean> {
  try {
    await fs.rm(tokenFile(stateRoot));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
