/**
 * Signing in to DigitalOcean for the CLI and the daemon: a token is checked against `/v2/account`
 * before it is kept (in the state dir's token file, 0600). Nothing here ever returns, logs or
 * words an error with the token itself.
 */
import { existsSync } from 'node:fs';
import { DigitalOceanClient, type Account } from '../providers/digitalocean/api/client';
import { isDigitalOceanError } from '../providers/digitalocean/api/errors';
import {
  apiUrlOf,
  checkTokenShape,
  readCredentials,
  removeToken,
  saveToken,
  TOKEN_ENV,
  tokenFile,
  type DigitalOceanCredentials,
} from '../providers/digitalocean/credentials';
import { readSshSources, setSshSources, sshSourcesFile } from '../providers/digitalocean/sshSources';
import { SandboxError } from '../errors';

/** What `sandbox cloud status` shows of the account: never the token. */
export interface AccountSummary {
  email: string;
  /** `active`, `warning` or `locked`, as DigitalOcean says. */
  status: string;
  statusMessage?: string;
  dropletLimit?: number;
}

export interface SignInResult {
  account: AccountSummary;
  tokenFile: string;
  /** Set when DIGITALOCEAN_TOKEN is set too: it wins over the file for this environment. */
  environmentOverrides: boolean;
}

export interface CloudStatus {
  signedIn: boolean;
  source?: DigitalOceanCredentials['source'];
  /** The token file, when the token comes from it. */
  tokenFile?: string;
  apiUrl: string;
  account?: AccountSummary;
  /** Signed in, but the account could not be read: why, in one sentence. */
  problem?: string;
}

export interface SignOutResult {
  removed: boolean;
  tokenFile: string;
  /** DIGITALOCEAN_TOKEN is still set: this environment stays signed in. */
  environmentStillSet: boolean;
}

function summaryOf(account: Account): AccountSummary {
  const summary: AccountSummary = { email: account.email, status: account.status };
  if (account.status_message) summary.statusMessage = account.status_message;
  if (typeof account.droplet_limit === 'number') summary.dropletLimit = account.droplet_limit;
  return summary;
}

/** The account a token belongs to; a token DigitalOcean refuses is said so in one sentence. */
export async function accountOfToken(token: string, apiUrl: string, signal?: AbortSignal): Promise<AccountSummary> {
  const client = new DigitalOceanClient({ token, baseUrl: apiUrl, retry: { maxRetries: 2 } });
  try {
    return summaryOf(await client.account(signal));
  } catch (error) {
    if (isDigitalOceanError(error, 'unauthorized')) {
      throw new SandboxError(
        'invalid-input',
        'DigitalOcean refused that token, so nothing was saved; copy a valid personal access token from the control panel (API > Tokens) and sign in again.',
      );
    }
    throw error;
  }
}

/** Checks the token against the account, then keeps it in the state dir (0600). Nothing is written when the check fails. */
export async function signIn(stateRoot: string, rawToken: string, env: NodeJS.ProcessEnv = process.env, signal?: AbortSignal): Promise<SignInResult> {
  const token = checkTokenShape(rawToken);
  const account = await accountOfToken(token, apiUrlOf(env), signal);
  await saveToken(stateRoot, token);
  // SSH sources chosen while signed out reach the firewalls now; a failure here waits for the next create.
  if (existsSync(sshSourcesFile(stateRoot))) await setSshSources(stateRoot, await readSshSources(stateRoot), { env, signal }).catch(() => undefined);
  return { account, tokenFile: tokenFile(stateRoot), environmentOverrides: Boolean(env[TOKEN_ENV]?.trim()) };
}

export async function signOut(stateRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<SignOutResult> {
  const removed = await removeToken(stateRoot);
  return { removed, tokenFile: tokenFile(stateRoot), environmentStillSet: Boolean(env[TOKEN_ENV]?.trim()) };
}

/** Whether a token is in use, where it comes from, and whose account it opens. */
export async function cloudStatus(stateRoot: string, env: NodeJS.ProcessEnv = process.env, signal?: AbortSignal): Promise<CloudStatus> {
  const apiUrl = apiUrlOf(env);
  const credentials = await readCredentials(stateRoot, env);
  if (!credentials) return { signedIn: false, apiUrl };
  const status: CloudStatus = { signedIn: true, source: credentials.source, apiUrl };
  if (credentials.source === 'file') status.tokenFile = tokenFile(stateRoot);
  try {
    status.account = await accountOfToken(credentials.token, credentials.apiUrl, signal);
  } catch (error) {
    status.problem = error instanceof Error ? error.message : String(error);
  }
  return status;
}

/** The account's `month_to_date_usage` in USD, for `sandbox cost`; undefined when not signed in. */
export async function accountMonthToDateUsd(stateRoot: string, env: NodeJS.ProcessEnv = process.env, signal?: AbortSignal): Promise<number | undefined> {
  const credentials = await readCredentials(stateRoot, env);
  if (!credentials) return undefined;
  const client = new DigitalOceanClient({ token: credentials.token, baseUrl: credentials.apiUrl, retry: { maxRetries: 2 } });
  const balance = await client.balance(signal);
  const usd = Number(balance.month_to_date_usage);
  if (!Number.isFinite(usd)) throw new SandboxError('provider-error', 'DigitalOcean answered without a month-to-date usage; try again later.');
  return usd;
}
