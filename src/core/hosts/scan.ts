import { Client } from 'ssh2';
import { SandboxError, describeError } from '../errors';
import { fingerprint, publicKeyLine } from '../ssh/keys';

export interface PresentedKey {
  /** `type base64`, as a known_hosts line has it. */
  hostKey: string;
  /** SHA256:..., as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** ED25519, ECDSA, RSA: as OpenSSH names the type in its prompt. */
  type: string;
}

/**
 * Learns the host key a server presents, and nothing more: the connection is dropped at the key
 * exchange, before any user name or key is sent, so a server not yet trusted learns nothing of us.
 */
export function scanHostKey(host: string, port: number, timeoutMs = 10_000): Promise<PresentedKey> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let presented: Buffer | undefined;
    const finish = (error?: Error) => {
      client.removeAllListeners('ready');
      client.on('error', () => undefined); // late errors of a connection given up on
      client.end();
      if (presented) {
        const line = publicKeyLine(presented);
        resolve({ hostKey: line, fingerprint: fingerprint(presented), type: keyTypeName(line) });
      } else {
        reject(
          new SandboxError(
            'connection-failed',
            `Could not reach ${host}:${port} over SSH (${describeError(error)}); check the address and port, and that sshd runs there.`,
            { cause: error },
          ),
        );
      }
    };
    client.once('error', (error) => finish(error));
    client.once('ready', () => finish(new Error('the server let us in without checking')));
    client.connect({
      host,
      port,
      username: 'host-key-scan',
      readyTimeout: timeoutMs,
      hostVerifier: (key: Buffer) => {
        presented = key;
        return false; // refuse: nothing past the key exchange
      },
    });
  });
}

function keyTypeName(line: string): string {
  const type = line.split(' ')[0]!;
  if (type === 'ssh-ed25519') return 'ED25519';
  if (type.startsWith('ecdsa-')) return 'ECDSA';
  if (type === 'ssh-rsa') return 'RSA';
  return type;
}

/** Whether a fingerprint the user typed names the presented key (the trailing `=` of base64 is optional). */
export function fingerprintMatches(given: string, presented: string): boolean {
  const normalize = (value: string) => value.trim().replace(/=+$/, '');
  return normalize(given) === normalize(presented);
}
