/**
 * What a droplet's user data carries for its network policy beyond the cloud firewall:
 * `--add-host` entries in /etc/hosts at every boot (every policy), and for an allowlist the
 * containers' own nftables ruleset (src/core/network/rules.ts) plus a dnsmasq that answers
 * allowed names only and adds their addresses to the allowed sets, as the containers' resolver
 * does. A cloud firewall cannot follow names, so the allowlist holds inside the droplet, set by
 * root at every boot; only root may send to the upstream resolvers (dnsmasq runs as root), and
 * the agent has no sudo (refused with an allowlist), so it cannot lift the rules.
 */
import { isIP } from 'node:net';
import { SandboxError } from '../../errors';
import type { CloudOs, Profile } from '../../model';
import { domainRoot, isAllowedName, parseHostEntry, parseNetworkPolicy, type HostEntry } from '../../network/policy';
import { ALLOWED_SET4, ALLOWED_SET6, NFT_TABLE, buildRuleset } from '../../network/rules';
import type { UserDataFile } from './userData';

export const NETWORK_DIR = '/etc/agent-sandboxes';
export const NETWORK_SCRIPT = '/usr/local/sbin/sandbox-network';
export const HOSTS_SCRIPT = '/usr/local/sbin/sandbox-hosts';
/** Written by NETWORK_SCRIPT once the rules and the resolver are in; on /run, so gone at every boot. */
export const NETWORK_READY = '/run/sandbox-network/ready';

/** The user data's share of a network policy: files, shell commands at every boot (bootcmd) and at the first (runcmd). */
export interface DropletNetworkUserData {
  files: UserDataFile[];
  bootcmd: string[];
  runcmd: string[];
}

const HOST_NAME = /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/;

/** The lines our block of /etc/hosts holds; throws on anything but a host name and an IP address (nothing else reaches a root script). */
export function hostsLines(entries: readonly HostEntry[]): string {
  return entries
    .map((entry) => {
      if (!HOST_NAME.test(entry.name) || entry.name.length > 253 || isIP(entry.address) === 0) {
        throw new SandboxError('invalid-input', `"${entry.name}:${entry.address}" is not a host entry; write NAME:ADDRESS, like db.test:198.51.100.7.`);
      }
      return `${entry.address} ${entry.name}\n`;
    })
    .join('');
}

/** Replaces our marked block of /etc/hosts with the entries file, at every boot (cloud-init may rewrite /etc/hosts at boot). */
export const HOSTS_SCRIPT_TEXT = `#!/bin/sh
# Puts the sandbox's --add-host entries (${NETWORK_DIR}/hosts) into /etc/hosts between our marks.
set -eu
begin='# agent-sandboxes hosts begin'
end='# agent-sandboxes hosts end'
next=$(mktemp /etc/.hosts.XXXXXX)
trap 'rm -f "$next"' EXIT
sed "/^$begin\\$/,/^$end\\$/d" /etc/hosts > "$next"
{ echo "$begin"; cat ${NETWORK_DIR}/hosts; echo "$end"; } >> "$next"
chmod 0644 "$next"
# In place: /etc/hosts may be a mount point (a container's), which a rename cannot replace.
cat "$next" > /etc/hosts
`;

/**
 * Sets the allowlist: the ruleset, the upstream resolvers (root only), dnsmasq as root on
 * 127.0.0.1, /etc/resolv.conf pointing at it, then the ready marker. Any failure leaves a
 * ruleset that lets nothing out but replies, so a droplet is never unfiltered by mistake.
 */
