/**
 * SSH sources as a person types them (the CLI's arguments, VS Code's setting): CIDR blocks, or
 * the word anywhere. Light on purpose: the extension's first bundle checks the setting with it.
 */
import { isIP } from 'node:net';
import { SandboxError } from '../../errors';

/** Every IPv4 and IPv6 source: what "anywhere" means (the firewall's default too). */
export const ANYWHERE = ['0.0.0.0/0', '::/0'];

/** One CIDR block (an address alone is its own block), in the form DigitalOcean echoes back. */
export function parseSshSource(text: string): string {
  const [address = '', bits, extra] = text.trim().split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
    throw new SandboxError('invalid-input', `"${text}" is not an address block for SSH; write one like 203.0.113.0/24 or 2001:db8::/32, or "anywhere".`);
  }
  return `${family === 4 ? networkOf(address, prefix) : address.toLowerCase()}/${prefix}`;
}

/** An IPv4 block's own address (203.0.113.0 for 203.0.113.7/24): the form a firewall keeps. */
function networkOf(address: string, prefix: number): string {
  const value = address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0);
  const size = 2 ** (32 - prefix);
  const start = Math.floor(value / size) * size;
  return [24, 16, 8, 0].map((shift) => Math.floor(start / 2 ** shift) % 256).join('.');
}

/** What `ssh-source` and the setting take: CIDR blocks, or the word anywhere (every IPv4 and IPv6 source). */
export function parseSshSources(values: readonly string[]): string[] {
  const parts = values.flatMap((value) => value.split(/[\s,]+/)).filter((part) => part !== '');
  if (parts.length === 0) throw new SandboxError('invalid-input', 'Give at least one address block for SSH, like 203.0.113.0/24, or "anywhere".');
  if (parts.some((part) => part.toLowerCase() === 'anywhere')) {
    if (parts.length > 1) throw new SandboxError('invalid-input', '"anywhere" already admits every source; give it alone, or address blocks only.');
    return [...ANYWHERE];
  }
  return [...new Set(parts.map(parseSshSource))];
}
