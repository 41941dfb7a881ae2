import { createHash } from 'node:crypto';
import { utils } from 'ssh2';
import { SandboxError } from '../errors';

export interface KeyPair {
  /** OpenSSH private key format, unencrypted: it lives in a 0600 file or inside the sandbox only. */
  privateKey: string;
  /** One `ssh-ed25519 AAAA... comment` line. */
  publicKey: string;
}

export function generateEd25519(comment: string): KeyPair {
  const pair = utils.generateKeyPairSync('ed25519', { comment });
  return { privateKey: pair.private, publicKey: pair.public.trim() };
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
