/**
 * The nftables ruleset set inside a sandbox's own network namespace. It filters what the
 * sandbox sends (the output hook), so it holds for every process there, root included, and
 * whatever the protocol: the sandbox has no NET_ADMIN to change it.
 */
import { isIP } from 'node:net';

export const NFT_TABLE = 'agent_sandbox';
export const ALLOWED_SET4 = 'allowed4';
export const ALLOWED_SET6 = 'allowed6';
/** Where Docker's embedded DNS answers inside a container on a user-defined network. */
export const DOCKER_DNS = '127.0.0.11';

/**
 * Never reached under default or an allowlist: unspecified, private (RFC 1918), shared address
 * space (carrier-grade NAT, RFC 6598), loopback, link-local (cloud metadata at 169.254.169.254
 * included), IETF protocol assignments, multicast, reserved and broadcast.
 */
export const DENIED_RANGES_V4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '224.0.0.0/4',
  '240.0.0.0/4',
];

/**
 * The same for IPv6: unspecified and loopback, IPv4-mapped and NAT64 (which lead back to IPv4
 * addresses), unique local (fc00::/7), link-local, the old site-local, multicast.
 */
export const DENIED_RANGES_V6 = ['::/127', '::ffff:0:0/96', '64:ff9b::/96', '64:ff9b:1::/48', 'fc00::/7', 'fe80::/10', 'fec0::/10', 'ff00::/8'];

export interface RulesInput {
  mode: 'default' | 'allow';
  /** Every address of the engine's machine (any interface, IPv4 and IPv6). */
  hostAddresses: string[];
  /** The subnets of the sandboxes' network, so other sandboxes stay out whatever the ranges. */
  subnets: string[];
  /** Name servers Docker's embedded DNS forwards to from inside the namespace: port 53 only. */
  resolvers: string[];
  /** allow: addresses admitted from the start (--add-host entries whose name is allowed). */
  allowedAddresses?: string[];
  /** Only this user may send to the resolvers (a droplet's root-run resolver); anyone when absent. */
  resolverUid?: number;
}

/** The whole ruleset, for `nft -f`: one table, replaced whole, so a second run is harmless. */
export function buildRuleset(input: RulesInput): string {
  const split = (values: string[]) => {
    const clean = [...new Set(values.map((value) => value.replace(/%.*$/, '').toLowerCase()))];
    return {
      v4: clean.filter((value) => isIP(value.split('/')[0]!) === 4),
      v6: clean.filter((value) => isIP(value.split('/')[0]!) === 6),
    };
  };
  const hosts = split([...input.hostAddresses, ...input.subnets]);
  const resolvers = split(input.resolvers);
  const allowed = split(input.allowedAddresses ?? []);
  const elements = (values: string[]) => (values.length > 0 ? ` elements = { ${values.join(', ')} };` : '');
  const set = (name: string, type: 'ipv4_addr' | 'ipv6_addr', values: string[], interval: boolean) =>
    `  set ${name} { type ${type};${interval ? ' flags interval; auto-merge;' : ''}${elements(values)} }`;

  const owner = input.resolverUid === undefined ? '' : `meta skuid ${Math.trunc(input.resolverUid)} `;
  const lines = [
    `table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    set('denied4', 'ipv4_addr', [...DENIED_RANGES_V4, ...hosts.v4], true),
    set('denied6', 'ipv6_addr', [...DENIED_RANGES_V6, ...hosts.v6], true),
    set('resolvers4', 'ipv4_addr', resolvers.v4, false),
    set('resolvers6', 'ipv6_addr', resolvers.v6, false),
  ];
  if (input.mode === 'allow') {
    lines.push(set(ALLOWED_SET4, 'ipv4_addr', allowed.v4, false), set(ALLOWED_SET6, 'ipv6_addr', allowed.v6, false));
  }
  lines.push(
    '  chain refuse {',
    // A refusal, not a silent drop: connections fail at once instead of timing out.
    '    meta l4proto tcp reject with tcp reset',
    '    reject with icmpx type admin-prohibited',
    '  }',
    '  chain output {',
    `    type filter hook output priority filter; policy accept;`,
    '    oif "lo" accept',
    // Replies on connections made to the sandbox (its sshd, reached from the bridge gateway).
    // Only replies: a connection the sandbox opened before the rules were in (its init can be
    // the sandbox's own once root there rewrote it) is judged again by every packet it sends.
    '    ct state established,related ct direction reply accept',
    `    ${owner}meta l4proto { tcp, udp } th dport 53 ip daddr @resolvers4 accept`,
    `    ${owner}meta l4proto { tcp, udp } th dport 53 ip6 daddr @resolvers6 accept`,
    '    ip daddr @denied4 jump refuse',
    '    ip6 daddr @denied6 jump refuse',
  );
  if (input.mode === 'allow') {
    lines.push(`    ip daddr @${ALLOWED_SET4} accept`, `    ip6 daddr @${ALLOWED_SET6} accept`, '    jump refuse');
  }
  lines.push('  }');
  if (input.mode === 'allow') {
    // Every lookup through Docker's DNS address goes to the allowlist's resolver instead
    // (before Docker's own redirect, at -100), which answers allowed names only.
    lines.push(
      '  chain resolver {',
      '    type nat hook output priority -110; policy accept;',
      `    ip daddr ${DOCKER_DNS} meta l4proto { tcp, udp } th dport 53 redirect to :53`,
      '  }',
    );
  }
  lines.push('}', '');
  return lines.join('\n');
}
