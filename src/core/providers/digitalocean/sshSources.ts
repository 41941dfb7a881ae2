/**
 * Where SSH to our droplets may come from: the inbound rule of every cloud firewall of ours.
 * Kept in the state dir (`cloud/ssh-sources.json`, 0600), so the CLI's `sandbox cloud
 * ssh-source`, VS Code's `sandboxes.cloud.sshSourceCidr` and the daemon's creates agree.
 */
import * as path from 'node:path';
import { SandboxError } from '../../errors';
import { readJsonFile, writeFileAtomic } from '../../store/files';
import { StateStore } from '../../store/stateStore';
import { DigitalOceanClient, type DigitalOceanClientOptions } from './api/client';
import { CLOUD_DIR, readCredentials } from './credentials';
import { applySshSources, SSH_FROM_ANYWHERE } from './firewall';
import { parseSshSources } from './sshSourceCidrs';

export { parseSshSources };

const SOURCES_FILE = 'ssh-sources.json';

export function sshSourcesFile(stateRoot: string): string {
  return path.join(stateRoot, CLOUD_DIR, SOURCES_FILE);
}

/** The sources in force: the state dir's choice, SSH from anywhere when none was made. */
export async function readSshSources(stateRoot: string): Promise<string[]> {
  let stored: { sources?: unknown } | undefined;
  try {
    stored = await readJsonFile<{ sources?: unknown }>(sshSourcesFile(stateRoot));
  } catch {
    stored = { sources: 'broken' };
  }
  if (stored === undefined) return [...SSH_FROM_ANYWHERE];
  try {
    if (!Array.isArray(stored.sources) || !stored.sources.every((value) => typeof value === 'string')) throw new Error('not a list');
    return parseSshSources(stored.sources as string[]);
  } catch {
    throw new SandboxError(
      'invalid-input',
      `The SSH sources in ${sshSourcesFile(stateRoot)} are not valid; set them again with \`sandbox cloud ssh-source CIDR...\`.`,
    );
  }
}

export interface SshSourcesResult {
  sources: string[];
  signedIn: boolean;
  /** Names of the firewalls whose inbound rule was replaced (one per firewall, so a duplicate name shows twice). */
  updated: string[];
}

/**
 * Stores `sources` for every process of the state dir, then (signed in) replaces the inbound
 * rule of every firewall of ours that differs. Signed out, the firewalls follow at the next
 * create, or at the next run of this once signed in.
 */
export async function setSshSources(
  stateRoot: string,
  sources: string[],
  options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; fetch?: DigitalOceanClientOptions['fetch'] } = {},
): Promise<SshSourcesResult> {
  await writeFileAtomic(sshSourcesFile(stateRoot), JSON.stringify({ sources }, null, 2) + '\n', 0o600);
  const credentials = await readCredentials(stateRoot, options.env ?? process.env);
  if (!credentials) return { sources, signedIn: false, updated: [] };
  const client = new DigitalOceanClient({ token: credentials.token, baseUrl: credentials.apiUrl, fetch: options.fetch });
  const ownerId = await new StateStore(stateRoot).ownerId();
  const updated = await applySshSources(client, ownerId, sources, options.signal);
  return { sources, signedIn: true, updated: updated.map((firewall) => firewall.name ?? firewall.id ?? '?') };
}

/** The result in a sentence or two, for the CLI and VS Code alike. */
export function describeSshSources(result: SshSourcesResult): string {
  const from = result.sources.join(' ') === SSH_FROM_ANYWHERE.join(' ') ? 'anywhere' : result.sources.join(', ');
  if (!result.signedIn)
    return `SSH to cloud sandboxes will be admitted from ${from}; not signed in to DigitalOcean, so the firewalls follow at the next create or sign-in.`;
  if (result.updated.length === 0) return `SSH to cloud sandboxes is admitted from ${from}; every firewall already said so.`;
  return `SSH to cloud sandboxes is admitted from ${from}; updated ${result.updated.length} firewall(s): ${result.updated.join(', ')}.`;
}