export const NETWORK_SCRIPT_TEXT = `#!/bin/sh
set -u
umask 022
ready=${NETWORK_READY}
rm -f "$ready"
fail() {
  echo "sandbox-network: $1" >&2
  printf '%s\\n' 'table inet ${NFT_TABLE}' 'delete table inet ${NFT_TABLE}' \\
    'table inet ${NFT_TABLE} { chain output { type filter hook output priority filter; policy drop; oif "lo" accept; ct state established,related ct direction reply accept; } }' | nft -f - || true
  exit 1
}
command -v nft > /dev/null || fail "nft is not installed"
command -v dnsmasq > /dev/null || fail "dnsmasq is not installed"
dnsmasq --version | grep -q ' nftset' || fail "this dnsmasq cannot fill nftables sets (2.87 or later is needed)"
upstream=""
for file in /run/systemd/resolve/resolv.conf /etc/resolv.conf; do
  [ -f "$file" ] || continue
  upstream=$(awk '$1 == "nameserver" && $2 !~ /^127\\./ && $2 != "::1" { print $2 }' "$file")
  [ -z "$upstream" ] || break
done
# Once resolv.conf names our resolver, the upstream servers are the ones seen at the first run.
if [ -n "$upstream" ]; then echo "$upstream" > ${NETWORK_DIR}/upstream; else upstream=$(cat ${NETWORK_DIR}/upstream 2> /dev/null || true); fi
[ -n "$upstream" ] || fail "no upstream name server found"
nft -f ${NETWORK_DIR}/network.nft || fail "the rules did not load"
set --
for server in $upstream; do
  case "$server" in *:*) set=resolvers6 ;; *) set=resolvers4 ;; esac
  nft add element inet ${NFT_TABLE} "$set" "{ $server }" || fail "the resolver $server could not be admitted"
  for domain in $(cat ${NETWORK_DIR}/allow); do set -- "$@" "--server=/$domain/$server"; done
done
for domain in $(cat ${NETWORK_DIR}/allow); do
  set -- "$@" "--nftset=/$domain/4#inet#${NFT_TABLE}#${ALLOWED_SET4},6#inet#${NFT_TABLE}#${ALLOWED_SET6}"
done
for record in $(cat ${NETWORK_DIR}/host-records); do set -- "$@" "--host-record=$record"; done
set -- --user=root --group=root --no-resolv --no-hosts --no-poll --listen-address=127.0.0.1 --bind-interfaces --port=53 --cache-size=1000 "$@"
if [ -d /run/systemd/system ]; then
  systemctl stop sandbox-resolver.service 2> /dev/null || true
  systemd-run --unit=sandbox-resolver --collect -p Restart=always dnsmasq --keep-in-foreground --pid-file= "$@" > /dev/null || fail "the resolver did not start"
else
  [ -f /run/sandbox-resolver.pid ] && kill "$(cat /run/sandbox-resolver.pid)" 2> /dev/null && sleep 0.2
  dnsmasq --pid-file=/run/sandbox-resolver.pid "$@" || fail "the resolver did not start"
fi
tries=0
until grep -q ' 0100007F:0035 ' /proc/net/udp; do
  tries=$((tries + 1))
  [ "$tries" -lt 100 ] || fail "the resolver does not answer"
  sleep 0.1
done
# In place when it is a file (a container's is a mount point); a link (systemd-resolved's) is replaced.
[ -L /etc/resolv.conf ] && rm -f /etc/resolv.conf
printf 'nameserver 127.0.0.1\\noptions edns0 trust-ad\\n' > /etc/resolv.conf
install -d -m 0755 "$(dirname "$ready")"
: > "$ready"
`;

/** Runs a root script at every boot once it exists (bootcmd runs before write_files at the first boot). */
function atEveryBoot(script: string): string {
  return `[ ! -x ${script} ] || ${script}`;
}

/** The user data's share of the profile's network policy; nothing when there is neither an allowlist nor a host entry. */
export function dropletNetworkUserData(profile: Pick<Profile, 'network' | 'hosts' | 'sudo'>): DropletNetworkUserData {
  const policy = parseNetworkPolicy(profile.network);
  const entries = (profile.hosts ?? []).map(parseHostEntry);
  const result: DropletNetworkUserData = { files: [], bootcmd: [], runcmd: [] };
  if (entries.length > 0) {
    result.files.push(
      { path: `${NETWORK_DIR}/hosts`, permissions: '0644', content: hostsLines(entries) },
      { path: HOSTS_SCRIPT, permissions: '0755', content: HOSTS_SCRIPT_TEXT },
      // After cloud-init's own /etc/hosts (update_etc_hosts runs after bootcmd), at every boot.
      { path: '/var/lib/cloud/scripts/per-boot/10-sandbox-hosts', permissions: '0755', content: `#!/bin/sh\nexec ${HOSTS_SCRIPT}\n` },
    );
    result.bootcmd.push(atEveryBoot(HOSTS_SCRIPT));
  }
  if (policy.mode !== 'allow') return result;
  if (profile.sudo) {
    throw new SandboxError(
      'invalid-input',
      'An allowlist on a DigitalOcean sandbox holds only without sudo (root could lift it); leave out --sudo or the allowlist.',
    );
  }
  const allowed = entries.filter((entry) => isAllowedName(entry.name, policy.domains));
  const ruleset = buildRuleset({
    mode: 'allow',
    hostAddresses: [],
    subnets: [],
    resolvers: [],
    allowedAddresses: allowed.map((entry) => entry.address),
    resolverUid: 0,
  });
  result.files.push(
    { path: `${NETWORK_DIR}/network.nft`, permissions: '0644', content: ruleset },
    { path: `${NETWORK_DIR}/allow`, permissions: '0644', content: policy.domains.map(domainRoot).join('\n') + '\n' },
    { path: `${NETWORK_DIR}/host-records`, permissions: '0644', content: entries.map((entry) => `${entry.name},${entry.address}\n`).join('') },
    { path: NETWORK_SCRIPT, permissions: '0755', content: NETWORK_SCRIPT_TEXT },
  );
  result.bootcmd.push(atEveryBoot(NETWORK_SCRIPT));
  // The first boot: after install-packages (which needs the mirrors, and brings nft and dnsmasq).
  result.runcmd.push(NETWORK_SCRIPT);
  return result;
}

/** Ubuntu 22.04's dnsmasq cannot fill nftables sets, so an allowlist there would never come up: refused before anything is made. */
export function checkAllowlistOs(os: CloudOs, network: string): void {
  if (os === 'ubuntu-22-04' && parseNetworkPolicy(network).mode === 'allow') {
    throw new SandboxError(
      'invalid-input',
      "An allowlist on DigitalOcean needs Ubuntu 24.04 (22.04's dnsmasq cannot fill the allowed address sets); leave out --os ubuntu-22-04 or the allowlist.",
    );
  }
}
