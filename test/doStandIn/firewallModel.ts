/**
 * A cloud firewall's outbound rules, enforced on a stand-in droplet: nftables rules in the
 * droplet container's own network namespace, set by the test equipment as root over the
 * engine's API (DigitalOcean enforces them outside the droplet; a container has no outside of its
 * own). Stateful as DigitalOcean's: replies to connections made to the droplet (its SSH) pass.
 * Inbound rules are not modelled: the droplet answers only on its loopback address anyway.
 */
import { isIP } from 'node:net';
import type { Firewall } from '../../src/core/providers/digitalocean/api/client';
import { execIn } from '../integration/helpers';

export const FIREWALL_TABLE = 'standin_cloud_firewall';

type OutboundRule = NonNullable<Firewall['outbound_rules']>[number];

/** The union of the outbound rules of the firewalls covering a droplet; undefined when none covers it (nothing filtered). */
export function outboundOf(firewalls: Firewall[], dropletTags: readonly string[], dropletId: number): OutboundRule[] | undefined {
  const covering = firewalls.filter((firewall) => (firewall.tags ?? []).some((tag) => dropletTags.includes(tag)) || firewall.droplet_ids?.includes(dropletId));
  return covering.length === 0 ? undefined : covering.flatMap((firewall) => firewall.outbound_rules ?? []);
}

/** The ruleset for `nft -f`: replaced whole, so setting it again is harmless. */
export function firewallRuleset(outbound: OutboundRule[] | undefined): string {
  const lines = [`table inet ${FIREWALL_TABLE}`, `delete table inet ${FIREWALL_TABLE}`];
  if (outbound === undefined) return lines.join('\n') + '\n';
  lines.push(
    `table inet ${FIREWALL_TABLE} {`,
    '  chain output {',
    '    type filter hook output priority -10; policy drop;',
    '    oif "lo" accept',
    '    ct state established,related accept',
  );
  for (const rule of outbound) {
    const addresses = rule.destinations?.addresses ?? [];
    const protocol = rule.protocol === 'icmp' ? 'meta l4proto icmp' : `meta l4proto ${rule.protocol}`;
    const ports = rule.protocol !== 'icmp' && rule.ports && rule.ports !== '0' && rule.ports !== 'all' ? ` th dport ${rule.ports}` : '';
    const v4 = addresses.filter((address) => isIP(address.split('/')[0]!) === 4);
    const v6 = addresses.filter((address) => isIP(address.split('/')[0]!) === 6);
    if (v4.length > 0) lines.push(`    ${protocol} ip daddr { ${v4.join(', ')} }${ports} accept`);
    if (v6.length > 0) lines.push(`    ${protocol} ip6 daddr { ${v6.join(', ')} }${ports} accept`);
  }
  lines.push('  }', '}');
  return lines.join('\n') + '\n';
}

/** Sets the firewall model in a droplet's container; throws with nft's words when it fails. */
export async function enforceFirewall(containerId: string, outbound: OutboundRule[] | undefined): Promise<void> {
  const result = await execIn(containerId, ['sh', '-c', 'printf "%s" "$0" | nft -f -', firewallRuleset(outbound)]);
  if (result.code !== 0) throw new Error(`the firewall model could not be set: ${result.stderr.trim()}`);
}
