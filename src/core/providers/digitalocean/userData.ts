/**
 * The cloud-init user data a droplet boots from. Dockerfiles do not run on droplets, so what the
 * container recipes install comes from the same script (images/sandbox/install-packages) and the
 * same sshd settings (images/sandbox/sshd-sandbox.conf), carried in the user data.
 *
 * User data is readable inside the droplet at the metadata address: the first boot step blocks
 * that address for every user but root, and the host key it carries is replaced right after the
 * first connection (sandbox-rekey, allowed to the agent once through sudo), so it is worthless.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { findRecipeDir } from '../../images/recipe';
import { desktopRunCommand, dropletDesktopFiles } from './dropletDesktop';
import type { DropletNetworkUserData } from './dropletAllowlist';

export const METADATA_ADDRESS = '169.254.169.254';
export const REKEY_COMMAND = '/usr/local/sbin/sandbox-rekey';
const REKEY_SUDOERS = '/etc/sudoers.d/sandbox-rekey';

/** A file cloud-init writes (write_files), root-owned. */
export interface UserDataFile {
  path: string;
  permissions: string;
  content: string;
}

export interface DropletUserDataInput {
  user: string;
  workdir: string;
  /** The sandbox's client key (public half): the only login. */
  authorizedKey: string;
  /** The host key pinned before the first connection; replaced after it. Absent when restoring a snapshot, which keeps its own. */
  hostKey?: { privateKey: string; publicKey: string };
  sudo: boolean;
  /** Package groups of install-packages: base and docker, desktop when the profile asks. */
  packages: string[];
  /** The desktop's size (WIDTHxHEIGHT) when the profile asks for one: its start files, and its start after the packages. */
  desktop?: string;
  /** The network policy's files and commands (dropletAllowlist.ts): host entries, an allowlist. */
  network?: DropletNetworkUserData;
}

/** Replaces the host key with the one on stdin, reloads sshd, and takes its own sudo rule away: it runs once. */
export const REKEY_SCRIPT = `#!/bin/sh
# Installs the SSH host key given on stdin (sent by the sandbox's creator over its authenticated
# connection), so the key that travelled in the user data is worthless; then removes its own sudo rule.
set -eu
umask 077
# boot-finished is cloud-init's last write; asking cloud-init itself costs a Python start.
[ -f /var/lib/cloud/instance/boot-finished ] || cloud-init status --wait > /dev/null 2>&1 || true
new=$(mktemp /etc/ssh/.rekey.XXXXXX)
trap 'rm -f "$new" "$new.pub"' EXIT
head -c 8192 > "$new"
ssh-keygen -y -f "$new" > "$new.pub"
chmod 0600 "$new"
chmod 0644 "$new.pub"
mv -f "$new.pub" /etc/ssh/ssh_host_ed25519_key.pub
mv -f "$new" /etc/ssh/ssh_host_ed25519_key
rm -f ${REKEY_SUDOERS}
# New connections get the new key; this one (and any other) goes on.
if [ -d /run/systemd/system ]; then
  systemctl reload ssh 2> /dev/null || systemctl reload sshd
else
  kill -HUP "$(cat /run/sshd.pid)"
fi
cat /etc/ssh/ssh_host_ed25519_key.pub
`;

function recipeFile(name: string): string {
  return readFileSync(path.join(findRecipeDir(), name), 'utf8');
}

/** A YAML block scalar's lines. */
function block(text: string, spaces: number): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => (line === '' ? '' : `${' '.repeat(spaces)}${line}`))
    .join('\n');
}

/** A double-quoted YAML string: JSON's escaping is valid YAML. */
function quoted(text: string): string {
  return JSON.stringify(text);
}

/** The nft rules of the first boot step: the metadata address answers root only. */
const METADATA_BLOCK = [
  'nft delete table inet sandbox-metadata 2> /dev/null || true',
  'nft add table inet sandbox-metadata',
  `nft add chain inet sandbox-metadata output '{ type filter hook output priority 0; policy accept; }'`,
  `nft add rule inet sandbox-metadata output ip daddr ${METADATA_ADDRESS} meta skuid != 0 reject`,
].join(' && ');

export function dropletUserData(input: DropletUserDataInput): string {
  const { user } = input;
  const sudoers = input.sudo ? `${user} ALL=(ALL:ALL) NOPASSWD: ALL` : undefined;
  const lines = [
    '#cloud-config',
    // bootcmd runs in cloud-init's first module stage at every boot, before users and sshd exist.
    'bootcmd:',
    `  - [sh, -c, ${quoted(METADATA_BLOCK)}]`,
    ...(input.network?.bootcmd ?? []).map((command) => `  - [sh, -c, ${quoted(command)}]`),
    'users:',
    `  - name: ${user}`,
    '    shell: /bin/bash',
    '    lock_passwd: true',
    '    ssh_authorized_keys:',
    `      - ${quoted(input.authorizedKey.trim())}`,
    'ssh_pwauth: false',
    'disable_root: true',
  ];
  if (input.hostKey) {
    lines.push(
      'ssh_deletekeys: true',
      'ssh_genkeytypes: [ed25519]',
      'ssh_keys:',
      '  ed25519_private: |',
      block(input.hostKey.privateKey, 4),
      `  ed25519_public: ${quoted(input.hostKey.publicKey.trim())}`,
    );
  } else {
    // A restored snapshot keeps the key pinned for it; nothing may replace it.
    lines.push('ssh_deletekeys: false', 'ssh_genkeytypes: [ed25519]');
  }
  const files: UserDataFile[] = [
    { path: '/usr/local/sbin/install-packages', permissions: '0755', content: recipeFile('install-packages') },
    { path: '/etc/ssh/sshd_config.d/sandbox.conf', permissions: '0644', content: recipeFile('sshd-sandbox.conf') },
  ];
  if (input.hostKey) {
    files.push(
      { path: REKEY_COMMAND, permissions: '0755', content: REKEY_SCRIPT },
      { path: REKEY_SUDOERS, permissions: '0440', content: `${user} ALL=(root) NOPASSWD: ${REKEY_COMMAND}\n` },
    );
  }
  if (sudoers) files.push({ path: '/etc/sudoers.d/agent', permissions: '0440', content: `${sudoers}\n` });
  if (input.desktop !== undefined) files.push(...dropletDesktopFiles(user, input.desktop));
  files.push(...(input.network?.files ?? []));
  lines.push('write_files:');
  for (const file of files) {
    lines.push(`  - path: ${file.path}`, `    permissions: '${file.permissions}'`, '    owner: root:root', '    content: |', block(file.content, 6));
  }
  const workdir = input.workdir;
  lines.push(
    'runcmd:',
    // A restore's disk has its packages already (and may sit behind a firewall with no way out).
    ...(input.packages.length > 0 ? [`  - [install-packages, ${input.packages.join(', ')}]`] : []),
    `  - [install, -d, -o, ${user}, -g, ${user}, -m, '0755', ${quoted(workdir)}]`,
    // The docker group is root in all but name: only for a sandbox whose agent has sudo anyway.
    ...(input.sudo && input.packages.includes('docker') ? [`  - [sh, -c, ${quoted(`usermod -aG docker ${user} || true`)}]`] : []),
    ...(input.network?.runcmd ?? []).map((command) => `  - [sh, -c, ${quoted(command)}]`),
    ...(input.desktop !== undefined ? [`  - ${desktopRunCommand()}`] : []),
    '',
  );
  return lines.join('\n');
}
