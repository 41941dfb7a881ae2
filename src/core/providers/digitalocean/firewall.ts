/**
 * One cloud firewall per network policy, attached by tag: inbound SSH only (from the sources the
 * user set), outbound as the policy says. Cloud firewalls only allow, so "everything but private
 * ranges" is written as the public address space, range by range, from the ranges the
 * containers' rules refuse (src/core/network/rules.ts: one list for both). `none` has no
 * outbound rule at all; an allowlist stays under default's firewall and is enforced inside the
 * droplet (dropletAllowlist.ts), as a cloud firewall cannot follow names.
 */
import { SandboxError } from '../../errors';
import { DENIED_RANGES_V4 } from '../../network/rules';
import { parseNetworkPolicy } from '../../network/policy';
import type { DigitalOceanClient, Firewall, NewFirewall } from './api/client';
import { isDigitalOceanError } from './api/errors';
import { ANYWHERE } from './sshSourceCidrs';
import { networkTag, TAG_PREFIX } from './tags';

/** The policies that have a cloud firewall of their own. */
export type FirewallPolicy = 'default' | 'open' | 'none';

/** SSH from anywhere: what the inbound rule admits until the user narrows it. */
export const SSH_FROM_ANYWHERE = ANYWHERE;

/** The firewall a droplet of `network` ends under: an allowlist keeps default's. */
export function firewallPolicyOf(network: string): FirewallPolicy {
  const mode = parseNetworkPolicy(network).mode;
  return mode === 'allow' ? 'default' : mode;
}

/** The IPv4 space minus `blocked`, as the fewest CIDR blocks. */
export function complementV4(blocked: readonly string[]): string[] {
  const ranges = blocked
    .map((cidr) => {
      const [address, bits] = cidr.split('/');
      const start = address!.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
      return [start, start + 2 ** (32 - Number(bits)) - 1] as const;
    })
    .sort((a, b) => a[0] - b[0]);
  const result: string[] = [];
  let next = 0;
  const emit = (from: number, to: number) => {
    while (from <= to) {
      let size = 32;
      while (size > 0) {
        const block = 2 ** (32 - (size - 1));
        if (from % block !== 0 || from + block - 1 > to) break;
        size -= 1;
      }
      result.push(`${[24, 16, 8, 0].map((shift) => Math.floor(from / 2 ** shift) % 256).join('.')}/${size}`);
      from += 2 ** (32 - size);
    }
  };
  for (const [start, end] of ranges) {
    if (start > next) emit(next, start - 1);
    next = Math.max(next, end + 1);
  }
  if (next <= 2 ** 32 - 1) emit(next, 2 ** 32 - 1);
  return result;
}

export function firewallName(ownerId: string, policy: FirewallPolicy): string {
  return `${TAG_PREFIX}-${ownerId}-${policy}`.slice(0, 255);
}

export function firewallSpec(ownerId: string, policy: string, sshSources: string[]): NewFirewall {
  if (policy !== 'default' && policy !== 'open' && policy !== 'none') {
    throw new SandboxError('invalid-input', `The network policy "${policy}" has no cloud firewall of its own; use default, open or none.`);
  }
  const destinations = policy === 'open' ? ['0.0.0.0/0', '::/0'] : complementV4(DENIED_RANGES_V4);
  const outbound =
    policy === 'none' ? [] : (['tcp', 'udp', 'icmp'] as const).map((protocol) => ({ protocol, ports: '0', destinations: { addresses: destinations } }));
  return {
    name: firewallName(ownerId, policy),
    inboundRules: [{ protocol: 'tcp', ports: '22', sources: { addresses: [...sshSources] } }],
    outboundRules: outbound,
    tags: [networkTag(ownerId, policy)],
  };
}

type Rule = { protocol?: string; ports?: string; sources?: { addresses?: string[] }; destinations?: { addresses?: string[] } };

