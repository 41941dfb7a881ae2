import { SandboxError } from '../errors';
import { loadCredentials } from '../hosts/credentials';
import type { ProviderKind, RunContext, SandboxRecord, SshEndpoint } from '../model';
import { lacksSsh, noNetworkError } from '../network/policy';
import { isCloudMachine } from '../providers/kinds';
import type { Provider } from '../providers/provider';
import { assertUsable } from '../sandboxState';
import { sshAlias } from '../ssh/config';
import { SshSession, targetFor, type SshSessionOptions, type SshTarget } from '../ssh/session';
import type { StateStore } from '../store/stateStore';
import type { SshConfigWriter } from './sshConfigWriter';

export interface SandboxConnectionsDeps {
  store: StateStore;
  provider(kind: ProviderKind): Provider;
  resolve(ref: string): Promise<SandboxRecord>;
  /** The record as its provider sees it now (a restart moves the SSH port). */
  status(ref: string): Promise<SandboxRecord>;
  sshConfig: SshConfigWriter;
  ssh: SshSessionOptions;
}

/** What `ssh` needs to log in: our config file and the sandbox's Host alias in it. */
export interface SshLoginTarget {
  alias: string;
  configFile: string;
  command: string[];
  record: SandboxRecord;
  /** A directory sandbox shares the host's login, so the login is to be landed in its folder. */
  run?: RunContext;
}

/** The SSH connections of this process: one per sandbox, and one per SSH host sandboxes are reached through. */
export class SandboxConnections {
  private readonly sessions = new Map<string, SshSession>();
  /** Connections to SSH hosts that sandbox containers there are reached through, by endpoint. */
  private readonly jumpSessions = new Map<string, SshSession>();

  constructor(private readonly deps: SandboxConnectionsDeps) {}

  /** The persistent SSH connection of a sandbox; it follows the sandbox to a new port after a restart. */
  async session(ref: string | SandboxRecord): Promise<SshSession> {
    const record = typeof ref === 'string' ? await this.deps.resolve(ref) : ref;
    if (lacksSsh(record, isCloudMachine)) throw noNetworkError(record.name);
    let session = this.sessions.get(record.id);
    if (!session) {
      session = new SshSession(
        async () => {
          const current = await this.deps.status(record.id);
          const endpoint = await this.sshEndpoint(current);
          const target = targetFor(current.name, endpoint, await this.credentials(endpoint, current.id));
          const jump = endpoint.jump;
          if (jump) {
            const through = this.jumpSession(jump);
            // Plain errors from the channel, so a sandbox sshd still starting is retried like a refused port.
            target.tunnel = async () => {
              const client = await through.connection();
              return new Promise((resolve, reject) =>
                client.forwardOut('127.0.0.1', 0, endpoint.host, endpoint.port, (error, channel) => (error ? reject(error) : resolve(channel))),
              );
            };
          }
          return target;
          // Our sandbox image's sshd allows 64 sessions; a host's own sshd usually 10.
        },
        { maxChannels: record.placement?.kind === 'directory' ? 8 : 48, ...this.deps.ssh },
      );
      this.sessions.set(record.id, session);
    }
    return session;
  }

  /** What logs in to an endpoint: the user's own key file or agent (an SSH host), else the sandbox's client key. */
  private async credentials(endpoint: SshEndpoint, sandboxId?: string): Promise<Pick<SshTarget, 'privateKey' | 'agent'>> {
    if (endpoint.identityFile || endpoint.agent) return loadCredentials(endpoint);
    return { privateKey: (await this.deps.store.clientKey(sandboxId!)).privateKey };
  }

  /** One connection per SSH host that sandbox containers are reached through. */
  private jumpSession(jump: NonNullable<SshEndpoint['jump']>): SshSession {
    const key = `${jump.user}@${jump.host}:${jump.port} ${jump.hostKey}`;
    let session = this.jumpSessions.get(key);
    if (!session) {
      session = new SshSession(async () => targetFor(`host ${jump.name}`, jump, await this.credentials(jump)), this.deps.ssh);
      this.jumpSessions.set(key, session);
    }
    return session;
  }

  /**
   * Where a sandbox's sshd answers and the key it must present. A sandbox made before keys were
   * pinned, or whose client key was lost here, is fixed up over the provider's own trusted
   * channel (the engine's API), never by believing what the SSH server says.
   */
  async sshEndpoint(record: SandboxRecord): Promise<SshEndpoint> {
    assertUsable(record, record.state === 'creating');
    if (lacksSsh(record, isCloudMachine)) throw noNetworkError(record.name);
    const provider = this.deps.provider(record.provider);
    let endpoint = record.ssh;
    if (!endpoint && record.ports['22'] && provider.readHostKey) {
      const hostKey = await provider.readHostKey(record.providerRef!);
      if (hostKey) endpoint = { host: '127.0.0.1', port: record.ports['22'], user: record.user, hostKey };
    }
    if (!endpoint) {
      throw new SandboxError(
        'wrong-state',
        `${record.name} cannot be reached over SSH (no SSH port or pinned key); restart it with \`sandbox stop ${record.name}\` and \`sandbox start ${record.name}\`.`,
      );
    }
    // A host's own login (a directory sandbox) needs no key of ours in the machine.
    if (endpoint.identityFile || endpoint.agent) return endpoint;
    const key = await this.deps.store.clientKey(record.id);
    if (key.created) {
      if (!provider.authorizeKey)
        throw new SandboxError('wrong-state', `The SSH key of ${record.name} is missing here and cannot be restored; recreate the sandbox.`);
      await provider.authorizeKey(record.providerRef!, key.publicKey);
    }
    return endpoint;
  }

  /** What `ssh` needs to log in: our config file and the sandbox's Host alias in it. */
  async sshTarget(ref: string): Promise<SshLoginTarget> {
    const record = await this.deps.status(ref);
    const endpoint = await this.sshEndpoint(record);
    // Hand out the command only once the sandbox's sshd answers (it starts with the sandbox).
    await (await this.session(record)).connection();
    await this.deps.sshConfig.refresh();
    const alias = sshAlias(record.name);
    const configFile = this.deps.store.sshConfigPath;
    return { alias, configFile, command: ['ssh', '-F', configFile, alias], record, run: endpoint.run };
  }

  /** Closes the connection of one sandbox (it stopped or went). */
  close(sandboxId: string): void {
    this.sessions.get(sandboxId)?.close();
    this.sessions.delete(sandboxId);
  }

  /** Closes every connection of this process. */
  dispose(): void {
    for (const session of this.sessions.values()) session.close();
    this.sessions.clear();
    for (const session of this.jumpSessions.values()) session.close();
    this.jumpSessions.clear();
  }
}
