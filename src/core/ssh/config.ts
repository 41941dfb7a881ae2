import { createHash } from 'node:crypto';
import { SandboxError } from '../errors';
import type { SshEndpoint } from '../model';
import { publicKeyBody } from './keys';

/** One Host block of our managed OpenSSH config. */
export interface SshHostEntry {
  /** What `ssh` is given: `sandbox-<name>`. */
  alias: string;
  endpoint: SshEndpoint;
  /** Under which name the pinned key is filed in our known_hosts; stable across port changes. */
  hostKeyAlias: string;
  /** A private key file; without one, the user's ssh-agent and default keys are used. */
  identityFile?: string;
  /** The SSH host this one is reached through (ProxyJump); it gets a block of its own. */
  jump?: SshHostEntry;
}

export const SSH_ALIAS_PREFIX = 'sandbox-';

export function sshAlias(name: string): string {
  return `${SSH_ALIAS_PREFIX}${name}`;
}

export function hostKeyAlias(id: string): string {
  return `agent-sandbox-${id}`;
}

/** The block of an SSH host that sandbox containers are reached through; never a sandbox name. */
export function jumpAlias(hostName: string): string {
  return `agent-sandboxes-host-${hostName}`;
}

/** Each jump host once, besides the sandboxes' own entries. */
/** What may stand unquoted in a config line we write. */
const SAFE_TOKEN = /^[A-Za-z0-9._@:-]+$/;

/** An entry whose names could change the meaning of our config (a newline, a pattern, a Match) is never written. */
export function isSafeEntry(entry: SshHostEntry): boolean {
  const { endpoint } = entry;
  const safe = [entry.alias, entry.hostKeyAlias, endpoint.host, endpoint.user].every((value) => SAFE_TOKEN.test(value));
  return safe && Number.isInteger(endpoint.port) && (!entry.jump || isSafeEntry(entry.jump));
}

function withJumps(entries: SshHostEntry[]): SshHostEntry[] {
  const all = new Map<string, SshHostEntry>();
  for (const entry of entries.filter(isSafeEntry)) {
    all.set(entry.alias, entry);
    if (entry.jump) all.set(entry.jump.alias, entry.jump);
  }
  return [...all.values()];
}

/** OpenSSH config values with spaces need double quotes; ours never contain a double quote. */
function configValue(value: string): string {
  const normalized = value.replace(/\\/g, '/');
  // OpenSSH expands % and a leading ~ in these values and has no escape for a double quote.
  if (/["%\n\r]/.test(normalized) || normalized.startsWith('~')) {
    throw new SandboxError(
      'invalid-input',
      `The path ${value} cannot be written into an SSH config (it holds ", % or a line break); move the state dir to a plainer path.`,
    );
  }
  return /[\s#]/.test(normalized) ? `"${normalized}"` : normalized;
}

/**
 * Our own config file, Included from the user's: one block per reachable sandbox. Every block
 * names our known_hosts, where the sandbox's key was pinned before it first started, and keeps
 * strict checking: a changed key is refused, never learnt.
 */
export function renderSshConfig(entries: SshHostEntry[], knownHostsFile: string, controlDir?: string): string {
  const lines = ['# Managed by Agent Sandboxes: rewritten as sandboxes come and go; edits here are lost.', ''];
  // A jump host is the user's own machine, reached as a ProxyJump child: no master of ours there.
  const jumps = new Set(entries.flatMap((entry) => (entry.jump ? [entry.jump.alias] : [])));
  for (const entry of withJumps(entries).sort((a, b) => a.alias.localeCompare(b.alias))) {
    lines.push(
      `Host ${entry.alias}`,
      `  HostName ${entry.endpoint.host}`,
      `  Port ${entry.endpoint.port}`,
      `  User ${entry.endpoint.user}`,
      ...(entry.identityFile ? [`  IdentityFile ${configValue(entry.identityFile)}`, '  IdentitiesOnly yes'] : []),
      `  HostKeyAlias ${entry.hostKeyAlias}`,
      ...(entry.jump ? [`  ProxyJump ${entry.jump.alias}`] : []),
      `  UserKnownHostsFile ${configValue(knownHostsFile)}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '  UpdateHostKeys no',
      ...(entry.endpoint.hostKey.startsWith('ssh-ed25519 ') ? ['  HostKeyAlgorithms ssh-ed25519'] : []),
      '  PreferredAuthentications publickey',
      '  PasswordAuthentication no',
      '  KbdInteractiveAuthentication no',
      '  ServerAliveInterval 15',
      '  ServerAliveCountMax 3',
      ...(jumps.has(entry.alias) || controlDir === undefined ? [] : multiplexingLines(controlDir, entry)),
      '',
    );
  }
  return lines.join('\n');
}

/**
 * Unix socket paths are cut at 104 bytes on some systems, and OpenSSH binds a name 17 characters
 * longer first (a random suffix) before it renames it: the folder, a slash, our 16 characters, a
 * dash and the user (room for 8 even when the block's is shorter, for `-o User=`) must fit.
 */
const SOCKET_PATH_LIMIT = 104 - 17;

/**
 * One connection per sandbox, reused by every `ssh` that follows (OpenSSH's multiplexing): the
 * second call skips the key exchange. The socket is named by a hash of the sandbox (its host key
 * alias), its address and port, then the user (%r): two sandboxes at one address behind
 * different jump hosts never share one, nor does another port or `-o User=root`. Windows' OpenSSH
 * has no multiplexing, and a socket path too long to bind would fail every call, so both go
 * without.
 */
export function multiplexingLines(
  controlDir: string,
  entry: Pick<SshHostEntry, 'hostKeyAlias' | 'endpoint'>,
  platform: NodeJS.Platform = process.platform,
): string[] {
  const dir = controlDir.replace(/\\/g, '/');
  const longest = dir.length + 1 + 16 + 1 + Math.max(entry.endpoint.user.length, 8);
  if (platform === 'win32' || longest > SOCKET_PATH_LIMIT || /[\s"%#]/.test(dir) || dir.startsWith('~')) return [];
  const { host, port } = entry.endpoint;
  const sandbox = createHash('sha256').update(`${entry.hostKeyAlias}\n${host}\n${port}`).digest('hex').slice(0, 16);
  return ['  ControlMaster auto', `  ControlPath ${dir}/${sandbox}-%r`, '  ControlPersist 10m'];
}

/** Our known_hosts: one pinned key per sandbox, under its HostKeyAlias. */
export function renderKnownHosts(entries: SshHostEntry[]): string {
  const lines = withJumps(entries)
    .sort((a, b) => a.hostKeyAlias.localeCompare(b.hostKeyAlias))
    .map((entry) => `${entry.hostKeyAlias} ${publicKeyBody(entry.endpoint.hostKey)}`);
  return lines.length ? `${lines.join('\n')}\n` : '';
}
