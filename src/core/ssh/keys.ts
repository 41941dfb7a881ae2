import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { utils } from 'ssh2';
import { SandboxError } from '../errors';

export interface KeyPair {
  /** OpenSSH private key format, unencrypted: it lives in a 0600 file or inside the sandbox only. */
  privateKey: string;
  /** One `ssh-ed25519 AAAA... comment` line. */
  publicKey: string;
}

/** An SSH wire-format string: uint32 length, then the bytes. */
function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** DER of an ed25519 key before its 32 bytes (RFC 8410): PKCS #8 for the seed, SPKI for the public key. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function lastBytes(der: Buffer, prefix: Buffer): Buffer {
  if (der.length !== prefix.length + 32 || !der.subarray(0, prefix.length).equals(prefix)) {
    throw new SandboxError('invalid-input', 'Node.js encoded an ed25519 key in an unexpected form; update Node.js, then try again.');
  }
  return der.subarray(prefix.length);
}

/**
 * An ed25519 key pair in OpenSSH's formats, from Node's own crypto. (ssh2's generator drops a
 * leading zero byte of the public key, about one key in 300, which OpenSSH then refuses.)
 */
export function generateEd25519(comment: string): KeyPair {
  // Encoded by the generator itself: exporting the key object as JWK right after can deadlock
  // Node.js 20 (a garbage collection during the export frees the generator's job, which locks
  // the key the export holds), which hung a process for good.
  const pair = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
    publicKeyEncoding: { type: 'spki', format: 'der' },
  });
  const seed = lastBytes(pair.privateKey, PKCS8_ED25519_PREFIX);
  const publicBytes = lastBytes(pair.publicKey, SPKI_ED25519_PREFIX);
  const publicBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(publicBytes)]);
  const check = randomBytes(4);
  let secret = Buffer.concat([
    check,
    check,
    sshString('ssh-ed25519'),
    sshString(publicBytes),
    sshString(Buffer.concat([seed, publicBytes])),
    sshString(comment),
  ]);
  // Padded 1, 2, 3... to the cipher's block size (8 for "none").
  const padding = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: padding }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    Buffer.from([0, 0, 0, 1]),
    sshString(publicBlob),
    sshString(secret),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g)!;
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${publicBlob.toString('base64')}${comment ? ` ${comment}` : ''}`,
  };
}

/** The key type and base64 blob of a public key line, without its comment. */
export function publicKeyBody(line: string): string {
  const [type, blob] = line.trim().split(/\s+/);
  if (!type || !blob) throw new SandboxError('invalid-input', `"${line.slice(0, 40)}" is not an SSH public key; give a line like "ssh-ed25519 AAAA...".`);
  return `${type} ${blob}`;
}

/** The raw key blob (what ssh2's hostVerifier receives) of a public key line. */
export function publicKeyBlob(line: string): Buffer {
  return Buffer.from(publicKeyBody(line).split(' ')[1]!, 'base64');
}

/** OpenSSH's own fingerprint format: SHA256:<unpadded base64>. */
export function fingerprint(lineOrBlob: string | Buffer): string {
  const blob = typeof lineOrBlob === 'string' ? publicKeyBlob(lineOrBlob) : lineOrBlob;
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** A public key line from a raw blob as a server presents it. */
export function publicKeyLine(blob: Buffer): string {
  const typeLength = blob.readUInt32BE(0);
  const type = blob.subarray(4, 4 + typeLength).toString('ascii');
  return `${type} ${blob.toString('base64')}`;
}

/** The public key line of an OpenSSH private key. */
export function publicKeyOf(privateKey: string, comment = ''): string {
  const parsed = utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) throw new SandboxError('invalid-input', 'The SSH private key could not be read; remove it so a new one is made.');
  return `${publicKeyLine(key.getPublicSSH())}${comment ? ` ${comment}` : ''}`;
}
