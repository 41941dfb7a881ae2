import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SandboxError, isSandboxError } from '../errors';
import type { ExecRequest, ExecResult, SandboxRecord } from '../model';
import { writeFileAtomic } from '../store/files';

/**
 * What a user spec (`--user`) gives a command inside a sandbox: the kernel's ids, not the
 * spelling. `00`, `+0`, `agent:0` and `root` all say root to the engine in one way or another,
 * so a sandbox made without sudo is guarded by the ids its own passwd and group files give.
 */
export interface ExecIdentity {
  uid: number;
  gid: number;
  groups: number[];
  /** sudo runs for it without a password (a sudoers rule naming the user itself, say). */
  sudo?: boolean;
}

/** Run with exactly the user spec and channel of the command it vouches for. */
export const IDENTITY_PROBE = ['/bin/sh', '-c', 'id -u; id -g; id -G'];

/**
 * The same, also asking sudo itself, which knows rules naming a user (or an alias) that no
 * group check sees. Not on a host's own account: a refused sudo there may be reported to its admins.
 */
const IDENTITY_AND_SUDO_PROBE = [
  '/bin/sh',
  '-c',
  'id -u; id -g; id -G; if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then echo sudo; fi',
];

/**
 * Run as root: the group file, then the sudoers files. Bounded, since whatever the sandbox
 * holds there is read by us.
 */
const SUDO_GROUPS_PROBE = [
  '/bin/sh',
  '-c',
  'head -c 262144 /etc/group; echo; echo "--- sudoers"; cat /etc/sudoers /etc/sudoers.d/* 2>/dev/null | head -c 262144',
];

/** Groups that give sudo on common distributions even where no sudoers file is readable. */
const SUDO_GROUP_NAMES = ['sudo', 'admin', 'wheel'];

/** Parses the probe's three lines; undefined when they are not what `id` prints. */
export function parseIdentity(stdout: string): ExecIdentity | undefined {
  const lines = stdout.split('\n');
  if (lines.length < 3) return undefined;
  const number = (text: string) => (/^\d{1,10}$/.test(text) ? Number(text) : undefined);
  const uid = number(lines[0]!.trim());
  const gid = number(lines[1]!.trim());
  const groups = lines[2]!.trim().split(/\s+/).filter(Boolean).map(number);
  if (uid === undefined || gid === undefined || groups.some((group) => group === undefined)) return undefined;
  return { uid, gid, groups: groups as number[], ...(lines[3]?.trim() === 'sudo' ? { sudo: true } : {}) };
}

