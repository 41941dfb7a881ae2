/**
 * A sandbox's network policy, as a profile carries it: who the sandbox may open connections to.
 * Pure parsing and wording; src/core/network/rules.ts turns a policy into firewall rules.
 */
import { isIP } from 'node:net';
import { SandboxError } from '../errors';

/**
 * default: the internet, but not this machine, other sandboxes, private or link-local ranges.
 * open: everything the engine's bridge reaches (the behaviour before policies existed).
 * none: no network at all; reached only through the engine's exec.
 * allow: only the addresses the listed domains resolve to (never private, link-local or ours).
 */
export type NetworkPolicy = { mode: 'default' } | { mode: 'open' } | { mode: 'none' } | { mode: 'allow'; domains: string[] };

export const NETWORK_MODES = ['default', 'open', 'none', 'allow:DOMAIN,...'] as const;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** `example.com` or `*.example.com` (the same thing: a domain admits itself and every name under it). */
export function normalizeDomain(text: string): string {
  const lower = text.trim().toLowerCase().replace(/\.$/, '');
  const bare = lower.startsWith('*.') ? lower.slice(2) : lower;
  const labels = bare.split('.');
  if (bare.length > 253 || labels.length < 2 || !labels.every((label) => LABEL.test(label)) || isIP(bare) !== 0) {
    throw new SandboxError('invalid-input', `"${text}" is not a domain to allow; write one like example.com or *.pypi.org.`);
  }
  return lower;
}

/** The domain as the resolver matches it: without a leading `*.`. */
export function domainRoot(domain: string): string {
  return domain.startsWith('*.') ? domain.slice(2) : domain;
}

/** Parses what `--network` takes (and a profile stores): default, open, none, allow:a.com,*.b.org. */
export function parseNetworkPolicy(text: string | undefined): NetworkPolicy {
  const value = (text ?? 'default').trim();
  if (value === 'default' || value === 'open' || value === 'none') return { mode: value };
  if (value.startsWith('allow:')) {
    const domains = [
      ...new Set(
        value
          .slice('allow:'.length)
          .split(',')
          .filter((part) => part.trim() !== '')
          .map(normalizeDomain),
      ),
    ];
    if (domains.length === 0) throw new SandboxError('invalid-input', 'The allowlist is empty; give domains like --network allow:example.com,*.pypi.org.');
    return { mode: 'allow', domains };
  }
  throw new SandboxError(
    'invalid-input',
    `The network policy "${text}" is not one of default, open, none or allow:DOMAIN,...; for example --network allow:pypi.org.`,
  );
}

/** The profile's text for a policy. */
export function formatNetworkPolicy(policy: NetworkPolicy): string {
  return policy.mode === 'allow' ? `allow:${policy.domains.join(',')}` : policy.mode;
}

/**
 * The profile value from the CLI's `--network` and repeated `--allow-domain`: the two spellings
 * of an allowlist merge; `--allow-domain` with another mode is refused.
 */
export function networkFromOptions(network: string | undefined, allowDomains: string[] = []): string | undefined {
  if (allowDomains.length === 0) return network === undefined ? undefined : formatNetworkPolicy(parseNetworkPolicy(network));
  const base = network === undefined ? undefined : parseNetworkPolicy(network);
  if (base && base.mode !== 'allow') {
    throw new SandboxError('invalid-input', `--allow-domain makes an allowlist, and --network ${base.mode} is not one; leave out one of them.`);
  }
  return formatNetworkPolicy(parseNetworkPolicy(`allow:${[...(base?.mode === 'allow' ? base.domains : []), ...allowDomains].join(',')}`));
}

/** One `--add-host NAME:ADDR` entry, as docker's: a host name and an IPv4 or IPv6 address. */
export interface HostEntry {
  name: string;
  address: string;
}

export function parseHostEntry(text: string): HostEntry {
  const colon = text.indexOf(':');
  const name = text.slice(0, colon).trim().toLowerCase();
  const address = text
    .slice(colon + 1)
    .trim()
    .replace(/^\[(.*)\]$/, '$1');
  const labels = name.split('.');
  if (colon <= 0 || name.length > 253 || !labels.every((label) => LABEL.test(label)) || isIP(address) === 0) {
    throw new SandboxError('invalid-input', `"${text}" is not a host entry; write NAME:ADDRESS, like db.test:198.51.100.7.`);
  }
  return { name, address };
}

export function formatHostEntry(entry: HostEntry): string {
  return `${entry.name}:${entry.address}`;
}

/** Whether `name` is covered by the allowlist: one of its domains or a name under one. */
export function isAllowedName(name: string, domains: string[]): boolean {
  const lower = name.toLowerCase().replace(/\.$/, '');
  return domains.some((domain) => {
    const root = domainRoot(domain);
    return lower === root || lower.endsWith(`.${root}`);
  });
}

/** What `status` and the tree say about the policy, in a few words. */
export function describeNetworkPolicy(text: string | undefined, cloudMachine = false): string {
  const policy = parseNetworkPolicy(text);
  switch (policy.mode) {
    case 'default':
      return 'default (the internet; not this machine, other sandboxes, private or link-local addresses)';
    case 'open':
      return 'open (not filtered: reaches this machine and the local network)';
    case 'none':
      // A cloud machine's firewall still admits SSH, which carries its commands.
      return cloudMachine ? 'none (sends nothing out; reached over SSH only)' : 'none (no network; commands through the engine only)';
    case 'allow':
      return `allow ${policy.domains.join(', ')} (nothing else)`;
  }
}

/**
 * Whether a sandbox has no way in over SSH: a container made with `--network none` has no
 * interface. A cloud machine's `none` closes only what it sends (its firewall still admits SSH).
 */
export function lacksSsh(record: { provider?: string; profile: { network?: string } }, cloud: (kind: string | undefined) => boolean): boolean {
  return record.profile.network === 'none' && !cloud(record.provider);
}

/** What SSH, forwards, desktops and attach say about a sandbox made with `--network none`. */
export function noNetworkError(name: string): SandboxError {
  return new SandboxError(
    'wrong-state',
    `${name} has no network (--network none), so SSH, forwarded ports, its desktop and Attach VS Code are unavailable for it; run commands with \`sandbox exec ${name} -- CMD\`.`,
  );
}

/** The warning `--network open` earns, said once when such a sandbox is made. */
export const OPEN_NETWORK_WARNING =
  'Warning: --network open turns the network policy off: this sandbox can reach services on this machine (its own and the bridge addresses) and the local network.';
