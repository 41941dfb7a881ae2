/** Keys and cloud-config user data of the form the product's create sends, for tests of stand-in droplets. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
export const METADATA_ADDRESS = '169.254.169.254';

export interface KeyPair {
  privatePath: string;
  privateKey: string;
  publicKey: string;
}

/** A new ed25519 key pair in `dir`, made by ssh-keygen. */
export async function keyPair(dir: string, name: string): Promise<KeyPair> {
  const privatePath = path.join(dir, name);
  await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', privatePath]);
  return { privatePath, privateKey: readFileSync(privatePath, 'utf8'), publicKey: readFileSync(`${privatePath}.pub`, 'utf8').trim() };
}

/** A known_hosts line pinning `host`'s key for `address`. */
export function knownHostsLine(address: string, host: { publicKey: string }): string {
  return `${address} ${host.publicKey.split(' ').slice(0, 2).join(' ')}\n`;
}

function indent(text: string, spaces: number): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => `${' '.repeat(spaces)}${line}`)
    .join('\n');
}

/**
 * Cloud-config as a create sends it: the agent user with its key, the pinned host key, no
 * passwords, no root, metadata blocked first; `runcmd` commands (argument lists) run at the end
 * of the first boot.
 */
export function cloudConfig(clientPublicKey: string, host: { privateKey: string; publicKey: string }, runcmd: string[][] = []): string {
  return [
    '#cloud-config',
    'users:',
    '  - name: agent',
    '    shell: /bin/bash',
    '    lock_passwd: true',
    '    ssh_authorized_keys:',
    `      - ${clientPublicKey}`,
    'ssh_pwauth: false',
    'disable_root: true',
    'ssh_deletekeys: true',
    // Only the key given below: nothing else is generated that a client could be offered.
    'ssh_genkeytypes: [ed25519]',
    'ssh_keys:',
    '  ed25519_private: |',
    indent(host.privateKey, 4),
    `  ed25519_public: ${host.publicKey}`,
    // bootcmd runs in cloud-init's first module stage and at every boot, before users and sshd.
    'bootcmd:',
    `  - [sh, -c, 'nft add table inet metadata && nft add chain inet metadata output "{ type filter hook output priority 0; policy accept; }" && nft add rule inet metadata output ip daddr ${METADATA_ADDRESS} meta skuid != 0 reject']`,
    ...(runcmd.length > 0 ? ['runcmd:', ...runcmd.map((command) => `  - ${JSON.stringify(command)}`)] : []),
    '',
  ].join('\n');
}