/** A rule list as text that ignores order and DigitalOcean's spelling of "every port" ("0" or "all"). */
function canonicalRules(rules: readonly Rule[] | null | undefined): string {
  return JSON.stringify(
    (rules ?? [])
      .map((rule) => ({
        protocol: rule.protocol,
        ports: rule.ports === 'all' ? '0' : (rule.ports ?? '0'),
        addresses: [...(rule.sources?.addresses ?? rule.destinations?.addresses ?? [])].sort(),
      }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  );
}

/** Whether the firewall's inbound rule admits exactly `sshSources` to port 22. */
export function inboundDiffers(firewall: Firewall, sshSources: string[]): boolean {
  return canonicalRules(firewall.inbound_rules) !== canonicalRules([{ protocol: 'tcp', ports: '22', sources: { addresses: sshSources } }]);
}

/** Whether the firewall is not what `spec` says: its rules, or a tag of the spec it lacks. */
export function firewallDiffers(firewall: Firewall, spec: NewFirewall): boolean {
  return (
    canonicalRules(firewall.inbound_rules) !== canonicalRules(spec.inboundRules) ||
    canonicalRules(firewall.outbound_rules) !== canonicalRules(spec.outboundRules) ||
    spec.tags.some((tag) => !(firewall.tags ?? []).includes(tag))
  );
}

/**
 * Makes the policy's firewall when this account lacks it, and puts right every firewall of that
 * name whose rules or tags differ (ranges or SSH sources changed since it was made). `known` is
 * what this process saw, so a create usually costs no call.
 */
export async function ensureFirewall(client: DigitalOceanClient, spec: NewFirewall, known: Map<string, Firewall>, signal?: AbortSignal): Promise<Firewall> {
  // Creates at once in one process wait for each other, so they make one firewall, not one each.
  const pending = inFlight.get(known) ?? new Map<string, Promise<Firewall>>();
  inFlight.set(known, pending);
  const earlier = pending.get(spec.name);
  if (earlier) await earlier.catch(() => undefined);
  const work = ensureOnce(client, spec, known, signal);
  pending.set(spec.name, work);
  try {
    return await work;
  } finally {
    if (pending.get(spec.name) === work) pending.delete(spec.name);
  }
}

const inFlight = new WeakMap<Map<string, Firewall>, Map<string, Promise<Firewall>>>();

async function ensureOnce(client: DigitalOceanClient, spec: NewFirewall, known: Map<string, Firewall>, signal?: AbortSignal): Promise<Firewall> {
  const seen = known.get(spec.name);
  if (seen && !firewallDiffers(seen, spec)) {
    // Read afresh: a firewall removed or changed elsewhere (the control panel, doctl) must not be
    // trusted from memory as the fence a droplet is about to boot under.
    const fresh = await client.firewall(seen.id!, signal).catch((error: unknown) => {
      if (isDigitalOceanError(error, 'not-found')) return undefined;
      throw error;
    });
    if (fresh && !firewallDiffers(fresh, spec)) {
      known.set(spec.name, fresh);
      return fresh;
    }
    known.delete(spec.name);
  }
  const existing = (await client.firewalls(signal)).filter((firewall) => firewall.name === spec.name);
  let firewall: Firewall | undefined;
  for (const candidate of existing) {
    const current = firewallDiffers(candidate, spec) ? await client.updateFirewall(candidate.id!, spec, signal) : candidate;
    firewall ??= current;
  }
  firewall ??= await client.createFirewall(spec, signal);
  known.set(spec.name, firewall);
  return firewall;
}

/**
 * Sets the inbound rule of every firewall of this owner (duplicates of a name included) to SSH
 * from `sshSources`, keeping its outbound rules and tags; the names of those it changed.
 */
export async function applySshSources(client: DigitalOceanClient, ownerId: string, sshSources: string[], signal?: AbortSignal): Promise<Firewall[]> {
  const ours = (await client.firewalls(signal)).filter((firewall) => firewall.name?.startsWith(`${TAG_PREFIX}-${ownerId}-`));
  const updated: Firewall[] = [];
  for (const firewall of ours) {
    if (!inboundDiffers(firewall, sshSources)) continue;
    updated.push(
      await client.updateFirewall(
        firewall.id!,
        {
          name: firewall.name!,
          inboundRules: [{ protocol: 'tcp', ports: '22', sources: { addresses: [...sshSources] } }],
          outboundRules: firewall.outbound_rules ?? [],
          tags: firewall.tags ?? [],
        },
        signal,
      ),
    );
  }
  return updated;
}
