/**
 * What the rules must know of the engine's machine: its own addresses (a sandbox must reach
 * none of them) and the name servers Docker's embedded DNS forwards to (reached from inside the
 * sandbox's namespace, so let through on port 53).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import * as os from 'node:os';

export interface EngineHostFacts {
  addresses: string[];
  resolvers: string[];
}

/** This machine's, for a local engine: every interface's addresses, and the resolvers Docker reads. */
export function localHostFacts(): EngineHostFacts {
  const addresses = Object.values(os.networkInterfaces()).flatMap((entries) => (entries ?? []).map((entry) => entry.address));
  const files = ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf'].map((file) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  });
  return { addresses: unique(addresses), resolvers: unique(files.flatMap(parseNameservers)) };
}

/**
 * Run in a container on the engine host's network (a remote engine): its local routes (IPv4
 * addresses of every interface), its IPv6 addresses and the resolv.conf Docker made from the host's.
 */
export const HOST_PROBE_SCRIPT = 'cat /proc/net/fib_trie; echo @@; cat /proc/net/if_inet6; echo @@; cat /etc/resolv.conf';

export function parseHostProbe(output: string): EngineHostFacts {
  const [fibTrie = '', inet6 = '', resolvConf = ''] = output.split('\n@@\n');
  const addresses: string[] = [];
  // fib_trie lists each local address as "|-- A.B.C.D" followed by "/32 host LOCAL".
  const lines = fibTrie.split('\n');
  lines.forEach((line, index) => {
    const match = /\|--\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (match && /\/32 host LOCAL/.test(lines[index + 1] ?? '')) addresses.push(match[1]!);
  });
  for (const line of inet6.split('\n')) {
    const hex = line.trim().split(/\s+/)[0] ?? '';
    if (/^[0-9a-f]{32}$/i.test(hex))
      addresses.push(
        hex
          .match(/.{4}/g)!
          .join(':')
          .replace(/\b0{1,3}(?=[0-9a-f])/gi, ''),
      );
  }
  return { addresses: unique(addresses), resolvers: unique(parseNameservers(resolvConf)) };
}

/** Name servers of a resolv.conf, leaving out loopback ones (Docker queries those from the host's side). */
export function parseNameservers(text: string): string[] {
  const servers: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    const address = match?.[1]?.replace(/%.*$/, '');
    if (!address || isIP(address) === 0) continue;
    if (address.startsWith('127.') || address === '::1') continue;
    servers.push(address);
  }
  return servers;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
