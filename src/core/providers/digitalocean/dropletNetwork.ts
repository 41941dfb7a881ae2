/**
 * A droplet's network policy through its create. Cloud firewalls are attached by tag: a droplet
 * boots under the tag of its boot firewall (default's for `none`, so cloud-init reaches the
 * package mirror) and, after its first connection, moves to its final one: the new tag first,
 * then the old one off, so it is never under neither. Before the create returns, the final
 * firewall is read afresh and must name the droplet's tag (fail closed), and an allowlist's
 * ready marker must be there; otherwise the droplet goes and the error says why.
 */
import { SandboxError, describeError } from '../../errors';
import type { SshSession } from '../../ssh/session';
import { sshExec } from '../../transport/sshExec';
import type { DigitalOceanClient, Firewall } from './api/client';
import { isDigitalOceanError } from './api/errors';
import { NETWORK_READY } from './dropletAllowlist';
import { ensureFirewall, firewallPolicyOf, firewallSpec, type FirewallPolicy } from './firewall';
import { networkTag } from './tags';

export interface DropletFirewalls {
  /** The tag the droplet is created with. */
  bootTag: string;
  /** The tag it ends under, and that tag's firewall. */
  finalTag: string;
  final: Firewall;
}

/** The firewall a droplet of `network` boots under: default's for `none` (cloud-init needs the mirror). */
export function bootPolicyOf(network: string): FirewallPolicy {
  const final = firewallPolicyOf(network);
  return final === 'none' ? 'default' : final;
}

/** The tag a droplet of `network` is created with (also what a restore, whose image has its packages, may use). */
export function bootTagOf(ownerId: string, network: string): string {
  return networkTag(ownerId, bootPolicyOf(network));
}

/** Makes (or puts right) the boot and the final firewall of `network` before the droplet exists. */
export async function prepareFirewalls(
  client: DigitalOceanClient,
  ownerId: string,
  network: string,
  sshSources: string[],
  known: Map<string, Firewall>,
  signal?: AbortSignal,
): Promise<DropletFirewalls> {
  const bootPolicy = bootPolicyOf(network);
  const finalPolicy = firewallPolicyOf(network);
  // Most policies boot under their final firewall: made (and read afresh) once, not twice.
  if (bootPolicy !== finalPolicy) await ensureFirewall(client, firewallSpec(ownerId, bootPolicy, sshSources), known, signal);
  const final = await ensureFirewall(client, firewallSpec(ownerId, finalPolicy, sshSources), known, signal);
  return { bootTag: networkTag(ownerId, bootPolicy), finalTag: networkTag(ownerId, finalPolicy), final };
}

/** Moves a droplet from one firewall's tag to another's: tagged with the new one before the old one comes off. */
export async function moveTag(
  client: Pick<DigitalOceanClient, 'createTag' | 'tagDroplet' | 'untagDroplet'>,
  dropletId: number,
  from: string,
  to: string,
  signal?: AbortSignal,
) {
  if (from === to) return;
  // Tagging needs the tag to exist; making one that exists succeeds.
  await client.createTag(to, signal);
  await client.tagDroplet(to, dropletId, signal);
  await client.untagDroplet(from, dropletId, signal);
}

/** Fails unless the firewall, read afresh, exists and is attached to `tag`; the error says which. */
export async function confirmFirewall(client: Pick<DigitalOceanClient, 'firewall'>, firewall: Firewall, tag: string, name: string, signal?: AbortSignal) {
  let fresh: Firewall | undefined;
  try {
    fresh = await client.firewall(firewall.id!, signal);
  } catch (error) {
    if (!isDigitalOceanError(error, 'not-found')) throw error;
  }
  if (!fresh) throw new SandboxError('provider-error', `The firewall ${firewall.name} of ${name} is gone from DigitalOcean`);
  if (!(fresh.tags ?? []).includes(tag)) throw new SandboxError('provider-error', `The firewall ${fresh.name} no longer covers the tag ${tag}`);
}

/** Whether the allowlist's ready marker is there, asked over the droplet's SSH connection as its user. */
export async function hasAllowlistMarker(session: SshSession, user: string, signal?: AbortSignal): Promise<boolean> {
  const result = await sshExec(session, { command: ['test', '-f', NETWORK_READY], signal, timeoutMs: 60_000 }, { loginUser: user, cwd: '/' });
  return result.exitCode === 0;
}

/** Over the first connection: the allowlist's rules are in (the user data writes the marker once they are). */
export async function checkAllowlistReady(session: SshSession, name: string, user: string, signal?: AbortSignal): Promise<void> {
  if (!(await hasAllowlistMarker(session, user, signal))) {
    throw new SandboxError('provider-error', `The allowlist of ${name} was not in place after its first boot (no ${NETWORK_READY}); create it again.`);
  }
}

/**
 * After the first connection: the droplet moves to its final tag, and that firewall is read
 * afresh. On any failure the droplet is removed (`remove`) and the error says why.
 */
export async function settleDropletNetwork(options: {
  client: DigitalOceanClient;
  dropletId: number;
  name: string;
  firewalls: DropletFirewalls;
  remove: () => Promise<void>;
  signal?: AbortSignal;
}): Promise<void> {
  const { client, dropletId, name, firewalls, signal } = options;
  try {
    await moveTag(client, dropletId, firewalls.bootTag, firewalls.finalTag, signal);
    await confirmFirewall(client, firewalls.final, firewalls.finalTag, name, signal);
  } catch (error) {
    const why = error instanceof SandboxError ? error.message : `${name} could not be put under its firewall (${describeError(error)})`;
    const removed = await removeAfterFailure(options.remove);
    throw new SandboxError(
      'provider-error',
      removed ? `${why}, so ${name} was removed; create it again.` : `${why}, and ${name} could not be removed yet; \`sandbox rm ${name}\` removes it.`,
    );
  }
}

/** Removes a droplet whose create failed; whether that worked (if not, the caller's cleanup by tag tries again). */
export async function removeAfterFailure(remove: () => Promise<void>): Promise<boolean> {
  return remove().then(
    () => true,
    () => false,
  );
}
