/**
 * One cloud firewall per network policy, attached by tag: inbound SSH only (from a CIDR the user
 * may set), outbound as the policy says. Cloud firewalls only allow, so "everything but private
 * ranges" is written as the public address space, range by range.
 */
import { SandboxError } from '../../errors';
import type { DigitalOceanClient, Firewall, NewFirewall } from './api/client';
import { networkTag, TAG_PREFIX } from './tags';

/** Addresses a default-policy sandbox may not reach: private, shared, link-local, loopback, multicast and reserved ranges. */
const BLOCKED_V4 = ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/3'];

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

export function firewallSpec(ownerId: string, policy: string, sshSources: string[]): NewFirewall {
  const everywhere = ['0.0.0.0/0', '::/0'];
  let destinations: string[];
  if (policy === 'open') destinations = everywhere;
  else if (policy === 'default') destinations = complementV4(BLOCKED_V4);
  else throw new SandboxError('invalid-input', `The network policy "${policy}" is not available on DigitalOcean; use default or open.`);
  const outbound = (['tcp', 'udp'] as const).map((protocol) => ({ protocol, ports: '0', destinations: { addresses: destinations } }));
  return {
    name: `${TAG_PREFIX}-${ownerId}-${policy}`.slice(0, 255),
    inboundRules: [{ protocol: 'tcp', ports: '22', sources: { addresses: sshSources } }],
    outboundRules: [...outbound, { protocol: 'icmp', ports: '0', destinations: { addresses: destinations } }],
    tags: [networkTag(ownerId, policy)],
  };
}

/** Makes the policy's firewall when this account lacks it; `known` is what this process saw, so a create usually costs no call. */
export async function ensureFirewall(client: DigitalOceanClient, spec: NewFirewall, known: Map<string, Firewall>, signal?: AbortSignal): Promise<Firewall> {
  const seen = known.get(spec.name);
  if (seen) return seen;
  const existing = (await client.firewalls(signal)).find((firewall) => firewall.name === spec.name);
  const firewall = existing ?? (await client.createFirewall(spec, signal));
  known.set(spec.name, firewall);
  return firewall;
}
