/**
 * What must hold each time a droplet of ours boots again from a disk the agent wrote on (a
 * restore from its hibernation snapshot, a power-on): it is under its final firewall from the
 * first moment, and an allowlist's rules are in (their marker, written by root at every boot).
 * A restore installs nothing, so it never needs the package mirror a `none` firewall shuts out.
 */
import { SandboxError, describeError } from '../../errors';
import type { Profile } from '../../model';
import { targetFor, type SshSession, type SshTarget } from '../../ssh/session';
import type { StateStore } from '../../store/stateStore';
import type { ProviderSandbox } from '../provider';
import type { DigitalOceanClient } from './api/client';
import { isDigitalOceanError } from './api/errors';
import { NETWORK_READY } from './dropletAllowlist';
import { hasAllowlistMarker, type DropletFirewalls } from './dropletNetwork';
import { connectWhenUp, type BootTiming } from './droplets';

/** Makes (or puts right) a policy's firewalls before a droplet boots under them. */
export type FirewallPreparer = (network: string, signal?: AbortSignal) => Promise<DropletFirewalls>;

export function isAllowlist(profile: Pick<Profile, 'network'>): boolean {
  return (profile.network ?? '').startsWith('allow:');
}

/** Why the droplet's final firewall does not hold, read afresh; undefined when it does. */
export async function firewallProblem(
  client: Pick<DigitalOceanClient, 'firewall'>,
  firewalls: DropletFirewalls,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const { final, finalTag } = firewalls;
  try {
    const fresh = await client.firewall(final.id!, signal);
    return (fresh.tags ?? []).includes(finalTag) ? undefined : `its firewall ${final.name} no longer covers the tag ${finalTag}`;
  } catch (error) {
    if (isDigitalOceanError(error, 'not-found')) return `its firewall ${final.name} is gone from DigitalOcean`;
    throw error;
  }
}

/**
 * Connects with the pinned key (the droplet must be who it was) and says why an allowlist's
 * rules are not in, if they are not; undefined when all holds.
 */
export async function allowlistProblem(
  target: SshTarget,
  profile: Pick<Profile, 'network'>,
  options: { user: string; timing: BootTiming; signal?: AbortSignal },
): Promise<string | undefined> {
  let session: SshSession | undefined;
  try {
    session = await connectWhenUp(target, options.timing, options.signal);
    if (!isAllowlist(profile)) return undefined;
    if (await hasAllowlistMarker(session, options.user, options.signal)) return undefined;
    return `its allowlist's rules were not in place at boot (no ${NETWORK_READY})`;
  } catch (error) {
    // A check cut off (Ctrl-C) or that could not connect proves nothing: the droplet counts as unchecked.
    if (options.signal?.aborted) return 'its check was cancelled';
    return `it could not be checked over SSH (${describeError(error)})`;
  } finally {
    session?.close();
  }
}

/**
 * After a power-on: an allowlisted droplet must show its rules' marker (root writes it at every
 * boot), else it is powered off again, which stops what the agent left to run, and the error
 * says so. Other policies' droplets are fenced by their cloud firewall alone.
 */
export async function checkPoweredOn(
  sandbox: ProviderSandbox,
  options: { store: StateStore; timing: BootTiming; powerOff: () => Promise<void>; signal?: AbortSignal },
): Promise<void> {
  if (!isAllowlist(sandbox.profile) || !sandbox.ssh) return;
  const { privateKey } = await options.store.clientKey(sandbox.id);
  const target = targetFor(sandbox.name, sandbox.ssh, { privateKey });
  const problem = await allowlistProblem(target, sandbox.profile, { user: sandbox.user, timing: options.timing, signal: options.signal });
  if (!problem) return;
  const poweredOff = await options.powerOff().then(
    () => true,
    () => false,
  );
  if (!poweredOff) {
    throw new SandboxError(
      'provider-error',
      `${sandbox.name} is running without a checked allowlist (${problem}) and could not be powered off; remove it with \`sandbox rm ${sandbox.name}\`.`,
    );
  }
  throw new SandboxError(
    'provider-error',
    `${sandbox.name} was powered off again because ${problem}; start it again, or remove it with \`sandbox rm ${sandbox.name}\`.`,
  );
}