/** Gids of the groups that grant sudo: the usual names, and every `%group` or `%#gid` the sudoers files name. */
export function parseSudoGroups(output: string): Set<number> {
  const [groupFile = '', sudoers = ''] = output.split('\n--- sudoers\n');
  const byName = new Map<string, number>();
  for (const line of groupFile.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name && gid && /^\d{1,10}$/.test(gid) && !byName.has(name)) byName.set(name, Number(gid));
  }
  const gids = new Set<number>();
  for (const name of SUDO_GROUP_NAMES) {
    const gid = byName.get(name);
    if (gid !== undefined) gids.add(gid);
  }
  for (const raw of sudoers.split('\n')) {
    const line = raw.replace(/^\s*#(?!include).*$/, '');
    // %name, %#gid, %:nonunix and %:#gid (group names may be quoted or escaped: take the plain part)
    for (const match of line.matchAll(/%:?(#?)"?([A-Za-z0-9_.\-\\]+)/g)) {
      const token = match[2]!.replace(/\\/g, '');
      if (match[1] === '#') {
        if (/^\d{1,10}$/.test(token)) gids.add(Number(token));
      } else {
        const gid = byName.get(token);
        if (gid !== undefined) gids.add(gid);
      }
    }
  }
  return gids;
}

/** Why an identity may not run on a sandbox without sudo, or undefined when it may. */
export function forbiddenReason(identity: ExecIdentity, sudoGroups: Set<number>): string | undefined {
  if (identity.uid === 0) return 'is root (uid 0)';
  if (identity.sudo) return 'may run sudo without a password';
  const all = [identity.gid, ...identity.groups];
  if (all.includes(0)) return "has root's group (gid 0)";
  const sudo = all.find((gid) => sudoGroups.has(gid));
  if (sudo !== undefined) return `is in a group that grants sudo (gid ${sudo})`;
  return undefined;
}

export interface IdentityChannels {
  /** Runs a request through the very channel the command will take, as the given user. */
  probe(request: ExecRequest): Promise<ExecResult>;
  /** Runs a request as root through the provider's own channel; absent where there is none (a host's own account). */
  asRoot?(request: ExecRequest): Promise<ExecResult>;
}

interface CacheFile {
  providerRef: string;
  allowed: Record<string, ExecIdentity>;
}

/**
 * Checks the user of every command on a sandbox made without sudo. Answers are kept per
 * sandbox, channel and spec in this process, and the allowed ones in the state dir (for the
 * next CLI process): without root, nothing in the sandbox can change what a spec resolves to.
 */
export class ExecIdentityCheck {
  private readonly pending = new Map<string, Promise<void>>();
  private readonly sudoGroups = new Map<string, Promise<Set<number>>>();

  constructor(private readonly cacheDir: string) {}

  /** Throws invalid-input when `user` would run with root's or sudo's rights on this sandbox. */
  assertAllowed(record: SandboxRecord, user: string, channel: string, channels: IdentityChannels): Promise<void> {
    const key = `${record.id}\0${record.providerRef}\0${channel}\0${user}`;
    let check = this.pending.get(key);
    if (!check) {
      check = this.check(record, user, channel, channels);
      this.pending.set(key, check);
      // A refusal or an error is asked again next time; an allowed spec stays allowed.
      check.catch(() => this.pending.delete(key));
    }
    return check;
  }

  private async check(record: SandboxRecord, user: string, channel: string, channels: IdentityChannels): Promise<void> {
    const cacheKey = `${channel}\0${user}`;
    const cached = await this.readCache(record);
    if (cached?.allowed[cacheKey]) return;
    let result: ExecResult;
    try {
      result = await channels.probe({ command: channels.asRoot ? IDENTITY_AND_SUDO_PROBE : IDENTITY_PROBE, user, cwd: '/', timeoutMs: 20_000 });
    } catch (error) {
      // No such user, no sudo for it: the command could not run either, and says why.
      if (isSandboxError(error)) throw error;
      throw new SandboxError('provider-error', `Could not check which user ${JSON.stringify(user)} is in ${record.name}; try again.`, { cause: error });
    }
    const identity = result.exitCode === 0 ? parseIdentity(result.stdout) : undefined;
    if (!identity) {
      throw new SandboxError(
        'provider-error',
        `Could not tell which ids the user ${JSON.stringify(user)} has in ${record.name}, so the command was not run; run it as ${record.user}.`,
      );
    }
    const sudoGroups = await this.sudoGroupsOf(record, channels);
    const reason = forbiddenReason(identity, sudoGroups);
    if (reason) {
      throw new SandboxError(
        'invalid-input',
        `The sandbox ${record.name} was made without sudo, so commands cannot run with root's or sudo's rights there, and the user ${JSON.stringify(user)} ${reason}; run them as ${record.user}.`,
      );
    }
    await this.writeCache(record, cacheKey, identity).catch(() => undefined);
  }

  private sudoGroupsOf(record: SandboxRecord, channels: IdentityChannels): Promise<Set<number>> {
    const key = `${record.id}\0${record.providerRef}`;
    let groups = this.sudoGroups.get(key);
    if (!groups) {
      groups = (async () => {
        if (!channels.asRoot) return new Set<number>();
        const result = await channels.asRoot({ command: SUDO_GROUPS_PROBE, user: '0', cwd: '/', timeoutMs: 20_000, maxOutputBytes: 600_000 });
        if (result.exitCode !== 0)
          throw new SandboxError('provider-error', `Could not read the groups of ${record.name}, so the command was not run; try again.`);
        return parseSudoGroups(result.stdout);
      })();
      this.sudoGroups.set(key, groups);
      groups.catch(() => this.sudoGroups.delete(key));
    }
    return groups;
  }

  private cacheFile(record: SandboxRecord): string {
    return path.join(this.cacheDir, `${record.id}.json`);
  }

  private async readCache(record: SandboxRecord): Promise<CacheFile | undefined> {
    try {
      const parsed = JSON.parse(await fs.readFile(this.cacheFile(record), 'utf8')) as CacheFile;
      return parsed.providerRef === record.providerRef && parsed.allowed && typeof parsed.allowed === 'object' ? parsed : undefined;
    } catch {
      return undefined;
    }
  }

  private async writeCache(record: SandboxRecord, cacheKey: string, identity: ExecIdentity): Promise<void> {
    const current = (await this.readCache(record)) ?? { providerRef: record.providerRef!, allowed: {} };
    current.allowed[cacheKey] = identity;
    await writeFileAtomic(this.cacheFile(record), JSON.stringify(current), 0o600);
  }

  /** Forgets a removed sandbox. */
  async forget(sandboxId: string): Promise<void> {
    await fs.rm(path.join(this.cacheDir, `${sandboxId}.json`), { force: true });
  }
}
