import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SandboxError } from '../errors';
import type { SshEndpoint } from '../model';
import { validateName } from '../profile';
import { readJsonFile, writeFileAtomic } from '../store/files';

/** A machine the user brought: where it is, how we log in, and the host key pinned at `host add`. */
export interface SshHost {
  name: string;
  host: string;
  port: number;
  user: string;
  /** An absolute path to the user's private key; never copied, read at each connect. */
  identityFile?: string;
  /** Log in with the user's ssh-agent ($SSH_AUTH_SOCK at connect time). */
  agent?: boolean;
  /** The key the host presented at `host add` and the user confirmed (`type base64`). */
  hostKey: string;
  fingerprint: string;
  /** `docker version` answered for this user there: sandboxes on it are containers. */
  docker: boolean;
  /** The user's home there; directory sandboxes live under it. */
  home: string;
  addedAt: string;
}

/** The SSH endpoint of the host itself. */
export function hostEndpoint(host: SshHost): SshEndpoint {
  return {
    host: host.host,
    port: host.port,
    user: host.user,
    hostKey: host.hostKey,
    ...(host.identityFile ? { identityFile: host.identityFile } : { agent: true }),
  };
}

/** `hosts/<name>.json` in the state dir, one file per host, mode 0600. */
export class HostRegistry {
  constructor(readonly stateDir: string) {}

  get dir(): string {
    return path.join(this.stateDir, 'hosts');
  }

  private file(name: string): string {
    validateName(name);
    return path.join(this.dir, `${name}.json`);
  }

  async list(): Promise<SshHost[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const hosts = await Promise.all(names.filter((name) => name.endsWith('.json')).map((name) => this.find(name.slice(0, -'.json'.length))));
    return hosts.filter((host): host is SshHost => host !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  async find(name: string): Promise<SshHost | undefined> {
    try {
      return await readJsonFile<SshHost>(this.file(name));
    } catch (error) {
      if (error instanceof SyntaxError) {
        // An add in progress in another process: the name is taken, the content not written yet.
        if ((await fs.stat(this.file(name))).size === 0) return undefined;
        throw new SandboxError(
          'provider-error',
          `The record of host ${name} (${this.file(name)}) is damaged; remove it with \`sandbox host rm ${name}\` and add the host again.`,
        );
      }
      throw error;
    }
  }

  async get(name: string): Promise<SshHost> {
    const host = await this.find(name);
    if (!host)
      throw new SandboxError(
        'not-found',
        `No SSH host is called ${name}; add it with \`sandbox host add ${name} --host ADDRESS --user USER\` (see \`sandbox host list\`).`,
      );
    return host;
  }

  /** Adds a host; refuses a name already taken, so a pinned key is never silently replaced. */
  async add(host: SshHost): Promise<void> {
    const file = this.file(host.name);
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    // 'wx' first, so two adds of one name cannot both win; the content then goes in atomically.
    try {
      await fs.writeFile(file, '', { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new SandboxError('conflict', `A host named ${host.name} is already added; pick another name or remove it with \`sandbox host rm ${host.name}\`.`);
      }
      throw error;
    }
    try {
      await writeFileAtomic(file, JSON.stringify(host, null, 2) + '\n', 0o600);
    } catch (error) {
      await fs.rm(file, { force: true });
      throw error;
    }
  }

  async remove(name: string): Promise<void> {
    await fs.rm(this.file(name), { force: true });
  }
}

/** Host names and user names go into our OpenSSH config: nothing there may break a line or start an option. */
export function validateAddress(host: string): void {
  if (!/^[A-Za-z0-9_.:%[\]-]+$/.test(host) || host.startsWith('-')) {
    throw new SandboxError('invalid-input', `"${host}" is not a host name or IP address; give one like 192.0.2.10 or build.example.com.`);
  }
}

export function validateUser(user: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(user)) {
    throw new SandboxError('invalid-input', `"${user}" is not a user name; give the login name on the host, like ubuntu.`);
  }
}

export function validatePort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SandboxError('invalid-input', `${port} is not a port; give a number from 1 to 65535.`);
  }
}
